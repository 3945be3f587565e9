#!/usr/bin/env node
/**
 * `npm run train -- --data <folder with one subfolder per class> --variant nano-a|nano-b [options]`
 *
 * Full-data training (writes the inference model to --out, e.g. models/nano-b), or with
 * `--cv 10` subject-independent k-fold cross-validation (one result JSON per fold in
 * --results, a summary when all folds are done). Resumable: a checkpoint is written after every
 * epoch in --work (default .train/<run>/), finished folds are skipped. A checkpoint written with
 * other options or data is refused (the error names the options that differ), never overwritten.
 *
 * Options: --epochs 30 --batch 16 --lr 0.003 --wd 0.02 --smoothing 0.1 --seed 1 --no-augment --no-class-balance
 *          --all-frames (every frame each epoch; default: one random frame per CK+ sequence)
 *          --name <model name> --folds 0,1,2 (subset) --backend wasm|cpu|auto --quiet
 *          --init <checkpoint dir> (fine-tune from pretrained training-form weights, e.g. the
 *          in-the-wild FER+ model; classifier columns are copied by class name) --warmup 1
 *          --ema <decay> (evaluate and export an exponential moving average of the weights,
 *          updated after every optimizer step and kept in the checkpoints; default 0 = off)
 *          --soup <K> (model soup: every training — each CV fold, or the full-data one — trains K
 *          members with seeds seed … seed+K-1, each checkpointed in <work>/fold-<f>/seed-<s> or
 *          <work>/full/seed-<s> (a finished member is loaded, not retrained), and evaluates and
 *          exports the uniform average of their weights (BN moving statistics included; their
 *          EMA shadows under --ema), BN-folded: K× the training time, the inference cost of one
 *          model. Fold records add `soup: { k, seeds, members: [{ seed, accuracy, macroF1,
 *          ttaFlipAccuracy }] }`, the summary each seed's own CV mean and their spread, the
 *          exported model.json `training.soup: { k, seeds }`; default 1 = a single training)
 *
 * Every CV fold record also stores the fold model's flip test-time augmentation metrics
 * (`tta.flip`: each test image's probabilities averaged with its mirror image's). `--add-tta`
 * adds them to fold records written before that, from the folds' final checkpoints in --work
 * (only where the checkpoint reproduces the recorded predictions exactly); nothing is trained.
 * Soup records always carry them, so `--add-tta --soup K` is refused.
 *
 * `--selftest-only` (re)writes selftest.json of the model in --out from the final checkpoint in
 * --work (of the soup members with --soup K), once it has checked that the model's weights are
 * that checkpoint's; nothing is trained. Unknown options, bad --cv / --folds values, and --folds,
 * --results or --add-tta without --cv are refused before any work (exit code 2, like a missing --data).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../backend';
import { silentLogger } from '../log';
import { ArchSpec, countCost, variantSpec } from '../model/spec';
import { readModelDir, writeModelDir, NamedArrays } from '../model/io';
import { mirrorInto } from '../model';
import { ResolvedSpec, resolveSpec } from '../model/spec';
import { selfTestOf, writeSelfTest } from '../model/selftest';
import { loadLabelledFolder, Sample, subjectFolds } from '../train/data';
import { computeMetrics, meanStd, metricsFromConfusion } from '../train/metrics';
import { CliSpec, fmtTime, num, parseArgs, parseCli, ParsedArgs, runMain, UsageError } from './args';
import { makeDetectCrop, NO_FACE } from './detect-crop';
import { describeKeyDifferences } from '../train/config-key';
import { checkRunLength, CK_KEY_FIELDS, configKey, dataFingerprint, DEFAULT_TRAIN_CONFIG, emaDecayOf, foldWeights, foldWeightsSync, loadPretrained, predictProbabilities, ProgressInfo, TrainConfig, trainingFormWeights, trainModel } from '../train/trainer';
import { memberDir, soupFromCheckpoints, SoupMember, soupSeeds, soupSize, trainSoup } from '../train/soup';

export { parseArgs, num, fmtTime };
export type { ParsedArgs };

function progressPrinter(prefix: string, quiet: boolean): (p: ProgressInfo) => void {
  const tty = process.stderr.isTTY;
  let lastLine = 0;
  return (p) => {
    if (quiet) return;
    const width = 20;
    const frac = (p.epoch - 1 + p.step / p.steps) / p.epochs;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const text = `${prefix} [${bar}] epoch ${p.epoch}/${p.epochs} step ${p.step}/${p.steps} loss ${p.loss.toFixed(4)} acc ${(p.accuracy * 100).toFixed(1)}% ${p.imagesPerSec.toFixed(1)} img/s ETA ${fmtTime(p.etaSeconds)}`;
    if (tty) process.stderr.write(`\r\x1b[K${text}`);
    else if (p.step === p.steps || Date.now() - lastLine > 30000) {
      lastLine = Date.now();
      process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${text}\n`);
    }
    if (tty && p.step === p.steps) process.stderr.write('\n');
  };
}

/** The command line of `npm run train` (every `--name` of `usage` is an accepted option). */
export const TRAIN_CLI: CliSpec = {
  usage:
    'Usage: npm run train -- --data <dir> --variant nano-a|nano-b [--cv 10 --results <dir>] [--out models/<name>] [--name <model name>]\n' +
    '       [--epochs 30] [--batch 16] [--lr 0.003] [--wd 0.02] [--smoothing 0.1] [--seed 1] [--no-augment] [--no-class-balance]\n' +
    '       [--all-frames (every frame each epoch; default: one random frame per CK+ sequence)]\n' +
    '       [--folds 0,1,...] [--work .train/<run>] [--backend wasm|cpu|auto] [--quiet]\n' +
    '       [--detect [--framing fer2013|ck48]: find and align the largest face of each image first with the face stage\'s detector and crop\n' +
    '        (uncropped photos or camera snapshots; the framing, default fer2013 like the face node, is recorded in the model)]\n' +
    '       [--subject <regex>: the person of each image from its file name (first capture group), for subject-independent --cv folds;\n' +
    '        default: CK+ names S010_004_00000017.png -> S010, else every file its own subject]\n' +
    '       [--init <checkpoint dir to fine-tune from>] [--warmup 1] [--ema <decay, e.g. 0.98 (the warm-up min(decay, (1+t)/(10+t)) caps a 480-step run at ~0.98); default 0 = off>]\n' +
    '       [--soup <K>: train K seeds (seed … seed+K-1) per training and evaluate/export the uniform average of their weights;\n' +
    '        K× the training time, the inference cost of one model; default 1 = off]\n' +
    '       [--cv 10 --add-tta: add flip-TTA metrics to finished fold records from the checkpoints in --work (not with --soup)]\n' +
    '       [--selftest-only: rewrite selftest.json in --out from the final checkpoint in --work (refused unless --out holds its weights); nothing is trained]\n',
};

