#!/usr/bin/env node
/**
 * `node --import tsx src/cli/fer-report.ts [--write]`: the in-the-wild results of the model
 * card, generated from the committed files only (nothing typed by hand):
 * - the run's checkpoint (`work` in the model's results.json; older results:
 *   `checkpoints/fer-<variant>/model.json`): training state (epochs done, history, best), after
 *   the history of the run it started from when its `init` is another FER run's checkpoint;
 * - `models/<variant>-wild/results.json`: the exported (best) model's PublicTest validation;
 * - `models/<variant>-wild-7/results.json`: the FER2013 (7-label) columns come from it. When its
 *   `config` differs from the 8-class model's, the 7-label model is from a separate run
 *   (FER2013-primary, or joint with its epoch chosen on FER2013): it gets a row of its own under the variant's row, and that run's
 *   history (its checkpoint: the results' `work`, else `checkpoints/fer7-<variant>/model.json`;
 *   else the results' `history`) is printed too, after the history of the run it started from
 *   when its `init` is another FER run's checkpoint (a further stage);
 * - `models/<variant>-wild/eval-fer.json` (and `-7`): `npm run eval:fer -- --out` reports; the
 *   8-class model's `ferplus-publictest-reference-majority` row (FER+ authors' majority protocol)
 *   is a column of the main table once a report has it (`–` for a variant whose report lacks it);
 * - `models/<variant>-wild/eval-fer-flip.json` (and `-7`, optional): the same with `--tta flip`
 *   (mirror averaging), shown as extra columns next to the plain results.
 * Prints Markdown; with --write replaces the block between `<!-- fer-results:start -->` and
 * `<!-- fer-results:end -->` in models/README.md. `--root <dir>` reads (and writes) another
 * project directory than the current one (tests). Unknown options are refused.
 */
import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_FER_CONFIG, FerTrainState } from '../train/fer-trainer';
import type { FerReport } from './eval-fer';
import { CliSpec, parseCli, runMain } from './args';

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
  params7?: number;
  macs: number;
  config?: { epochs?: number; aux7Weight?: number; ferPlusWeight?: number; pretrained?: string | null };
  /** The run's checkpoint directory (`--work`, relative to the project root; written since session 8). */
  work?: string;
  /** The `--init` directory the run started from (relative to the project root). */
  init?: string;
  history?: FerTrainState['history'];
  /** A weight soup (`npm run fer:soup`): its members' checkpoints; `epoch` is then absent. */
  soup?: { members: Array<{ work: string; epoch: number; stepInEpoch: number; seed?: number; teacher7?: string; teacher?: string }> };
  validation: {
    ferPlusPublicTest: { accuracy: number; macroF1: number; n: number };
    fer2013PublicTest: { accuracy: number; macroF1: number; n: number };
    fer2013PublicTestFrom8ClassHead: number;
  };
  exportedAt: string;
}

const readState = (root: string, dir: string) => readJson<{ training?: FerTrainState }>(path.join(root, dir, 'model.json'))?.training;

/**
 * The training states behind an exported model: its run's checkpoint (`work` in its results;
 * results written before that field: `fallback`) and, when the run started from another FER
 * run's checkpoint (`init`), that earlier run's.
 */
function runStates(root: string, res: Results | null, fallback: string): { work: string; state?: FerTrainState; earlier?: { dir: string; state: FerTrainState } } {
  const work = res?.work ?? fallback;
  const init = res?.init && !samePath(res.init, work) ? res.init : undefined;
  const earlier = init ? readState(root, init) : undefined;
  return { work, state: readState(root, work), earlier: init && earlier?.history?.length ? { dir: init, state: earlier } : undefined };
}

const samePath = (a: string, b: string) => path.normalize(a) === path.normalize(b);

/** An eval-fer report of a shipped model: `eval-fer.json` (plain) or `eval-fer-flip.json` (`--tta flip`). */
function readEval(root: string, model: string, tta: 'none' | 'flip'): FerReport | null {
  const ev = readJson<FerReport>(path.join(root, 'models', model, tta === 'flip' ? 'eval-fer-flip.json' : 'eval-fer.json'));
  // Reports from before the option have no `tta` (plain); a file must hold what its name says.
  return ev && (ev.tta ?? 'none') === tta ? ev : null;
}

const setAccuracy = (ev: FerReport | null, set: string) => ev?.sets.find((s) => s.set === set)?.accuracy;

