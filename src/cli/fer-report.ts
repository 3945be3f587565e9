#!/usr/bin/env node
/**
 * `node --import tsx src/cli/fer-report.ts [--write]`: the in-the-wild results of the model
 * card, generated from the committed files only (nothing typed by hand):
 * - `checkpoints/fer-<variant>/model.json`: training state (epochs done, history, best);
 * - `models/<variant>-wild/results.json`: the exported (best) model's PublicTest validation;
 * - `models/<variant>-wild/eval-fer.json` (and `-7`): `npm run eval:fer -- --out` reports.
 * Prints Markdown; with --write replaces the block between `<!-- fer-results:start -->` and
 * `<!-- fer-results:end -->` in models/README.md.
 */
import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_FER_CONFIG, FerTrainState } from '../train/fer-trainer';
import type { FerReport } from './eval-fer';
import { parseArgs } from './train';

const TARGET_FERPLUS = 0.82;
const TARGET_FER2013 = 0.67;
const pct = (x: number | undefined | null, d = 1) => (x === undefined || x === null || !Number.isFinite(x) ? '–' : `${(x * 100).toFixed(d)} %`);

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

function confusionTable(classes: string[], m: number[][]): string {
  const head = `| true \\ predicted | ${classes.join(' | ')} | recall |\n|---|${classes.map(() => '---:').join('|')}|---:|`;
  const rows = m.map((row, i) => {
    const n = row.reduce((a, b) => a + b, 0);
    return `| **${classes[i]}** | ${row.join(' | ')} | ${n ? pct(row[i] / n, 0) : '–'} |`;
  });
  return [head, ...rows].join('\n');
}

interface Results {
  epoch: number;
  params8: number;
  macs: number;
  validation: {
    ferPlusPublicTest: { accuracy: number; macroF1: number; n: number };
    fer2013PublicTest: { accuracy: number; macroF1: number; n: number };
    fer2013PublicTestFrom8ClassHead: number;
  };
  exportedAt: string;
}