/**
 * `--cv <k>` and the options that only mean something with it: `k` (0 without `--cv`) and the
 * folds to run (`--folds`, default all). Usage errors, before any data is read: a `k` that is not
 * a whole number >= 2, a `--folds` item that is not a fold of `k`, `--folds` / `--results` /
 * `--add-tta` without `--cv` (they would otherwise be ignored and a full-data model trained and
 * written to --out), and `--selftest-only` with `--cv` (it would run the cross-validation).
 */
export function cvOptions(args: ParsedArgs): { k: number; folds?: number[] } {
  if (args.cv === undefined) {
    const needCv = [args.folds !== undefined && '--folds', args.results !== undefined && '--results', args['add-tta'] !== undefined && '--add-tta'].filter(Boolean);
    if (needCv.length) throw new UsageError(`${needCv.join(' and ')} ${needCv.length > 1 ? 'are' : 'is'} for cross-validation: add --cv <k> (without it a full-data model is trained); see --help`);
    return { k: 0 };
  }
  const k = num(args, 'cv', 10);
  if (!Number.isInteger(k) || k < 2) throw new UsageError(`--cv must be a whole number of folds >= 2, got ${String(args.cv)}`);
  if (args['selftest-only']) throw new UsageError('--selftest-only rewrites selftest.json of a full-data model (--out), not of a --cv run: drop --cv or --selftest-only');
  if (args.folds === undefined) return { k };
  const items = typeof args.folds === 'string' ? args.folds.split(',').map((x) => x.trim()).filter(Boolean) : [];
  const bad = items.filter((x) => !/^\d+$/.test(x) || Number(x) >= k);
  if (items.length === 0 || bad.length) {
    throw new UsageError(`--folds needs a comma-separated list of fold numbers 0..${k - 1} (--cv ${k})${bad.length ? `, got ${bad.map((b) => `"${b}"`).join(', ')}` : ''}`);
  }
  return { k, folds: [...new Set(items.map(Number))] };
}

/** `--subject <regex>` as a RegExp (case-insensitive), or undefined; a usage error when it does not compile. */
export function subjectPatternOption(args: ParsedArgs): RegExp | undefined {
  const v = args.subject;
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new UsageError('--subject needs a regular expression, e.g. --subject "^([^_]+)_"; see --help');
  try {
    return new RegExp(v, 'i');
  } catch (e) {
    throw new UsageError(`--subject: not a regular expression: ${(e as Error).message}`);
  }
}