/** The eval-fer row of the FER+ authors' majority protocol (absent from reports written before it). */
const REFERENCE_MAJORITY_SET = 'ferplus-publictest-reference-majority';

const gap = (acc: number | undefined, target: number) => (acc === undefined ? '' : acc >= target ? ' ✔' : ` (−${((target - acc) * 100).toFixed(1)} pt)`);

/** Epochs done "(of planned)"; a run extended past the exported model's plan shows where it stands instead. */
const epochsDone = (st: FerTrainState | undefined, planned: number) =>
  st ? `${st.epoch}${st.stepInEpoch ? ` + ${st.stepInEpoch} steps` : ''} ${st.epoch > planned ? `(extended after the export, planned ${planned})` : `(of ${planned})`}` : '–';

/** A training-history table: one row per epoch, plus validations of runs stopped mid-epoch. */
function historyTable(title: string, st: Pick<FerTrainState, 'history' | 'midEpochEvals'>): string[] {
  const out = [`\n**${title}** (PublicTest = clean validation, EMA weights; train acc. = FER+ head on augmented batches):\n`];
  out.push('| epoch | loss | train acc. | FER+ PublicTest | FER2013 PublicTest | macro-F1 FER+ | images/s | minutes | finished (UTC) |');
  out.push('|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  const rows = [
    ...st.history.map((h) => ({ ...h, mid: false })),
    ...(st.midEpochEvals ?? []).filter((m) => !st.history.some((h) => h.epoch === m.epoch)).map((m) => ({ epoch: m.epoch, valFerPlus: m.valFerPlus, valFer2013: m.valFer2013, finishedAt: m.at, mid: true })),
  ].sort((a, b) => a.epoch - b.epoch);
  for (const h of rows) {
    const full = h as Partial<FerTrainState['history'][number]> & { epoch: number; mid: boolean; finishedAt: string };
    out.push(
      `| ${full.epoch}${full.mid ? ' (stop)' : ''} | ${full.loss?.toFixed(4) ?? '–'} | ${pct(full.trainAccuracy8)} | ${pct(full.valFerPlus, 2)} | ${pct(full.valFer2013, 2)} | ${pct(full.valFerPlusMacroF1)} | ${full.imagesPerSec?.toFixed(1) ?? '–'} | ${full.seconds ? (full.seconds / 60).toFixed(0) : '–'} | ${full.finishedAt.slice(0, 16).replace('T', ' ')} |`,
    );
  }
  return out;
}

/** The history of the run a model's run started from, printed before the model's own. */
const earlierTable = (model: string, earlier: { dir: string; state: FerTrainState }) =>
  historyTable(`${model}, earlier stage: the run it started from (\`${earlier.dir}\`)`, earlier.state);

const lastImagesPerSec = (history: FerTrainState['history'] | undefined) => (history?.length ? history[history.length - 1].imagesPerSec : undefined);

/**
 * The histories behind a soup model: once the run every member started from (a reference when
 * `shown` says that table is already printed), then each member run's own checkpoint.
 */
function soupHistories(root: string, model: string, res: Results, shown?: { dir: string; label: string }): string[] {
  const members = res.soup!.members;
  const hist: string[] = [];
  if (res.init) {
    const initDir = path.join('checkpoints', res.init);
    const earlier = readState(root, initDir);
    if (shown && samePath(initDir, shown.dir)) hist.push(`\n**${model}, earlier stage of every soup member:** ${shown.label} (\`${initDir}\`), whose history is above.`);
    else if (earlier?.history?.length) hist.push(...earlierTable(`${model} (every soup member)`, { dir: initDir, state: earlier }));
  }
  members.forEach((m, i) => {
    const st = readState(root, m.work);
    const what = [m.seed !== undefined ? `seed ${m.seed}` : '', m.teacher ? `FER+ teacher \`${m.teacher}\`` : '', m.teacher7 ? `FER2013 teacher \`${m.teacher7}\`` : ''].filter(Boolean).join(', ');
    const title = `${model} soup member ${i + 1} of ${members.length}: \`${m.work}\`${what ? ` (${what})` : ''}`;
    if (st && (st.history.length || st.midEpochEvals?.length)) hist.push(...historyTable(title, st));
    else hist.push(`\n**${title}:** checkpoint not found.`);
  });
  return hist;
}

