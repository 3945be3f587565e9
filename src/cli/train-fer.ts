#!/usr/bin/env node
/**
 * `npm run train:fer -- --variant nano-b [options]`: trains the in-the-wild EmotionNet Nano on
 * FER2013 Training with FER+ soft targets (plus a FER2013 7-label head), validating on the
 * clean PublicTest after every epoch. Resumable at any point: the checkpoint (parameters, BN
 * statistics, optimiser state, EMA weights, epoch/step, history) is written to --work every epoch
 * and every --checkpoint-minutes; rerun the same command to continue. Every time the FER+
 * validation accuracy improves, the EMA weights are exported as two ordinary models:
 * `<out>/<name>` (8 FER+ classes) and `<out>/<name>-7` (7 FER2013 classes), each with a
 * results.json (`--select fer2013`: when the FER2013 accuracy improves instead).
 *
 * Second stage: `--init <dir>` starts a NEW run (epoch 0, fresh optimizer and LR schedule, its
 * own --work) from pretrained training-form weights, an `--export-init` snapshot or a FER
 * checkpoint dir (its EMA weights): trunk and both heads. The init is part of the config key
 * (a resume with another --init is refused) and is not re-applied when the run resumes.
 *
 * Distillation: `--teacher <dir> --kd <alpha>` (alpha in [0, 1], default 0.5) trains the FER+
 * head against `(1 - alpha) · votes + alpha · teacher`, the teacher being the averaged FER+
 * probabilities written by `npm run fer:teacher` for exactly these training items (a teacher
 * built for other items, e.g. another --limit, is refused). Teacher and alpha enter the config
 * key (only when set) and the exported models' training metadata; the FER2013 head is unchanged.
 * `--teacher7 <dir> --kd7 <alpha>` does the same for the FER2013 head with a FER2013 teacher
 * (`npm run fer:teacher -- --head fer2013`, e.g. the mirrored `-7` models): its target becomes
 * `(1 - alpha) · label-smoothed original label + alpha · teacher`.
 *
 * Options: --data ../shared/datasets/fer2013 --variant nano-a|nano-b --name <variant>-wild
 *          --out models --work checkpoints/fer-<variant> --epochs 40 --batch 64 --lr 0.003
 *          --wd 0.05 --seed 1 --aux7 0.5 (FER2013 head loss weight) --w8 1 (FER+ head loss weight)
 *          --warmup 1 (epochs) --select ferplus|fer2013 --init <dir>
 *          --teacher <dir> --kd 0.5 --teacher7 <dir> --kd7 0.5 --ema 0.999 --augment wild|light|none (--no-augment = none)
 *          --mixup <alpha> --optimizer adamw|sgd (sgd: Nesterov, --momentum 0.9, --wd as L2)
 *          --sam <rho> (sharpness-aware minimisation, e.g. 0.05; two gradient passes per step)
 *          --checkpoint-minutes 10
 *          --max-minutes <stop after N minutes, with a checkpoint> --limit <N train images>
 *          --val-limit <N> --backend wasm|cpu|auto --quiet
 *          --stem-stride 2|1 (1: block 1 at full 48x48 resolution, same weights, ~4x the MACs;
 *          --init may then be a stride-2 snapshot)
 *          --width <multiplier> (default 1; e.g. 2 for a wider teacher: ~4x parameters and MACs)
 *          --workers N (data-parallel: N shards per batch, N-1 worker threads; only with free cores)
 *          --selftest-only (write selftest.json of the exported models from the checkpoint)
 *          --no-validate-on-stop (a run stopped mid-epoch, by --max-minutes or a signal, checkpoints
 *          without validating the partial epoch first)
 *          --export-init <dir> (frozen training-form EMA weights for `npm run train -- --init <dir>`)
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../backend';
import { silentLogger } from '../log';
import { ArchSpec, countCost, isWidthMultiplier, resolveSpec, variantSpec, withStemStride, withWidth } from '../model/spec';
import { checkRunLength, foldWeights, loadPretrained } from '../train/trainer';
import { NamedArrays, readModelDir, writeModelDir } from '../model/io';
import { CliSpec, fmtTime, num, parseCli, ParsedArgs, runMain } from './args';
import { DEFAULT_FER_ROOT, FER2013_CLASSES, FERPLUS_CLASSES, ferTrainItems, loadFerIndex, loadFerPixels, selectFer, softTarget } from '../train/fer';
import { WildAugmentOptions, WILD_AUGMENT_PRESETS, wildAugmentPreset } from '../train/augment-wild';
import { DEFAULT_SGD_MOMENTUM, OptimizerName, OPTIMIZERS } from '../train/optim';
import { checkTeacher, checkTeacherHead, mixSoftTarget, readTeacher, Teacher, TeacherHead, teacherRow } from '../train/fer-teacher';
import { exportPretrained, DEFAULT_FER_CONFIG, FER_SELECT, FerEval, FerSample, FerSelect, FerTrainConfig, ferSelfTests, HEAD_CLASSES, loadFerValSet, selectedAccuracy, splitHeads, trainFer, unfoldedFromCheckpoint, HEAD_OUTPUTS } from '../train/fer-trainer';

/** What the run learns from, for the exported models' metadata (depends on the head loss weights). */
export function trainingDataDescription(cfg: Pick<FerTrainConfig, 'ferPlusWeight' | 'aux7Weight'>): string {
  if (cfg.ferPlusWeight === 0) return 'FER2013 Training with its original labels only (FER+ head loss weight 0)';
  if (cfg.aux7Weight === 0) return 'FER2013 Training with FER+ votes (soft targets) only (FER2013 head loss weight 0)';
  return 'FER2013 Training with FER+ votes (soft targets) and the original FER2013 labels (second head)';
}