async function main(): Promise<void> {
  const args = parseCli(process.argv.slice(2), TRAIN_CLI);
  if (!args) return;
  if (!args.data) {
    process.stdout.write(TRAIN_CLI.usage);
    process.exitCode = 2;
    return;
  }
  const dataDir = path.resolve(String(args.data));
  const variant = String(args.variant ?? 'nano-b');
  const spec = variantSpec(variant);
  const quiet = Boolean(args.quiet);
  const soupK = soupSize(args.soup);
  const emaDecay = emaDecayOf({ emaDecay: num(args, 'ema', DEFAULT_TRAIN_CONFIG.emaDecay ?? 0) }); // clear error before any data is read
  // The other numbers too: a valueless --epochs or --batch 0 is refused before the data is read
  // (which takes minutes with --detect), not after.
  const numbers = {
    epochs: num(args, 'epochs', DEFAULT_TRAIN_CONFIG.epochs),
    batchSize: num(args, 'batch', DEFAULT_TRAIN_CONFIG.batchSize),
    lr: num(args, 'lr', DEFAULT_TRAIN_CONFIG.lr),
    weightDecay: num(args, 'wd', DEFAULT_TRAIN_CONFIG.weightDecay),
    labelSmoothing: num(args, 'smoothing', DEFAULT_TRAIN_CONFIG.labelSmoothing),
    seed: num(args, 'seed', DEFAULT_TRAIN_CONFIG.seed),
    warmupEpochs: num(args, 'warmup', DEFAULT_TRAIN_CONFIG.warmupEpochs),
  };
  checkRunLength(numbers);
  const cv = cvOptions(args);
  const backend = await selectBackend({ backend: String(args.backend ?? 'wasm'), logger: silentLogger });
  const subjectPattern = subjectPatternOption(args);
  if (args.framing === true) throw new UsageError('--framing needs a value (fer2013 or ck48); see --help');
  if (args.framing !== undefined && !args.detect) throw new UsageError('--framing is the crop framing of --detect: add --detect (or drop --framing)');
  // --detect: the face stage's own detector and crop, so the model sees what the face node gives it.
  const framing = args.detect ? String(args.framing ?? 'fer2013') : undefined;
  const detector = framing ? await makeDetectCrop(String(args.backend ?? 'wasm'), framing) : null;
  let ds: Awaited<ReturnType<typeof loadLabelledFolder>>;
  try {
    ds = await loadLabelledFolder(dataDir, { subjectPattern, ...(detector ? { transform: (f: string) => detector.crop(f) } : {}) });
  } finally {
    detector?.dispose();
  }
  const noFace = ds.unreadable.filter((u) => u.error === NO_FACE);
  const unreadable = ds.unreadable.filter((u) => u.error !== NO_FACE);
  checkTrainableClasses(ds, String(args.data));
  if (ds.unknownFolders.length) process.stderr.write(`Skipping folders with no known class: ${ds.unknownFolders.join(', ')}\n`);
  if (unreadable.length) process.stderr.write(`Skipping ${unreadable.length} unreadable files (first: ${unreadable[0].file}: ${unreadable[0].error})\n`);
  if (ds.notImages.length) process.stderr.write(`Skipping ${ds.notImages.length} files that are not PNG/JPEG/TIFF images (first: ${ds.notImages[0]})\n`);
  if (noFace.length) process.stderr.write(`Skipping ${noFace.length} images with no face found (first: ${noFace[0].file})\n`);
  if (framing) process.stderr.write(`Training on face crops made by the face stage (--detect, framing ${framing}): ${ds.samples.length} images\n`);
  const base: TrainConfig = {
    ...DEFAULT_TRAIN_CONFIG,
    variant: variant.replace(/-8$/, ''),
    spec,
    classes: ds.classes,
    ...numbers,
    augment: args['no-augment'] ? null : DEFAULT_TRAIN_CONFIG.augment,
    classBalance: !args['no-class-balance'],
    onePerGroup: !args['all-frames'],
    emaDecay,
    pretrained: args.init ? loadPretrained(path.resolve(String(args.init)), spec) : null,
  };
  if (emaDecay > 0) process.stderr.write(`Evaluating and exporting the EMA of the weights (decay ${emaDecay})\n`);
  if (base.pretrained) process.stderr.write(`Fine-tuning from ${args.init} (classifier columns copied for: ${ds.classes.filter((c) => base.pretrained?.classes.includes(c)).join(', ') || 'none'})\n`);
  const dataset = path.basename(dataDir);
  const cost = countCost(spec, ds.classes.length);
  const runName = `${dataset}-${variant}`;
  const work = path.resolve(String(args.work ?? path.join('.train', runName)));
  process.stderr.write(
    `${spec.name}: ${cost.params} params, ${(cost.macs / 1e6).toFixed(1)} M MACs; ${ds.samples.length} images, ${new Set(ds.samples.map((s) => s.subject)).size} subjects, classes ${ds.classes.join(',')}; backend ${backend.label}\n`,
  );
  const commonMeta = { dataset, dataDir: path.relative(process.cwd(), dataDir) || dataDir, config: { ...base, spec: undefined, pretrained: base.pretrained?.source }, backend: backend.label, params: cost.params, macs: cost.macs, ...(framing ? { detect: true, framing } : {}) };

  if (cv.k) {
    const k = cv.k;
    if (!subjectPattern && ds.samples.length > 1 && ds.samples.every((s) => s.subject.startsWith('file:'))) {
      process.stderr.write(
        'Warning: no file name gives a subject (person), so every image is a subject of its own and one person\'s images can fall into both the training and the test folds ' +
          '(the CV figure is then optimistic): name files like S010_001_0001.png (CK+) or pass --subject with a pattern, e.g. --subject "^([^_]+)_" for anna_01.png\n',
      );
    }
    const results = path.resolve(String(args.results ?? path.join('models', 'cv', runName)));
    fs.mkdirSync(results, { recursive: true });
    const folds = subjectFolds(ds.samples, k, base.seed);
    const only = cv.folds ?? folds.map((_, i) => i);
    if (args['add-tta']) {
      if (soupK > 1) throw new Error('--add-tta fills in flip-TTA metrics of fold records written before they existed; --soup runs always record them (for the soup and every seed), so there is nothing to add: drop --soup or --add-tta');
      for (const f of only) {
        const out = path.join(results, `fold-${f}.json`);
        const msg = await addTtaToFold(out, path.join(work, `fold-${f}`), folds[f].map((i) => ds.samples[i]), ds.classes);
        process.stderr.write(`fold ${f}: ${msg}\n`);
      }
      writeCvSummary(results, k);
      return;
    }
    const plan = only.map((f) => {
      const out = path.join(results, `fold-${f}.json`);
      const testIdx = new Set(folds[f]);
      const train: Sample[] = ds.samples.filter((_, i) => !testIdx.has(i));
      const test: Sample[] = folds[f].map((i) => ds.samples[i]);
      // What the fold record was computed from: options (not --soup, noted below) and images.
      const key = configKey(base, train.length);
      const data = `${dataFingerprint(train)}/${dataFingerprint(test)}`;
      let done: { soup?: SoupRecord } | null = null;
      if (fs.existsSync(out)) {
        const old = JSON.parse(fs.readFileSync(out, 'utf8')) as { soup?: SoupRecord; key?: string; data?: string };
        // Records written before these fields existed are kept as they are.
        if (old.key !== undefined && old.key !== key) {
          const diff = describeKeyDifferences(old.key, key, CK_KEY_FIELDS, 'record');
          throw new Error(`fold ${f}: ${out} was written with other options${diff.length ? ` (${diff.join('; ')})` : ''}; move it away or pass a new --results directory (and --work)`);
        }
        if (old.data !== undefined && old.data !== data) {
          throw new Error(`fold ${f}: ${out} was written with other images (other pixels, labels, files or subjects in this fold); move it away or pass a new --results directory (and --work)`);
        }
        done = old;
      }
      return { f, out, train, test, key, data, done };
    });
    // Every existing record is checked above, before any fold trains: a stale record of a later
    // fold stops the run now, not hours into it.
    for (const { f, out, train, test, key, data, done } of plan) {
      if (done) {
        const k = done.soup?.k ?? 1;
        const kind = (n: number) => (n > 1 ? `a soup of ${n} seeds` : 'a single model');
        process.stderr.write(`fold ${f}: done already (${out}${k !== soupK ? `: ${kind(k)}, not ${kind(soupK)}` : ''})\n`);
        continue;
      }
      const trainSubjects = new Set(train.map((s) => s.subject));
      if (test.some((s) => trainSubjects.has(s.subject))) throw new Error('internal error: subject leak between train and test');
      const t0 = Date.now();
      const dir = path.join(work, `fold-${f}`);
      const res =
        soupK > 1
          ? await trainSoup(train, base, soupK, { checkpointDir: dir, onProgress: (seed) => progressPrinter(`fold ${f} seed ${seed}`, quiet), onMember: memberNote(`fold ${f}`, base.epochs) })
          : await trainModel(train, base, { checkpointDir: dir, onProgress: progressPrinter(`fold ${f}`, quiet) });
      const { pred, m, flip } = await evaluateFolded(res.resolved, res.folded, ds.classes, test);
      let soup: SoupRecord | undefined;
      if ('members' in res) {
        const members = [];
        for (const mem of res.members) {
          const e = await evaluateFolded(mem.result.resolved, mem.result.folded, ds.classes, test);
          members.push({ seed: mem.seed, accuracy: e.m.accuracy, macroF1: e.m.macroF1, ttaFlipAccuracy: e.flip.accuracy });
        }
        soup = { k: soupK, seeds: members.map((x) => x.seed), members };
      }
      const record = {
        fold: f,
        folds: k,
        ...commonMeta,
        key,
        data,
        testSubjects: [...new Set(test.map((s) => s.subject))].sort(),
        trainImages: train.length,
        testImages: test.length,
        accuracy: m.accuracy,
        macroF1: m.macroF1,
        perClass: m.perClass,
        confusion: m.confusion,
        classes: ds.classes,
        history: res.history,
        predictions: test.map((s, i) => ({ file: path.basename(s.file), label: ds.classes[s.label], pred: ds.classes[pred[i]] })),
        tta: { flip },
        ...(soup ? { soup } : {}),
        trainSeconds: Math.round((Date.now() - t0) / 1000),
        finishedAt: new Date().toISOString(),
      };
      fs.writeFileSync(out, JSON.stringify(record, null, 1) + '\n');
      const singles = soup ? `; single seeds ${soup.members.map((x) => `${x.seed}: ${(x.accuracy * 100).toFixed(2)}%`).join(', ')}` : '';
      process.stderr.write(`fold ${f}: ${soup ? `soup of ${soupK} seeds ` : ''}accuracy ${(m.accuracy * 100).toFixed(2)}% (flip TTA ${(flip.accuracy * 100).toFixed(2)}%; ${test.length} images${singles}) in ${fmtTime((Date.now() - t0) / 1000)}\n`);
    }
    writeCvSummary(results, k);
    return;
  }

  const outDir = path.resolve(String(args.out ?? path.join('models', variant)));
  const name = String(args.name ?? path.basename(outDir));
  if (args['selftest-only']) {
    const s = exportedTrainingWeights(outDir, path.join(work, 'full'), soupK > 1 ? soupSeeds(base.seed, soupK) : null);
    await writeSelfTest(outDir, await selfTestOf(s.spec, s.classes, s.weights, soupK > 1 ? soupSelfTestNote(soupK) : undefined));
    process.stderr.write(`Wrote ${path.join(outDir, 'selftest.json')} (exported = checkpoint weights, max difference ${s.maxDiff.toExponential(1)})\n`);
    return;
  }
  const t0 = Date.now();
  const full = path.join(work, 'full');
  const res =
    soupK > 1
      ? await trainSoup(ds.samples, base, soupK, { checkpointDir: full, onProgress: (seed) => progressPrinter(`${name} seed ${seed}`, quiet), onMember: memberNote(name, base.epochs) })
      : await trainModel(ds.samples, base, { checkpointDir: full, onProgress: progressPrinter(name, quiet) });
  const soupMeta = 'members' in res ? { soup: { k: soupK, seeds: res.members.map((m) => m.seed) } } : {};
  writeModelDir(
    outDir,
    {
      name,
      variant: base.variant,
      classes: ds.classes,
      spec,
      folded: true,
      training: { ...commonMeta, ...soupMeta, images: ds.samples.length, history: res.history, trainSeconds: Math.round((Date.now() - t0) / 1000), finishedAt: new Date().toISOString() },
    },
    res.folded,
  );
  // The reference outputs are of the exported weights: the soup's, or the last checkpoint's.
  await writeSelfTest(outDir, 'members' in res ? await selfTestOf(spec, ds.classes, res.weights, soupSelfTestNote(soupK)) : full);
  process.stderr.write(`Wrote ${outDir}${'members' in res ? ` (soup of ${soupK} seeds)` : ''} (final train loss ${res.history.at(-1)?.loss.toFixed(4)}, acc ${((res.history.at(-1)?.accuracy ?? 0) * 100).toFixed(1)}%)\n`);
}