export function ferReport(root: string): string {
  const out: string[] = [];
  const variants = ['nano-b', 'nano-a'];
  out.push('| model | parameters | MACs / face | epochs done (of planned) | exported (best) at epoch | FER+ PublicTest, 8 classes (target ≥ 82 %) | FER2013 PublicTest, 7 labels (target ≥ 67 %) | macro-F1 FER+ / FER2013 | training images/s |');
  out.push('|---|---:|---:|---|---:|---:|---:|---|---:|');
  const histories: string[] = [];
  for (const v of variants) {
    const ck = readJson<{ training: FerTrainState & { key: string } }>(path.join(root, 'checkpoints', `fer-${v}`, 'model.json'));
    const res = readJson<Results>(path.join(root, 'models', `${v}-wild`, 'results.json'));
    if (!ck && !res) {
      out.push(`| \`${v}-wild\` / \`${v}-wild-7\` | | | **not trained yet** | | | | | |`);
      continue;
    }
    const st = ck?.training;
    const cfgEpochs = readJson<{ training?: { config?: { epochs?: number } } }>(path.join(root, 'models', `${v}-wild`, 'model.json'))?.training?.config?.epochs;
    const done = st ? `${st.epoch}${st.stepInEpoch ? ` + ${st.stepInEpoch} steps` : ''} (of ${cfgEpochs ?? DEFAULT_FER_CONFIG.epochs})` : '–';
    const ips = st?.history.length ? st.history[st.history.length - 1].imagesPerSec : undefined;
    const val = res?.validation;
    const gap = (acc: number | undefined, target: number) => (acc === undefined ? '' : acc >= target ? ' ✔' : ` (−${((target - acc) * 100).toFixed(1)} pt)`);
    out.push(
      `| \`${v}-wild\` / \`${v}-wild-7\` | ${res ? res.params8.toLocaleString('en-US') : '–'} | ${res ? `${(res.macs / 1e6).toFixed(1)} M` : '–'} | ${done} | ${res ? res.epoch : '–'} | ` +
        `${pct(val?.ferPlusPublicTest.accuracy)}${gap(val?.ferPlusPublicTest.accuracy, TARGET_FERPLUS)} | ${pct(val?.fer2013PublicTest.accuracy)}${gap(val?.fer2013PublicTest.accuracy, TARGET_FER2013)} | ` +
        `${pct(val?.ferPlusPublicTest.macroF1)} / ${pct(val?.fer2013PublicTest.macroF1)} | ${ips ? ips.toFixed(1) : '–'} |`,
    );
    if (st && (st.history.length || st.midEpochEvals?.length)) {
      histories.push(`\n**${v}-wild training history** (PublicTest = clean validation, EMA weights; train acc. = FER+ head on augmented batches):\n`);
      histories.push('| epoch | loss | train acc. | FER+ PublicTest | FER2013 PublicTest | macro-F1 FER+ | images/s | minutes | finished (UTC) |');
      histories.push('|---:|---:|---:|---:|---:|---:|---:|---:|---|');
      const rows = [
        ...st.history.map((h) => ({ ...h, mid: false })),
        ...(st.midEpochEvals ?? []).filter((m) => !st.history.some((h) => h.epoch === m.epoch)).map((m) => ({ epoch: m.epoch, valFerPlus: m.valFerPlus, valFer2013: m.valFer2013, finishedAt: m.at, mid: true })),
      ].sort((a, b) => a.epoch - b.epoch);
      for (const h of rows) {
        const full = h as Partial<FerTrainState['history'][number]> & { epoch: number; mid: boolean; finishedAt: string };
        histories.push(
          `| ${full.epoch}${full.mid ? ' (stop)' : ''} | ${full.loss?.toFixed(4) ?? '–'} | ${pct(full.trainAccuracy8)} | ${pct(full.valFerPlus, 2)} | ${pct(full.valFer2013, 2)} | ${pct(full.valFerPlusMacroF1)} | ${full.imagesPerSec?.toFixed(1) ?? '–'} | ${full.seconds ? (full.seconds / 60).toFixed(0) : '–'} | ${full.finishedAt.slice(0, 16).replace('T', ' ')} |`,
        );
      }
    }
  }
  out.push(...histories);
  for (const v of variants) {
    for (const suffix of ['', '-7']) {
      const ev = readJson<FerReport>(path.join(root, 'models', `${v}-wild${suffix}`, 'eval-fer.json'));
      if (!ev) continue;
      const exp = readJson<Results>(path.join(root, 'models', `${v}-wild${suffix}`, 'results.json'));
      const stale = exp && exp.exportedAt > ev.generatedAt ? ` — **stale: run before the current weights (epoch ${exp.epoch}) were exported; rerun it**` : exp ? ` — weights of epoch ${exp.epoch}` : '';
      out.push(`\n**\`npm run eval:fer -- --model ${v}-wild${suffix}\`** (${ev.backend}, ${ev.generatedAt.slice(0, 16).replace('T', ' ')} UTC${stale}):\n`);
      out.push('| set | images | accuracy (over the set\'s classes) | accuracy (argmax over all model classes) | macro-F1 | faces/s |');
      out.push('|---|---:|---:|---:|---:|---:|');
      for (const s of ev.sets) out.push(`| ${s.set} | ${s.images} | ${pct(s.accuracy, 2)} | ${pct(s.accuracyAllClasses, 2)} | ${pct(s.macroF1)} | ${s.facesPerSec.toFixed(0)} |`);
      if (ev.framingSensitivity?.length) {
        out.push(`\nFraming sensitivity (FER+ PublicTest, every crop re-framed; edges replicated): ${ev.framingSensitivity.map((f) => `${f.transform} ${pct(f.accuracy, 1)}`).join(', ')}.`);
      }
      for (const s of ev.sets) {
        if (suffix === '' || s.set.startsWith('fer2013')) out.push(`\n<details><summary>${v}-wild${suffix}: ${s.set} confusion matrix</summary>\n\n${confusionTable(s.classes, s.confusion)}\n\n</details>`);
      }
    }
  }
  return out.join('\n');
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const root = path.resolve(String(args.root ?? '.'));
  const md = ferReport(root);
  if (!args.write) {
    process.stdout.write(md + '\n');
    return;
  }
  const card = path.join(root, 'models', 'README.md');
  const text = fs.readFileSync(card, 'utf8');
  const a = '<!-- fer-results:start -->';
  const b = '<!-- fer-results:end -->';
  const i = text.indexOf(a);
  const j = text.indexOf(b);
  if (i < 0 || j < i) throw new Error(`${card} has no ${a} ... ${b} block`);
  fs.writeFileSync(card, `${text.slice(0, i + a.length)}\n${md}\n${text.slice(j)}`);
  process.stderr.write(`Updated ${card}\n`);
}

if (require.main === module) main();