/** `--stem-stride 1|2` (default 2, the shipped variants); 1 = block 1 at full resolution. */
export function stemStrideOption(args: ParsedArgs): 1 | 2 {
  const raw = args['stem-stride'];
  const v = raw === undefined ? 2 : typeof raw === 'string' ? Number(raw) : NaN;
  if (v !== 1 && v !== 2) throw new Error(`--stem-stride must be 1 or 2 (got ${raw === true ? 'no value' : String(raw)})`);
  return v;
}

/**
 * `--width <multiplier>` (default 1, the shipped variants): every layer's width times it, e.g. 2
 * for a wider teacher (about 4x the parameters and MACs; over the parameter budget, so not a
 * shippable EmotionNet Nano).
 */
export function widthOption(args: ParsedArgs): number {
  const raw = args.width;
  const v = raw === undefined ? 1 : typeof raw === 'string' ? Number(raw) : NaN;
  if (!isWidthMultiplier(v)) throw new Error(`--width must be a multiplier in (0, 8] (got ${raw === true ? 'no value' : String(raw)})`);
  return v;
}

/** An optional strength in [0, 10] (`what`, e.g. "an alpha"; `example` in the error); absent or 0 = off. */
function strengthOption(args: ParsedArgs, key: string, what: string, example: number): number {
  const raw = args[key];
  if (raw === undefined) return 0;
  const v = Number(raw);
  if (raw === true || !Number.isFinite(v) || v < 0 || v > 10) throw new Error(`--${key} needs ${what} in [0, 10] (e.g. ${example}; 0 = off), got ${String(raw)}`);
  return v;
}

/** `--mixup <alpha>`: mixup within each batch with λ ~ Beta(alpha, alpha); absent or 0 = off. */
export const mixupOption = (args: ParsedArgs): number => strengthOption(args, 'mixup', 'an alpha', 0.2);

/** `--sam <rho>`: sharpness-aware minimisation radius; absent or 0 = off. */
export const samOption = (args: ParsedArgs): number => strengthOption(args, 'sam', 'a radius', 0.05);