/**
 * A model needs images of at least two classes: a clear error naming the classes found (with
 * their image counts), the empty class folders and the unknown ones, before anything is trained.
 */
export function checkTrainableClasses(ds: { classes: string[]; samples: Array<{ label: number }>; unknownFolders: string[] }, data: string): void {
  const counts = ds.classes.map((c, i) => ({ c, n: ds.samples.filter((s) => s.label === i).length }));
  const withImages = counts.filter((x) => x.n > 0);
  if (withImages.length >= 2) return;
  const empty = counts.filter((x) => x.n === 0).map((x) => x.c);
  throw new Error(
    `${data}: training needs images of at least two classes (one subfolder per class); found ` +
      (withImages.length ? `images of one class only: ${withImages.map((x) => `${x.c} (${x.n} image${x.n === 1 ? '' : 's'})`).join(', ')}` : 'no images') +
      (empty.length ? `; class folders without readable images: ${empty.join(', ')}` : '') +
      (ds.unknownFolders.length ? `; folders with no known class (skipped): ${ds.unknownFolders.join(', ')}` : ''),
  );
}

/**
 * `--selftest-only`: the training-form weights behind the model exported in `outDir`: the final
 * checkpoint in `full` (or, with `soupSeeds`, the soup of the members' checkpoints in
 * `full/seed-<s>`), after checking that, BN-folded, they ARE the exported weights. A checkpoint of
 * another run or an unfinished one would give a reference that load() of the model cannot
 * reproduce; that is an error and nothing is written.
 */