/**
 * How the run(s) behind a separate 7-label model trained, for its row and history titles: the
 * kind (FER2013-primary when the FER+ head had no loss, else a joint run of both heads whose
 * exported epoch was chosen on FER2013) and `how` (init and loss weights; `noInit` when it had none).
 */
function runOf7(cfg: NonNullable<Results['config']>, noInit: string): { kind: string; how: string } {
  const kind = cfg.ferPlusWeight === 0 ? 'FER2013-primary' : 'joint (both heads, exported on FER2013)';
  const how = `${cfg.pretrained ? `init \`${cfg.pretrained}\`` : noInit}, loss weights FER+ ${cfg.ferPlusWeight ?? '–'} / FER2013 ${cfg.aux7Weight ?? '–'}`;
  return { kind, how };
}

/** "6, 6 + 20 steps": the epochs of a soup's members. */
const memberEpochs = (res: Results) => res.soup!.members.map((m) => `${m.epoch}${m.stepInEpoch ? ` + ${m.stepInEpoch} steps` : ''}`).join(', ');

/**
 * The row of a 7-label model that is a weight soup (`npm run fer:soup`), pushed onto `out`, and
 * the histories of its members (returned): each member run's own checkpoint, and once the run
 * they all started from (a reference when that is the 8-class model's run).
 */
function soupRows(root: string, v: string, res: Results, work8: string, cols: { withRef: boolean; withFlip: boolean; flip7?: number }, out: string[]): string[] {
  const members = res.soup!.members;
  const { kind, how } = runOf7(res.config ?? {}, 'no common init');
  const acc7 = res.validation.fer2013PublicTest.accuracy;
  out.push(
    `| ↳ \`${v}-wild-7\` †: uniform weight soup of ${members.length} ${kind} runs (${how}) | ${res.params7?.toLocaleString('en-US') ?? '–'} | ${(res.macs / 1e6).toFixed(1)} M | members: ${memberEpochs(res)} | soup (each member's last epoch) | – | ${cols.withRef ? '– | ' : ''}` +
      `${pct(acc7)}${gap(acc7, TARGET_FER2013)} | ${cols.withFlip ? `– / ${pct(cols.flip7)} | ` : ''}– / ${pct(res.validation.fer2013PublicTest.macroF1)} | – |`,
  );
  return soupHistories(root, `${v}-wild-7`, res, { dir: work8, label: `the run of \`${v}-wild\`` });
}

