#!/usr/bin/env node
/**
 * `node --import tsx src/cli/report.ts [--write]`: renders the measured results in models/
 * (cross-validation fold files and summaries, shipped model metadata) as Markdown, and with
 * `--write` replaces the block between `<!-- results:start -->` and `<!-- results:end -->` in
 * models/README.md. Numbers are never typed by hand into the model card.
 */
import * as fs from 'fs';
import * as path from 'path';
import { SoupRecord, SoupSummary, writeCvSummary } from './train';
import { CliSpec, parseCli, runMain } from './args';

const ROOT = path.resolve(__dirname, '..', '..', ...(__dirname.includes(`${path.sep}dist${path.sep}`) ? ['..'] : []));
const MODELS = path.join(ROOT, 'models');

const pct = (x: number) => `${(x * 100).toFixed(2)} %`;

/** Mean-accuracy targets of issue 3 per CV run. */
const TARGETS: Record<string, number> = { 'ck48-nano-a': 0.97, 'ck48-nano-b': 0.96, 'peak_neutral48-nano-a': 0.93, 'peak_neutral48-nano-b': 0.93 };

interface Fold {
  fold: number;
  accuracy: number;
  macroF1: number;
  testImages: number;
  testSubjects: string[];
  trainImages: number;
  classes: string[];
  confusion: number[][];
  trainSeconds: number;
  history: Array<{ epoch: number; loss: number; accuracy: number }>;
  config: { epochs: number; batchSize: number };
  /** Flip test-time augmentation of the same fold model (records since the option existed). */
  tta?: { flip?: { accuracy: number; macroF1: number } };
  /** `--soup K` runs: the fold's metrics are the soup's; these are each seed's own. */
  soup?: SoupRecord;
}

function confusionTable(classes: string[], m: number[][]): string {
  const head = `| true \\ predicted | ${classes.join(' | ')} | recall |`;
  const sep = `|---|${classes.map(() => '---:').join('|')}|---:|`;
  const rows = classes.map((c, i) => {
    const n = m[i].reduce((a, b) => a + b, 0);
    return `| **${c}** | ${m[i].join(' | ')} | ${n ? pct(m[i][i] / n) : '–'} |`;
  });
  return [head, sep, ...rows].join('\n');
}