export function exportedTrainingWeights(outDir: string, full: string, soupSeedList: number[] | null): { spec: ArchSpec; classes: string[]; weights: NamedArrays; maxDiff: number } {
  let src: { spec: ArchSpec; classes: string[]; weights: NamedArrays };
  if (soupSeedList) src = soupFromCheckpoints(soupSeedList.map((seed) => memberDir(full, seed)));
  else {
    const ck = readModelDir(full);
    src = { spec: ck.json.spec, classes: ck.json.classes, weights: trainingFormWeights(ck.arrays) };
  }
  const model = readModelDir(outDir);
  const from = soupSeedList ? `the soup of ${soupSeedList.map((s) => memberDir(full, s)).join(', ')}` : `the checkpoint in ${full}`;
  if (JSON.stringify(model.json.classes) !== JSON.stringify(src.classes)) throw new Error(`${outDir} has other classes than ${from}; selftest.json not written`);
  const folded = foldWeightsSync(resolveSpec(src.spec), src.weights);
  let maxDiff = 0;
  for (const [n, a] of Object.entries(folded)) {
    const b = model.arrays[n];
    if (!b || b.data.length !== a.data.length) throw new Error(`${outDir}: weight ${n} does not match the shapes of ${from}; selftest.json not written`);
    for (let i = 0; i < a.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a.data[i] - b.data[i]));
  }
  if (!(maxDiff <= 1e-5)) throw new Error(`${outDir} holds other weights than ${from} (max difference ${maxDiff}; another run, or one that has not finished); selftest.json not written`);
  return { ...src, maxDiff };
}