export function ferReport(root: string): string {
  const out: string[] = [];
  const variants = ['nano-b', 'nano-a'];
  // Mirror averaging (flip TTA) of the exported weights, from `eval:fer --tta flip` reports.
  // Each report is read once per variant.
  const flips = new Map(variants.map((v) => [v, { ferPlus: setAccuracy(readEval(root, `${v}-wild`, 'flip'), 'ferplus-publictest'), fer2013: setAccuracy(readEval(root, `${v}-wild-7`, 'flip'), 'fer2013-publictest') }]));
  const flipOf = (v: string) => flips.get(v)!;
  const withFlip = variants.some((v) => flipOf(v).ferPlus !== undefined || flipOf(v).fer2013 !== undefined);
  // FER+ PublicTest under the FER+ authors' majority protocol, from the plain `eval:fer` report: a column once any report has the row.
  const refs = new Map(variants.map((v) => [v, readEval(root, `${v}-wild`, 'none')?.sets.find((s) => s.set === REFERENCE_MAJORITY_SET)]));
  const refOf = (v: string) => refs.get(v);
  const withRef = variants.some((v) => refOf(v) !== undefined);
  const refCell = (v: string) => {
    const r = refOf(v);
    return withRef ? `${r ? `${pct(r.accuracy)} (${r.images})` : '–'} | ` : '';
  };
  out.push(
    `| model | parameters | MACs / face | epochs done (of planned) | exported (best) at epoch | FER+ PublicTest, 8 classes (target ≥ 82 %) | ${withRef ? "FER+ PublicTest, FER+ authors' majority protocol ¹ (n images) | " : ''}FER2013 PublicTest, 7 labels (target ≥ 67 %) | ${withFlip ? 'with mirror averaging (`--tta flip`), FER+ / FER2013 | ' : ''}macro-F1 FER+ / FER2013 | training images/s |`,
  );
  out.push(`|---|---:|---:|---|---:|---:|${withRef ? '---:|' : ''}---:|${withFlip ? '---|' : ''}---|---:|`);
  const histories: string[] = [];
  for (const v of variants) {
    const res = readJson<Results>(path.join(root, 'models', `${v}-wild`, 'results.json'));
    // A soup (fer:soup) has no run of its own: its members' common start stands for it.
    const soup8 = res?.soup ? res : null;
    const run8: ReturnType<typeof runStates> = soup8 ? { work: soup8.init ? path.join('checkpoints', soup8.init) : '' } : runStates(root, res, path.join('checkpoints', `fer-${v}`));
    if (!run8.state && !res) {
      out.push(`| \`${v}-wild\` / \`${v}-wild-7\` | | | **not trained yet** | | | |${withRef ? ' |' : ''}${withFlip ? ' |' : ''} | |`);
      continue;
    }
    const st = run8.state;
    const cfgEpochs = readJson<{ training?: { config?: { epochs?: number } } }>(path.join(root, 'models', `${v}-wild`, 'model.json'))?.training?.config?.epochs;
    const done = soup8 ? `members: ${memberEpochs(soup8)}` : epochsDone(st, cfgEpochs ?? DEFAULT_FER_CONFIG.epochs);
    const ips = lastImagesPerSec(st?.history);
    const val = res?.validation;
    // The FER2013 columns are the shipped 7-label model's (the 8-class model's results only when it has none).
    const res7 = readJson<Results>(path.join(root, 'models', `${v}-wild-7`, 'results.json'));
    const val7 = res7?.validation.fer2013PublicTest ?? val?.fer2013PublicTest;
    // Its own run when its training configuration is not the 8-class model's (not two heads of one run).
    const separate = res && res7 && JSON.stringify(res7.config) !== JSON.stringify(res.config) ? res7 : null;
    const mark = separate ? ' †' : '';
    out.push(
      `| \`${v}-wild\` / \`${v}-wild-7\` | ${res ? res.params8.toLocaleString('en-US') : '–'} | ${res ? `${(res.macs / 1e6).toFixed(1)} M` : '–'} | ${done} | ${soup8 ? `soup of ${soup8.soup!.members.length} (each member's last epoch)` : res ? res.epoch : '–'} | ` +
        `${pct(val?.ferPlusPublicTest.accuracy)}${gap(val?.ferPlusPublicTest.accuracy, TARGET_FERPLUS)} | ${refCell(v)}${pct(val7?.accuracy)}${gap(val7?.accuracy, TARGET_FER2013)}${mark} | ` +
        (withFlip ? `${pct(flipOf(v).ferPlus)} / ${pct(flipOf(v).fer2013)} | ` : '') +
        `${pct(val?.ferPlusPublicTest.macroF1)} / ${pct(val7?.macroF1)} | ${ips ? ips.toFixed(1) : '–'} |`,
    );
    if (soup8) histories.push(...soupHistories(root, `${v}-wild`, soup8));
    if (run8.earlier) histories.push(...earlierTable(`${v}-wild`, run8.earlier));
    if (st && (st.history.length || st.midEpochEvals?.length)) histories.push(...historyTable(`${v}-wild training history${res?.init ? ` (init \`${path.basename(res.init)}\`)` : ''}`, st));
    if (separate?.soup) {
      histories.push(...soupRows(root, v, separate, run8.work, { withRef, withFlip, flip7: flipOf(v).fer2013 }, out));
    } else if (separate) {
      const run7 = runStates(root, separate, path.join('checkpoints', `fer7-${v}`));
      const st7 = run7.state;
      const cfg = separate.config ?? {};
      const planned = cfg.epochs ?? DEFAULT_FER_CONFIG.epochs;
      const acc7 = separate.validation.fer2013PublicTest.accuracy;
      const { kind, how } = runOf7(cfg, 'no init snapshot (from scratch)');
      const ips7 = lastImagesPerSec(st7?.history ?? separate.history);
      out.push(
        `| ↳ \`${v}-wild-7\` †: separate ${kind} run (${how}) | ${separate.params7?.toLocaleString('en-US') ?? '–'} | ${(separate.macs / 1e6).toFixed(1)} M | ${st7 ? epochsDone(st7, planned) : `– (of ${planned})`} | ${separate.epoch} | – | ${withRef ? '– | ' : ''}` +
          `${pct(acc7)}${gap(acc7, TARGET_FER2013)} | ${withFlip ? `– / ${pct(flipOf(v).fer2013)} | ` : ''}– / ${pct(separate.validation.fer2013PublicTest.macroF1)} | ${ips7 ? ips7.toFixed(1) : '–'} |`,
      );
      const hist7: Pick<FerTrainState, 'history' | 'midEpochEvals'> = st7 ?? { history: separate.history ?? [] };
      // Started from the 8-class model's own run (its table is printed just above): a reference, not a second copy.
      if (run7.earlier && samePath(run7.earlier.dir, run8.work)) {
        const whose = soup8 ? `the run every \`${v}-wild\` soup member started from` : `the run of \`${v}-wild\``;
        histories.push(`\n**${v}-wild-7, earlier stage:** ${whose} (\`${run7.earlier.dir}\`), whose history is above.`);
      } else if (run7.earlier) histories.push(...earlierTable(`${v}-wild-7`, run7.earlier));
      if (hist7.history.length || hist7.midEpochEvals?.length) histories.push(...historyTable(`${v}-wild-7 training history (separate ${kind} run, ${how})`, hist7));
    }
  }
  if (withRef) {
    out.push(
      "\n¹ Row `ferplus-publictest-reference-majority` of the 8-class model's `npm run eval:fer` report (below): its `ferplus-publictest` predictions scored on the images kept by the rule the FER+ authors' reference code applies to their validation and test sets (Barsoum et al., ICMI 2016; microsoft/FERPlus `src/ferplus.py`, mode `majority`): single votes removed, an image keeps a label only when one class has more than half of the remaining votes, and images with no such class or an unknown / not-a-face majority are dropped (a kept image's label is its plurality label). Published FER+ \"majority\" accuracies use this rule on FER+ Test (FER2013 PrivateTest, held out here); this is the same rule on PublicTest (their validation set), minus the md5 twins of Training.",
    );
  }
  out.push(...histories);
  for (const v of variants) {
    for (const suffix of ['', '-7']) {
      const model = `${v}-wild${suffix}`;
      const ev = readEval(root, model, 'none');
      if (!ev) continue;
      const flip = readEval(root, model, 'flip');
      const exp = readJson<Results>(path.join(root, 'models', model, 'results.json'));
      const which = exp?.soup ? `a soup of ${exp.soup.members.length} runs` : `epoch ${exp?.epoch}`;
      const stale = (r: FerReport) => (exp && exp.exportedAt > r.generatedAt ? ` — **stale: run before the current weights (${which}) were exported; rerun it**` : exp ? ` — weights: ${which}` : '');
      const when = (r: FerReport) => `${r.backend}, ${r.generatedAt.slice(0, 16).replace('T', ' ')} UTC${stale(r)}`;
      out.push(`\n**\`npm run eval:fer -- --model ${model}\`** (${when(ev)})${flip ? `; mirror averaging columns: **\`npm run eval:fer -- --model ${model} --tta flip\`** (${when(flip)})` : ''}:\n`);
      out.push(`| set | images | accuracy (over the set's classes) | accuracy (argmax over all model classes) | macro-F1 | faces/s |${flip ? ' accuracy with mirror averaging | faces/s with mirror averaging |' : ''}`);
      out.push(`|---|---:|---:|---:|---:|---:|${flip ? '---:|---:|' : ''}`);
      for (const s of ev.sets) {
        const f = flip?.sets.find((x) => x.set === s.set);
        const extra = flip ? ` ${f ? pct(f.accuracy, 2) : '–'} | ${f ? f.facesPerSec.toFixed(0) : '–'} |` : '';
        out.push(`| ${s.set} | ${s.images} | ${pct(s.accuracy, 2)} | ${pct(s.accuracyAllClasses, 2)} | ${pct(s.macroF1)} | ${s.facesPerSec.toFixed(0)} |${extra}`);
      }
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

/** The command line of `npm run fer:report` (every `--name` of `usage` is an accepted option). */
export const FER_REPORT_CLI: CliSpec = {
  usage: 'Usage: npm run fer:report -- [--write] [--root <project dir, default .>]\n',
  notes:
    'Prints the in-the-wild results of the model card (Markdown) from the committed results.json, checkpoints and eval:fer reports;\n' +
    '--write replaces the block between <!-- fer-results:start --> and <!-- fer-results:end --> in <root>/models/README.md instead.\n',
};

function main(): void {
  const args = parseCli(process.argv.slice(2), FER_REPORT_CLI);
  if (!args) return;
  if (args.root === true) throw new Error('--root needs a directory');
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

if (require.main === module) runMain('fer-report', async () => main());