/** The results block from `models` (default: the package's models/ directory). */
export function renderResults(models = MODELS): string {
  const out: string[] = [];
  const cvDir = path.join(models, 'cv');
  const runs = fs.existsSync(cvDir) ? fs.readdirSync(cvDir).filter((d) => fs.statSync(path.join(cvDir, d)).isDirectory()).sort() : [];
  out.push('### Cross-validation (subject-independent, 10 folds)\n');
  if (runs.length === 0) out.push('_No cross-validation results yet._\n');
  for (const run of runs) {
    const dir = path.join(cvDir, run);
    writeCvSummary(dir, 10);
    const sumFile = path.join(dir, 'summary.json');
    if (!fs.existsSync(sumFile)) continue;
    const s = JSON.parse(fs.readFileSync(sumFile, 'utf8'));
    const folds: Fold[] = fs
      .readdirSync(dir)
      .filter((f) => /^fold-\d+\.json$/.test(f))
      .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Fold)
      .sort((a, b) => a.fold - b.fold);
    out.push(`#### ${run}: ${s.complete ? 'complete' : `**partial: ${folds.length} of 10 folds**`}\n`);
    const target = TARGETS[run];
    if (target !== undefined) {
      const gap = (s.meanAccuracy - target) * 100;
      out.push(`Target (issue 3): mean ≥ ${pct(target)}: **${gap >= 0 ? 'met' : `missed by ${(-gap).toFixed(1)} points`}**${s.complete ? '' : ' (on the folds done so far)'}.\n`);
    }
    out.push(
      `Mean accuracy over ${folds.length} fold${folds.length === 1 ? '' : 's'}: **${pct(s.meanAccuracy)} ± ${pct(s.stdAccuracy)}** (sample std); ` +
        `pooled accuracy ${pct(s.pooled.accuracy)}, pooled macro-F1 ${s.pooled.macroF1.toFixed(3)}.\n`,
    );
    if (s.tta?.flip) {
      const t = s.tta.flip;
      out.push(
        `With mirror averaging (flip test-time augmentation, the same fold models): mean **${pct(t.meanAccuracy)} ± ${pct(t.stdAccuracy)}**; ` +
          `pooled accuracy ${pct(t.pooled.accuracy)}, pooled macro-F1 ${t.pooled.macroF1.toFixed(3)} (${t.meanAccuracy >= s.meanAccuracy ? '+' : '−'}${Math.abs((t.meanAccuracy - s.meanAccuracy) * 100).toFixed(2)} points on the mean).\n`,
      );
    }
    if (s.soup) out.push(soupSentence(s.soup, s.meanAccuracy));
    const withTta = folds.some((f) => f.tta?.flip);
    const withSoup = folds.some((f) => f.soup);
    out.push(
      `| fold | test subjects | test images | train images | accuracy | ${withTta ? 'accuracy, flip TTA | ' : ''}${withSoup ? 'single seeds | ' : ''}macro-F1 | last-epoch train loss / acc (augmented${withSoup ? ', mean of the seeds' : ''}) | epochs | minutes |`,
    );
    out.push(`|---:|---:|---:|---:|---:|${withTta ? '---:|' : ''}${withSoup ? '---|' : ''}---:|---|---:|---:|`);
    for (const f of folds) {
      const h = f.history.at(-1);
      const tta = withTta ? ` ${f.tta?.flip ? pct(f.tta.flip.accuracy) : '–'} |` : '';
      const seeds = withSoup ? ` ${f.soup ? f.soup.members.map((m) => (m.accuracy * 100).toFixed(2)).join(' / ') : '–'} |` : '';
      out.push(
        `| ${f.fold} | ${f.testSubjects.length} | ${f.testImages} | ${f.trainImages} | ${pct(f.accuracy)} |${tta}${seeds} ${f.macroF1.toFixed(3)} | ${h ? `${h.loss.toFixed(3)} / ${pct(h.accuracy)}` : '–'} | ${f.config.epochs} | ${(f.trainSeconds / 60).toFixed(1)} |`,
      );
    }
    out.push('');
    out.push(`Pooled confusion matrix (all test images of the completed folds; rows = true class):\n`);
    out.push(confusionTable(s.pooled.classes, s.pooled.confusion));
    out.push('');
  }
  out.push(renderExperiments(models));
  out.push('### Shipped weights\n');
  out.push('| model | classes | trained on | started from | images | epochs | last-epoch train loss / acc (augmented) | minutes | backend |');
  out.push('|---|---|---|---|---:|---:|---|---:|---|');
  for (const name of ['nano-a', 'nano-b', 'nano-a-8', 'nano-b-8']) {
    const f = path.join(models, name, 'model.json');
    if (!fs.existsSync(f)) {
      out.push(`| ${name} | – | **not trained yet** | | | | | | |`);
      continue;
    }
    const j = JSON.parse(fs.readFileSync(f, 'utf8'));
    const t = j.training ?? {};
    const h = t.history?.at(-1);
    out.push(
      `| ${name} | ${j.classes.length} | ${t.dataset ?? '?'} | ${t.config?.pretrained ?? 'random init'} | ${t.images ?? '?'} | ${t.config?.epochs ?? '?'} | ${h ? `${h.loss.toFixed(3)} / ${pct(h.accuracy)}` : '–'} | ${t.trainSeconds ? (t.trainSeconds / 60).toFixed(1) : '?'} | ${t.backend ?? '?'} |`,
    );
  }
  out.push('');
  return out.join('\n');
}

/** The model-card line of a soup CV run (`soupMean`: the soup's CV mean): what the soup is and the seed-to-seed spread of the CV figure. */
export function soupSentence(s: SoupSummary, soupMean: number): string {
  const c = s.singleSeedCv;
  const p2 = (x: number) => (x * 100).toFixed(2);
  const gain = (soupMean - c.mean) * 100;
  return (
    `Soup of ${s.k} seeds (${s.seeds.join(', ')}: the uniform average of their weights, one model, is what is evaluated above); ` +
    `single seeds: CV means ${s.members.map((m) => p2(m.meanAccuracy)).join(' / ')} % ` +
    `(spread ${p2(c.max - c.min)} points, std ${p2(c.std)}; their mean ${p2(c.mean)} %, the soup ${gain >= 0 ? '+' : '−'}${Math.abs(gain).toFixed(2)} points).\n`
  );
}