/** Writes `<results>/summary.json` from the fold files present (complete or not). */
export function writeCvSummary(results: string, k: number): void {
  const files = fs.readdirSync(results).filter((f) => /^fold-\d+\.json$/.test(f));
  if (files.length === 0) return;
  const recs = files.map((f) => JSON.parse(fs.readFileSync(path.join(results, f), 'utf8'))).sort((a, b) => a.fold - b.fold);
  const classes: string[] = recs[0].classes;
  const pooled = classes.map(() => classes.map(() => 0));
  for (const r of recs) r.confusion.forEach((row: number[], i: number) => row.forEach((v, j) => (pooled[i][j] += v)));
  const pm = metricsFromConfusion(classes, pooled);
  const accs = recs.map((r) => r.accuracy as number);
  const ms = meanStd(accs);
  // Flip test-time augmentation of the same fold models, when every fold has it.
  let tta: { flip: { meanAccuracy: number; stdAccuracy: number; pooled: { accuracy: number; macroF1: number; confusion: number[][] } } } | undefined;
  if (recs.every((r) => r.tta?.flip)) {
    const pooledFlip = classes.map(() => classes.map(() => 0));
    for (const r of recs) (r.tta.flip.confusion as number[][]).forEach((row, i) => row.forEach((v, j) => (pooledFlip[i][j] += v)));
    const fm = metricsFromConfusion(classes, pooledFlip);
    const fms = meanStd(recs.map((r) => r.tta.flip.accuracy as number));
    tta = { flip: { meanAccuracy: fms.mean, stdAccuracy: fms.std, pooled: { accuracy: fm.accuracy, macroF1: fm.macroF1, confusion: pooledFlip } } };
  }
  const soup = soupSummary(recs);
  const summary = {
    dataset: recs[0].dataset,
    variant: recs[0].config?.variant,
    params: recs[0].params,
    macs: recs[0].macs,
    folds: k,
    completedFolds: recs.map((r) => r.fold),
    complete: recs.length === k,
    meanAccuracy: ms.mean,
    stdAccuracy: ms.std,
    perFold: recs.map((r) => ({
      fold: r.fold,
      accuracy: r.accuracy,
      ...(r.tta?.flip ? { ttaFlipAccuracy: r.tta.flip.accuracy } : {}),
      ...(r.soup ? { seedAccuracies: (r.soup as SoupRecord).members.map((m) => m.accuracy) } : {}),
      testImages: r.testImages,
      testSubjects: r.testSubjects.length,
    })),
    pooled: { accuracy: pm.accuracy, macroF1: pm.macroF1, perClass: pm.perClass, confusion: pooled, classes },
    ...(tta ? { tta } : {}),
    ...(soup ? { soup } : {}),
    config: recs[0].config,
  };
  fs.writeFileSync(path.join(results, 'summary.json'), JSON.stringify(summary, null, 1) + '\n');
  process.stderr.write(
    `CV ${summary.dataset} ${summary.variant}: ${recs.length}/${k} folds, mean ${(ms.mean * 100).toFixed(2)} ± ${(ms.std * 100).toFixed(2)} %, pooled ${(pm.accuracy * 100).toFixed(2)} %` +
      (tta ? `; flip TTA mean ${(tta.flip.meanAccuracy * 100).toFixed(2)} ± ${(tta.flip.stdAccuracy * 100).toFixed(2)} %, pooled ${(tta.flip.pooled.accuracy * 100).toFixed(2)} %` : '') +
      (soup ? `\n  ${soupLine(soup)}` : '') +
      '\n',
  );
}