/**
 * `--optimizer adamw|sgd` (default adamw) and `--momentum <μ>` (sgd only, default 0.9; Nesterov).
 * With sgd, `--wd` is classic L2 weight decay on the gradient (e.g. 0.0005), not AdamW's decoupled one.
 */
export function optimizerOption(args: ParsedArgs): { optimizer: OptimizerName; momentum?: number } {
  const raw = args.optimizer ?? 'adamw';
  if (raw === true || !OPTIMIZERS.includes(raw as OptimizerName)) throw new Error(`--optimizer must be one of ${OPTIMIZERS.join(', ')} (got ${raw === true ? 'no value' : String(raw)})`);
  const optimizer = raw as OptimizerName;
  if (args.momentum === undefined) return optimizer === 'sgd' ? { optimizer, momentum: DEFAULT_SGD_MOMENTUM } : { optimizer };
  if (optimizer !== 'sgd') throw new Error('--momentum applies to --optimizer sgd only');
  const m = Number(args.momentum);
  if (args.momentum === true || !(m >= 0 && m < 1)) throw new Error(`--momentum must be in [0, 1) (got ${String(args.momentum)})`);
  return { optimizer, momentum: m };
}

/** `--augment <preset>` (default `wild`); `--no-augment` is `--augment none`. */
export function augmentOption(args: ParsedArgs): WildAugmentOptions | null {
  if (args.augment === true) throw new Error(`--augment needs a preset name (${Object.keys(WILD_AUGMENT_PRESETS).join(', ')})`);
  if (args['no-augment']) {
    if (args.augment !== undefined && args.augment !== 'none') throw new Error(`--no-augment contradicts --augment ${String(args.augment)}`);
    return null;
  }
  return args.augment === undefined ? DEFAULT_FER_CONFIG.augment : wildAugmentPreset(String(args.augment));
}

const pct = (x: number | undefined) => (x === undefined ? '-' : `${(x * 100).toFixed(2)}%`);

/** Summary of an evaluation for results.json (confusion matrices included). */
export function evalRecord(ev: FerEval) {
  return {
    ferPlusPublicTest: { accuracy: ev.ferPlus.accuracy, macroF1: ev.ferPlus.macroF1, n: ev.ferPlus.n, classes: ev.ferPlus.classes, perClass: ev.ferPlus.perClass, confusion: ev.ferPlus.confusion },
    fer2013PublicTest: { accuracy: ev.fer2013.accuracy, macroF1: ev.fer2013.macroF1, n: ev.fer2013.n, classes: ev.fer2013.classes, perClass: ev.fer2013.perClass, confusion: ev.fer2013.confusion },
    fer2013PublicTestFrom8ClassHead: ev.fer2013From8Accuracy,
    evalImagesPerSec: ev.imagesPerSec,
  };
}

/**
 * Writes the two exported models of a two-head FER network, `<outRoot>/<name>` (FER+ head) and
 * `<outRoot>/<name>-7` (FER2013 head): model.json + weights (BN folded), results.json (`common`
 * metadata, parameter counts and `history`) and selftest.json (outputs of the unfolded graph).
 */
export async function writeFerModels(
  outRoot: string,
  name: string,
  m: { variant: string; spec: ArchSpec; folded8: NamedArrays; folded7: NamedArrays; unfolded: NamedArrays },
  common: Record<string, unknown>,
  history: unknown[],
): Promise<{ d8: string; d7: string }> {
  const cost8 = countCost(m.spec, FERPLUS_CLASSES.length);
  const cost7 = countCost(m.spec, FER2013_CLASSES.length);
  const d8 = path.join(outRoot, name);
  const d7 = path.join(outRoot, `${name}-7`);
  writeModelDir(d8, { name, variant: m.variant, classes: FERPLUS_CLASSES, spec: m.spec, folded: true, training: { ...common, head: 'FER+ 8 classes' } }, m.folded8);
  writeModelDir(d7, { name: `${name}-7`, variant: m.variant, classes: FER2013_CLASSES, spec: m.spec, folded: true, training: { ...common, head: 'FER2013 7 original labels' } }, m.folded7);
  const results = { model: name, variant: m.variant, params8: cost8.params, params7: cost7.params, macs: cost8.macs, ...common, history };
  fs.writeFileSync(path.join(d8, 'results.json'), JSON.stringify(results, null, 1) + '\n');
  fs.writeFileSync(path.join(d7, 'results.json'), JSON.stringify({ ...results, model: `${name}-7` }, null, 1) + '\n');
  await writeSelfTests(d8, d7, m.spec, m.unfolded);
  return { d8, d7 };
}