/**
 * Every CV run, shipped recipe and experiments side by side, per fold: what changed (init,
 * epochs, LR, architecture) and what it did, on the same subject-independent folds.
 */
export function renderExperiments(models = MODELS): string {
  const rows: string[] = [];
  for (const [kind, base] of [['recipe', 'cv'], ['experiment', 'cv-experiments']] as const) {
    const dir = path.join(models, base);
    if (!fs.existsSync(dir)) continue;
    for (const run of fs.readdirSync(dir).sort()) {
      const d = path.join(dir, run);
      if (!fs.statSync(d).isDirectory()) continue;
      const folds = fs
        .readdirSync(d)
        .filter((f) => /^fold-\d+\.json$/.test(f))
        .map((f) => JSON.parse(fs.readFileSync(path.join(d, f), 'utf8')))
        .sort((a, b) => a.fold - b.fold);
      if (folds.length === 0) continue;
      const c = folds[0].config ?? {};
      const mean = folds.reduce((a, f) => a + f.accuracy, 0) / folds.length;
      const arch = `${c.variant ?? '?'}${c.spec === undefined && folds[0].macs ? ` (${(folds[0].macs / 1e6).toFixed(1)} M MACs)` : ''}`;
      rows.push(
        `| ${base}/${run} | ${kind}${folds[0].soup ? `, soup of ${folds[0].soup.k} seeds` : ''} | ${arch} | ${c.pretrained ?? 'none (random)'} | ${c.epochs ?? '?'} | ${c.lr ?? '?'} | ${folds.map((f) => `${f.fold}: ${(f.accuracy * 100).toFixed(1)}`).join(', ')} | ${pct(mean)} (${folds.length} folds) |`,
      );
    }
  }
  if (rows.length === 0) return '';
  return [
    '### All runs on the same folds (recipe and experiments)\n',
    'Same subject-independent folds (seed 1) everywhere; every fold reports its model after the last epoch. `pretrained` names the training-form snapshot the run was fine-tuned from (`pre-e9` is the same weights as `checkpoints/pretrained/nano-b-fer-e9`, the FER+ run at epoch 9; `pre-e15` the same run at epoch 15; `nano-b-fer-e16` at epoch 16).\n',
    '| run | kind | architecture | pretrained | epochs | LR | accuracy per fold (%) | mean |',
    '|---|---|---|---|---:|---:|---|---:|',
    ...rows,
    '',
  ].join('\n');
}