/** `soup` of a CV fold record (`--soup K`, K > 1): the seeds and each one's metrics on the same test fold. */
export interface SoupRecord {
  k: number;
  seeds: number[];
  members: Array<{ seed: number; accuracy: number; macroF1: number; ttaFlipAccuracy: number }>;
}

const soupSelfTestNote = (k: number) =>
  `Probabilities of the unfolded training-form graph (BN in inference mode) of the soup (uniform weight average of the last checkpoints of ${k} seeds) for selfTestInputs(); load() must reproduce them.`;

/** Logs a soup member that was loaded from its finished checkpoint instead of trained. */
function memberNote(prefix: string, epochs: number): (m: SoupMember) => void {
  return (m) => {
    if (m.reused) process.stderr.write(`${prefix} seed ${m.seed}: finished already (checkpoint at epoch ${epochs}), not retrained\n`);
  };
}

/** Predictions, metrics and flip-TTA metrics of folded weights on a test fold. */
async function evaluateFolded(r: ResolvedSpec, folded: NamedArrays, classes: string[], test: Sample[]) {
  const probs = await predictProbabilities(r, folded, test.map((s) => s.data));
  const pred = probs.map(argmax);
  const m = computeMetrics(classes, test.map((s) => s.label), pred);
  return { pred, m, flip: await flipTtaMetrics(r, folded, classes, test, probs) };
}

/** Seed-to-seed spread of a soup CV run: each seed's own CV mean over the folds, and their min/max/std. */
export interface SoupSummary {
  k: number;
  seeds: number[];
  /** One CV figure per seed: that seed's single model on every fold. */
  members: Array<{ seed: number; meanAccuracy: number; stdAccuracy: number; ttaFlipMeanAccuracy: number }>;
  /** The spread of the per-seed CV means (sample std over seeds). */
  singleSeedCv: { mean: number; std: number; min: number; max: number };
}

/** The soup part of the CV summary, when every fold record is a soup of the same seeds. */
export function soupSummary(recs: Array<{ soup?: SoupRecord }>): SoupSummary | undefined {
  const first = recs[0]?.soup;
  if (!first || !recs.every((r) => r.soup && JSON.stringify(r.soup.seeds) === JSON.stringify(first.seeds))) return undefined;
  const members = first.seeds.map((seed) => {
    const of = recs.map((r) => (r.soup as SoupRecord).members.find((m) => m.seed === seed) as SoupRecord['members'][number]);
    const ms = meanStd(of.map((m) => m.accuracy));
    return { seed, meanAccuracy: ms.mean, stdAccuracy: ms.std, ttaFlipMeanAccuracy: meanStd(of.map((m) => m.ttaFlipAccuracy)).mean };
  });
  const means = members.map((m) => m.meanAccuracy);
  const spread = meanStd(means);
  return { k: first.k, seeds: first.seeds, members, singleSeedCv: { mean: spread.mean, std: spread.std, min: Math.min(...means), max: Math.max(...means) } };
}