/** Writes selftest.json (reference outputs of the unfolded graph) into both exported models. */
async function writeSelfTests(d8: string, d7: string, spec: ArchSpec, unfolded: NamedArrays): Promise<void> {
  const { st8, st7 } = await ferSelfTests(spec, unfolded);
  fs.writeFileSync(path.join(d8, 'selftest.json'), JSON.stringify(st8, null, 1) + '\n');
  fs.writeFileSync(path.join(d7, 'selftest.json'), JSON.stringify(st7, null, 1) + '\n');
}

/**
 * `--selftest-only`: (re)writes selftest.json of the exported models from the checkpoint,
 * after checking that the exported weights ARE the checkpoint's (EMA) weights.
 */
async function selfTestFromCheckpoint(work: string, d8: string, d7: string): Promise<void> {
  // One read of the checkpoint: the exported weights are compared with its folded form.
  const { spec, unfolded } = unfoldedFromCheckpoint(work);
  const { folded8 } = splitHeads(await foldWeights(resolveSpec(spec), unfolded));
  const exported = readModelDir(d8).arrays;
  let maxDiff = 0;
  for (const [n, a] of Object.entries(folded8)) {
    const b = exported[n];
    if (!b || b.data.length !== a.data.length) throw new Error(`${d8}: weight ${n} does not match the checkpoint's shapes`);
    for (let i = 0; i < a.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a.data[i] - b.data[i]));
  }
  if (maxDiff > 1e-5) throw new Error(`${d8} holds other weights than the checkpoint in ${work} (max difference ${maxDiff}); selftest not written`);
  await writeSelfTests(d8, d7, spec, unfolded);
  process.stderr.write(`Wrote selftest.json in ${d8} and ${d7} (exported = checkpoint weights, max difference ${maxDiff.toExponential(1)})\n`);
}

/**
 * `--teacher <dir> [--kd a]` (FER+ head) or `--teacher7 <dir> [--kd7 a]` (FER2013 head): the
 * teacher read and checked for its head, and its share of the target (default 0.5).
 */
function teacherOption(args: ParsedArgs, head: TeacherHead): { teacher: Teacher | null; alpha: number } {
  const [t, a] = head === 'fer2013' ? ['teacher7', 'kd7'] : ['teacher', 'kd'];
  const hint = head === 'fer2013' ? '`npm run fer:teacher -- --head fer2013`' : '`npm run fer:teacher`';
  if (args[t] === true) throw new Error(`--${t} needs a directory (written by ${hint})`);
  if (args[a] !== undefined && !args[t]) throw new Error(`--${a} needs --${t} <dir>`);
  if (args[a] === true) throw new Error(`--${a} needs a value in [0, 1] (the teacher's share of the ${head === 'fer2013' ? 'FER2013' : 'FER+'} target)`);
  const teacher = args[t] ? readTeacher(path.resolve(String(args[t]))) : null;
  if (teacher) checkTeacherHead(teacher, head, `--${t}`);
  const alpha = num(args, a, 0.5);
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`--${a} must be in [0, 1] (got ${alpha})`);
  return { teacher, alpha };
}

/**
 * The command line of `npm run train:fer`: every `--name` of `usage` is an accepted option;
 * `notes` (examples that also run other commands) is printed by --help but not scanned.
 */