/** Speed table from `models/bench-classify.json` (saved `npm run bench -- --json --only classify`). */
export function renderSpeed(models = MODELS): string {
  const f = path.join(models, 'bench-classify.json');
  if (!fs.existsSync(f)) return '_Not measured yet: run `npm run bench -- --json --only classify > models/bench-classify.json`._\n';
  const j = JSON.parse(fs.readFileSync(f, 'utf8'));
  const c = j.classify;
  const m = j.machine ?? {};
  const out: string[] = [];
  out.push(
    `Measured by the classify stage of \`npm run bench -- --json\` (alone: \`--only classify\`) on ${m.cpuModel ?? '?'} (${m.cpus ?? '?'} cores, Node ${m.node ?? '?'}), ${m.date ?? ''}: ` +
      `tfjs ${c.backend} backend, one thread, through \`load()\`/\`classify()\` (input packing, softmax and reading the result included). ` +
      `Load average during the run: ${(c.load ?? []).join(' / ')} → ${(c.loadAfter ?? []).join(' / ')} (the machine is shared; busy runs are slower).\n`,
  );
  out.push('| model | faces/s at batch 16 | one face, ms | MACs | GFLOP/s | fraction of dense 3x3 conv | weights | target |');
  out.push('|---|---:|---:|---:|---:|---:|---|---|');
  const targets: Record<string, [number, number]> = { 'nano-a': [250, 4], 'nano-b': [400, 2.5] };
  for (const v of ['nano-a', 'nano-b']) {
    const r = c[v];
    if (!r) continue;
    const [fps, ms] = targets[v];
    const met = r.facesPerSec >= fps && r.singleMs <= ms;
    out.push(
      `| ${v} | ${r.facesPerSec} | ${r.singleMs} | ${(r.macs / 1e6).toFixed(1)} M | ${r.gflops} | ${r.fractionOfDenseConv} | ${r.weights} | ≥ ${fps}/s, ≤ ${ms} ms: **${met ? 'met' : 'missed'}** |`,
    );
  }
  for (const v of ['nano-a', 'nano-b']) {
    // Mirror averaging (load({ tta: 'flip' })): two forward passes per face, in one batch.
    const r = c[`${v}-tta-flip`];
    if (!r) continue;
    out.push(
      `| ${v}, mirror averaging (\`tta: 'flip'\`) | ${r.facesPerSec} | ${r.singleMs} | 2 × ${(r.macs / 1e6).toFixed(1)} M | ${r.gflops} | ${r.fractionOfDenseConv} | ${r.weights} | ${r.costVsPlain ? `${r.costVsPlain}x the plain cost at batch 16` : '–'} |`,
    );
  }
  out.push('');
  out.push(`Dense 3x3 convolution (64→64 channels, 24x24, batch 16) on the same backend in the same run: **${c.denseConv3x3Gflops} GFLOP/s**.`);
  // Backend data buffers: where the direct executor keeps its intermediates (it creates no engine
  // tensor, so numTensors cannot see it leak). Runs saved before the bench counted them say so.
  type Leak = { classifications: number; tensorsBefore: number; tensorsAfter: number; buffersBefore?: number; buffersAfter?: number; ok: boolean };
  const leak = (l: Leak, label: string, counter: string) => {
    const counted = typeof l.buffersBefore === 'number';
    const buffers = counted ? `, backend data buffers ${l.buffersBefore} before and ${l.buffersAfter} after` : '';
    const verdict = !l.ok ? '**LEAK**' : counted ? 'no leak' : 'no tensor leak; backend data buffers not counted';
    return `${label}: ${l.classifications} classifications, ${counter} ${l.tensorsBefore} before and ${l.tensorsAfter} after${buffers} (${verdict}).`;
  };
  if (c.leakCheck) out.push(leak(c.leakCheck, 'Leak check', '`tf.memory().numTensors`'));
  if (c.leakCheckTtaFlip) out.push(leak(c.leakCheckTtaFlip, 'Leak check with mirror averaging', '`numTensors`'));
  out.push('');
  return out.join('\n');
}

function replaceBlock(text: string, name: string, body: string): string {
  const a = text.indexOf(`<!-- ${name}:start -->`);
  const b = text.indexOf(`<!-- ${name}:end -->`);
  if (a < 0 || b < a) throw new Error(`models/README.md has no <!-- ${name}:start --> … <!-- ${name}:end --> block`);
  return `${text.slice(0, a)}<!-- ${name}:start -->\n${body}\n${text.slice(b)}`;
}

/** The command line of the CK+ report (every `--name` of `usage` is an accepted option): a mistyped `--write` is refused, not ignored. */
export const REPORT_CLI: CliSpec = {
  usage: 'Usage: src/cli/report.ts [--write]\n',
  notes:
    'Run it through tsx from the project root: node --import tsx src/cli/report.ts [--write]\n' +
    'Prints the CK+ results and speed tables of the model card (Markdown) from models/cv, models/cv-experiments, the shipped models and\n' +
    'models/bench-classify.json; --write replaces the <!-- results --> and <!-- speed --> blocks of models/README.md instead.\n',
};

function main(): void {
  const args = parseCli(process.argv.slice(2), REPORT_CLI);
  if (!args) return;
  const md = renderResults();
  const speed = renderSpeed();
  if (args.write) {
    const card = path.join(MODELS, 'README.md');
    const text = fs.readFileSync(card, 'utf8');
    fs.writeFileSync(card, replaceBlock(replaceBlock(text, 'results', md), 'speed', speed));
    process.stderr.write(`Updated ${card}\n`);
  } else {
    process.stdout.write(md + '\n' + speed + '\n');
  }
}

if (require.main === module) runMain('report', async () => main(), undefined, { usageExitCode: 2 });