/** `soup of 3 seeds; single seeds: CV means 95.10 / 96.20 / 95.80 % (spread 95.10–96.20 %, std 0.56 points; their mean 95.70 %)`. */
export function soupLine(s: SoupSummary): string {
  const p = (x: number) => (x * 100).toFixed(2);
  const c = s.singleSeedCv;
  return (
    `soup of ${s.k} seeds (${s.seeds.join(', ')}); single seeds: CV means ${s.members.map((m) => p(m.meanAccuracy)).join(' / ')} % ` +
    `(spread ${p(c.min)}–${p(c.max)} %, std ${p(c.std)} points; their mean ${p(c.mean)} %)`
  );
}

const argmax = (p: ArrayLike<number>): number => {
  let best = 0;
  for (let c = 1; c < p.length; c++) if (p[c] > p[best]) best = c;
  return best;
};

/** Flip test-time augmentation metrics of a fold model (the cost: one more pass over the mirrored test images). */
export interface FlipTtaMetrics {
  accuracy: number;
  macroF1: number;
  confusion: number[][];
}

/**
 * Metrics of folded weights with flip test-time augmentation: each test image's probabilities
 * (`probs`, already computed on the originals) averaged with those of its mirror image — what
 * `load({ tta: 'flip' })` does at inference.
 */
export async function flipTtaMetrics(r: ResolvedSpec, folded: NamedArrays, classes: string[], test: Sample[], probs: Float32Array[]): Promise<FlipTtaMetrics> {
  const size = r.spec.inputSize;
  const mirrored = test.map((s) => {
    const m = new Uint8Array(size * size);
    mirrorInto(s.data, 0, m, 0, size, size);
    return m;
  });
  const flipped = await predictProbabilities(r, folded, mirrored);
  const pred = probs.map((p, i) => argmax(p.map((v, c) => v + flipped[i][c])));
  const m = computeMetrics(classes, test.map((s) => s.label), pred);
  return { accuracy: m.accuracy, macroF1: m.macroF1, confusion: m.confusion };
}

/**
 * `--add-tta`: adds `tta.flip` to a finished fold record from the fold's final training
 * checkpoint. The checkpoint must be of the last epoch and reproduce every recorded prediction
 * (else the record is left alone and the reason returned).
 */
export async function addTtaToFold(recordFile: string, checkpointDir: string, test: Sample[], classes: string[]): Promise<string> {
  if (!fs.existsSync(recordFile)) return `no record (${recordFile}), skipped`;
  const rec = JSON.parse(fs.readFileSync(recordFile, 'utf8'));
  if (rec.tta?.flip) return `has flip TTA already (${(rec.tta.flip.accuracy * 100).toFixed(2)} %)`;
  if (rec.soup) return 'a soup record (--soup): flip TTA is recorded with it, not added afterwards, skipped';
  if (!fs.existsSync(path.join(checkpointDir, 'model.json'))) return `no checkpoint in ${checkpointDir}, skipped`;
  const ck = readModelDir(checkpointDir);
  const epoch = (ck.json.training as { epoch?: number } | undefined)?.epoch;
  if (ck.json.folded || epoch !== rec.config?.epochs) return `checkpoint is not the final training state (epoch ${String(epoch)} of ${String(rec.config?.epochs)}), skipped`;
  if (JSON.stringify(ck.json.classes) !== JSON.stringify(classes)) return 'checkpoint classes differ from the data, skipped';
  const r = resolveSpec(ck.json.spec);
  const folded = await foldWeights(r, trainingFormWeights(ck.arrays));
  const probs = await predictProbabilities(r, folded, test.map((s) => s.data));
  const recorded: Array<{ file: string; pred: string }> = rec.predictions ?? [];
  const same = recorded.length === test.length && test.every((s, i) => recorded[i].file === path.basename(s.file) && recorded[i].pred === classes[argmax(probs[i])]);
  if (!same) return 'checkpoint does not reproduce the recorded predictions, skipped';
  const flip = await flipTtaMetrics(r, folded, classes, test, probs);
  rec.tta = { flip };
  fs.writeFileSync(recordFile, JSON.stringify(rec, null, 1) + '\n');
  return `accuracy ${(rec.accuracy * 100).toFixed(2)} %, flip TTA ${(flip.accuracy * 100).toFixed(2)} % (added)`;
}

if (require.main === module) runMain('train', main, () => tf.disposeVariables(), { usageExitCode: 2 });