export const TRAIN_FER_CLI: CliSpec = {
  usage:
    'Usage: npm run train:fer -- [--variant nano-b] [--data ../shared/datasets/fer2013] [--name nano-b-wild] [--out models]\n' +
    '       [--work checkpoints/fer-nano-b] [--epochs 40] [--batch 64] [--lr 0.003] [--wd 0.05] [--seed 1] [--warmup 1]\n' +
    '       [--aux7 0.5 (FER2013 head loss weight)] [--w8 1 (FER+ head loss weight)] [--select ferplus|fer2013]\n' +
    '       [--init <--export-init dir or FER checkpoint dir: start a new run from its weights>]\n' +
    '       [--teacher <npm run fer:teacher dir> [--kd 0.5 (FER+ target = (1-kd)·votes + kd·teacher)]]\n' +
    '       [--teacher7 <dir of a FER2013-head fer:teacher> [--kd7 0.5 (FER2013 target = (1-kd7)·smoothed label + kd7·teacher)]]\n' +
    '       [--mixup 0 (alpha of Beta(alpha, alpha) for mixup within each batch; 0 = off)]\n' +
    '       [--optimizer adamw|sgd (sgd: Nesterov momentum, --wd as L2, e.g. --lr 0.01 --wd 0.0005)] [--momentum 0.9]\n' +
    '       [--sam <rho> (sharpness-aware minimisation, e.g. 0.05: two gradient passes per step)]\n' +
    '       [--ema 0.999] [--augment wild|light|none] [--no-augment] [--checkpoint-minutes 10] [--max-minutes N] [--limit N] [--val-limit N]\n' +
    '       [--no-validate-on-stop (a run stopped mid-epoch checkpoints without validating the partial epoch)]\n' +
    '       [--stem-stride 2|1] [--width 1] [--workers 1] [--backend wasm|cpu|auto] [--quiet] [--export-init <dir>] [--selftest-only]\n',
  notes:
    'Rerun the same command to resume from the checkpoint in --work.\n' +
    'Second stage: npm run train:fer -- --variant nano-b --init checkpoints/pretrained/nano-b-fer-e24 --work checkpoints/fer7-nano-b\n' +
    '              --name nano-b-wild-s2 --aux7 2 --w8 0.5 --select fer2013 --lr 0.001 --warmup 0.25 --epochs 8\n' +
    'Distillation: npm run fer:teacher -- --models nano-a-wild,nano-b-wild --tta flip --out checkpoints/teacher/ab-flip\n' +
    '              npm run train:fer -- --variant nano-a --teacher checkpoints/teacher/ab-flip --kd 0.5 --work checkpoints/fer-nano-a-kd --name nano-a-wild-kd\n' +
    '              (a FER2013-head teacher: npm run fer:teacher -- --head fer2013 ..., then --teacher7 <dir> --kd7 0.5)\n',
};

async function main(): Promise<void> {
  const args = parseCli(process.argv.slice(2), TRAIN_FER_CLI);
  if (!args) return;
  const root = path.resolve(String(args.data ?? DEFAULT_FER_ROOT));
  const variant = String(args.variant ?? 'nano-b');
  const name = String(args.name ?? `${variant}-wild`);
  const outRoot = path.resolve(String(args.out ?? 'models'));
  const work = path.resolve(String(args.work ?? path.join('checkpoints', `fer-${variant}`)));
  // Resume with the architecture the checkpoint was trained with, even if the variant's
  // definition has changed since (a model file always carries its own spec).
  let spec = withWidth(withStemStride(variantSpec(variant), stemStrideOption(args)), widthOption(args));
  if (fs.existsSync(path.join(work, 'model.json'))) {
    const saved = (JSON.parse(fs.readFileSync(path.join(work, 'model.json'), 'utf8')) as { spec?: ArchSpec }).spec;
    if (saved && JSON.stringify(saved) !== JSON.stringify(spec)) {
      process.stderr.write(`Resuming with the architecture stored in ${path.relative(process.cwd(), work)}/model.json (it differs from the current ${spec.name} definition)\n`);
      spec = saved;
    }
  }
  const quiet = Boolean(args.quiet);
  const select = String(args.select ?? DEFAULT_FER_CONFIG.select) as FerSelect;
  if (!FER_SELECT.includes(select)) throw new Error(`--select must be one of ${FER_SELECT.join(', ')} (got "${String(args.select)}")`);
  if (args.init === true) throw new Error('--init needs a directory (an --export-init snapshot or a FER checkpoint dir)');
  const initDir = args.init ? path.resolve(String(args.init)) : null;
  const { teacher, alpha: kd } = teacherOption(args, 'ferplus');
  const { teacher: teacher7, alpha: kd7 } = teacherOption(args, 'fer2013');
  const cfg: FerTrainConfig = {
    ...DEFAULT_FER_CONFIG,
    variant,
    spec,
    epochs: num(args, 'epochs', DEFAULT_FER_CONFIG.epochs),
    batchSize: num(args, 'batch', DEFAULT_FER_CONFIG.batchSize),
    lr: num(args, 'lr', DEFAULT_FER_CONFIG.lr),
    weightDecay: num(args, 'wd', DEFAULT_FER_CONFIG.weightDecay),
    seed: num(args, 'seed', DEFAULT_FER_CONFIG.seed),
    warmupEpochs: num(args, 'warmup', DEFAULT_FER_CONFIG.warmupEpochs),
    aux7Weight: num(args, 'aux7', DEFAULT_FER_CONFIG.aux7Weight),
    ferPlusWeight: num(args, 'w8', DEFAULT_FER_CONFIG.ferPlusWeight),
    select,
    emaDecay: num(args, 'ema', DEFAULT_FER_CONFIG.emaDecay),
    augment: augmentOption(args),
    pretrained: initDir ? loadPretrained(initDir, spec) : null,
    teacher: teacher ? { source: teacher.source, alpha: kd } : null,
    teacher7: teacher7 ? { source: teacher7.source, alpha: kd7 } : null,
    mixup: mixupOption(args),
    ...optimizerOption(args),
    sam: samOption(args),
  };
  if (cfg.warmupEpochs < 0) throw new Error(`--warmup must be >= 0 (got ${cfg.warmupEpochs})`);
  checkRunLength(cfg); // before the data is read (trainFer checks it too)
  const backend = await selectBackend({ backend: String(args.backend ?? 'wasm'), logger: silentLogger });
  if (args['selftest-only']) {
    await selfTestFromCheckpoint(work, path.join(outRoot, name), path.join(outRoot, `${name}-7`));
    return;
  }
  if (args['export-init']) {
    const dir = path.resolve(String(args['export-init']));
    exportPretrained(work, dir);
    process.stderr.write(`Wrote pretrained (training-form, EMA) weights of ${work} to ${dir}: fine-tune with \`npm run train -- --init ${path.relative(process.cwd(), dir)} ...\`\n`);
    return;
  }

  const t0 = Date.now();
  const index = loadFerIndex(root);
  const sel = selectFer(index);
  const trainItems = ferTrainItems(sel, args.limit ? num(args, 'limit', Infinity) : undefined);
  if (teacher) checkTeacher(teacher, trainItems);
  if (teacher7) checkTeacher(teacher7, trainItems);
  let valPlus = sel.valPlus;
  let val7 = sel.val7;
  if (args['val-limit']) {
    // An evenly strided subset (the lists are sorted by class folder).
    const lim = num(args, 'val-limit', valPlus.length);
    const strided = <T>(a: T[]) => (a.length <= lim ? a : Array.from({ length: lim }, (_, i) => a[Math.floor((i * a.length) / lim)]));
    valPlus = strided(valPlus);
    val7 = strided(val7);
  }
  const px = loadFerPixels(root, trainItems);
  const samples: FerSample[] = trainItems.map((it, i) => {
    const votes = softTarget(it.votes as Float32Array);
    const soft8 = teacher ? mixSoftTarget(votes, teacherRow(teacher.probs, i), kd) : votes;
    return { data: px[i], soft8, label7: it.label7, ...(teacher7 ? { teacher7: teacherRow(teacher7.probs, i, teacher7.k) } : {}) };
  });
  const val = loadFerValSet(root, valPlus, val7);
  const cost8 = countCost(spec, FERPLUS_CLASSES.length);
  const costTrain = countCost(spec, HEAD_OUTPUTS);
  process.stderr.write(
    `${spec.name} (FER): ${cost8.params} params (8-class export), ${(cost8.macs / 1e6).toFixed(1)} M MACs; ${samples.length} training images ` +
      `(FER+ labelled), validation ${val.plus.data.length} FER+ / ${val.orig.data.length} FER2013; loaded in ${((Date.now() - t0) / 1000).toFixed(1)} s; backend ${backend.label}\n` +
      `counts ${JSON.stringify(sel.counts)}\n` +
      (teacher ? `FER+ targets: ${+(1 - kd).toFixed(6)} × votes + ${kd} × teacher ${teacher.source} (${teacher.json.models.join(' + ')}, tta ${teacher.json.tta})\n` : '') +
      (teacher7 ? `FER2013 targets: ${+(1 - kd7).toFixed(6)} × smoothed label + ${kd7} × teacher ${teacher7.source} (${teacher7.json.models.join(' + ')}, tta ${teacher7.json.tta})\n` : '') +
      (cfg.mixup ? `mixup: each image and its targets mixed with a partner from its batch, λ ~ Beta(${cfg.mixup}, ${cfg.mixup}) folded to ≥ 0.5\n` : '') +
      (cfg.optimizer === 'sgd' ? `optimizer: SGD, Nesterov momentum ${cfg.momentum}, L2 weight decay ${cfg.weightDecay}\n` : '') +
      (cfg.sam ? `SAM: gradients at radius ${cfg.sam} along the normalised gradient (two passes per step)\n` : ''),
  );

  let stop = false;
  const maxMinutes = args['max-minutes'] !== undefined ? num(args, 'max-minutes', 0) : Infinity;
  const deadline = Date.now() + maxMinutes * 60000;
  const onSignal = (sig: string) => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write(`\n${sig}: stopping after this step (checkpoint first)...\n`);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  let lastLine = 0;
  const selName = select === 'fer2013' ? 'FER2013' : 'FER+';
  const rel = (p: string) => path.relative(process.cwd(), p) || p;
  const meta = {
    dataset: trainingDataDescription(cfg),
    dataDir: rel(root),
    trainImages: samples.length,
    valFerPlusImages: val.plus.data.length,
    valFer2013Images: val.orig.data.length,
    counts: sel.counts,
    config: { ...cfg, spec: undefined, pretrained: cfg.pretrained?.source, teacher: cfg.teacher ?? undefined, teacher7: cfg.teacher7 ?? undefined },
    work: rel(work),
    ...(initDir ? { init: rel(initDir) } : {}),
    ...(teacher
      ? { distillation: { teacher: teacher.source, dir: rel(teacher.dir), models: teacher.json.models, tta: teacher.json.tta, alpha: kd, target: '(1 - alpha) · FER+ votes + alpha · teacher' } }
      : {}),
    ...(teacher7
      ? { distillation7: { teacher: teacher7.source, dir: rel(teacher7.dir), models: teacher7.json.models, tta: teacher7.json.tta, alpha: kd7, target: '(1 - alpha) · label-smoothed FER2013 label + alpha · teacher' } }
      : {}),
    backend: backend.label,
    trainingParams: costTrain.params,
  };
  const state = await trainFer(samples, val, cfg, {
    checkpointDir: work,
    checkpointMinutes: num(args, 'checkpoint-minutes', 10),
    shouldStop: () => stop || Date.now() > deadline,
    validateOnStop: !args['no-validate-on-stop'],
    workers: num(args, 'workers', 1),
    onProgress: (p) => {
      if (quiet) return;
      if (p.step === p.steps || Date.now() - lastLine > 60000) {
        lastLine = Date.now();
        process.stderr.write(
          `${new Date().toISOString().slice(11, 19)} ${name} epoch ${p.epoch}/${p.epochs} step ${p.step}/${p.steps} loss ${p.loss.toFixed(4)} acc8 ${(p.accuracy * 100).toFixed(1)}% ${p.imagesPerSec.toFixed(1)} img/s ETA ${fmtTime(p.etaSeconds)}\n`,
        );
      }
    },
    onStart: (s, resumed) => {
      const from = initDir ? path.relative(process.cwd(), initDir) : null;
      if (resumed) process.stderr.write(`Resuming at epoch ${s.epoch} + ${s.stepInEpoch} steps${from ? ` (a run started from ${from}: its weights are not re-applied)` : ''}\n`);
      else if (from && cfg.pretrained) {
        const missing = HEAD_CLASSES.filter((c) => !cfg.pretrained?.classes.includes(c));
        process.stderr.write(
          `Starting from ${from}: trunk and ` +
            (missing.length === 0 ? 'both heads' : missing.length === HEAD_OUTPUTS ? 'no head outputs (it has no FER head: both heads start random)' : `${HEAD_OUTPUTS - missing.length}/${HEAD_OUTPUTS} head outputs (random: ${missing.join(', ')})`) +
            '; fresh optimizer and LR schedule\n',
        );
      }
    },
    onCheckpoint: (s) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} checkpoint: epoch ${s.epoch} step ${s.stepInEpoch} → ${path.relative(process.cwd(), work)}\n`),
    onEpoch: (rec, ev, improved) => {
      process.stderr.write(
        `${new Date().toISOString().slice(11, 19)} epoch ${rec.epoch}: loss ${rec.loss.toFixed(4)} train acc8 ${pct(rec.trainAccuracy8)} ${rec.imagesPerSec.toFixed(1)} img/s; ` +
          `PublicTest FER+ ${pct(rec.valFerPlus)} (macro-F1 ${pct(rec.valFerPlusMacroF1)}), FER2013 ${pct(rec.valFer2013)}` +
          (ev ? `, FER2013 from 8-class head ${pct(ev.fer2013From8Accuracy)}` : '') +
          (improved ? ` (${selName} best so far: exported)` : '') +
          '\n',
      );
    },
    onBest: async ({ folded8, folded7, record, ev, history, unfolded }) => {
      const common = { ...meta, epoch: record.epoch, validation: evalRecord(ev), exportedAt: new Date().toISOString(), weights: 'EMA' };
      await writeFerModels(outRoot, name, { variant, spec, folded8, folded7, unfolded }, common, history);
    },
  });
  const last = state.history.at(-1);
  const best = state.best;
  process.stderr.write(
    `${state.epoch >= cfg.epochs ? 'Finished' : 'Stopped'} at epoch ${state.epoch}${state.stepInEpoch ? ` + ${state.stepInEpoch} steps` : ''}/${cfg.epochs}; ` +
      `last epoch PublicTest FER+ ${pct(last?.valFerPlus)}, FER2013 ${pct(last?.valFer2013)}; ${selName} best ${pct(best ? selectedAccuracy(select, best) : undefined)} ` +
      `(epoch ${best?.epoch ?? '-'}${best ? `; FER+ ${pct(best.valFerPlus)}, FER2013 ${pct(best.valFer2013)}` : ''}). Rerun the same command to resume.\n`,
  );
}

if (require.main === module) runMain('train-fer', main, () => tf.disposeVariables());
