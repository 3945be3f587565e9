#!/usr/bin/env node
/**
 * `npm run eval -- --data <folder with one subfolder per class> [--model <name|path>] [--json]`
 *
 * Classifies every image of a labelled folder with a model and prints accuracy, per-class
 * recall (and precision, F1), macro-F1 and the confusion matrix (rows = true class, columns =
 * predicted). Folder names map to classes by synonyms (angry → anger, happiness → happy, …);
 * classes the model lacks and unknown folders are reported and skipped. Images of any size
 * and format (PNG, JPEG, TIFF; gray, colour, palette) are converted to 48x48 gray; with
 * `--detect` the face detector finds and aligns the largest face first (for uncropped photos),
 * cropped with the framing the model was trained on (`ck48` for the CK+ models, `fer2013` for
 * the in-the-wild ones; `--framing` overrides it).
 *
 * `--model` defaults to `nano-a` (not the library's default `nano-b-wild`): this is the CK+
 * benchmark CLI, and its default stays the paper's CK+ model so that a run without `--model`
 * measures what it always measured. Name the model to evaluate anything else.
 *
 * Options: see {@link EVAL_CLI} (`--help`). Unknown options are refused before any work.
 * Exit code: 0 on success, 1 on error (message on stderr), 2 on bad usage.
 */
import * as path from 'path';
import { load, EmotionClassifier, MODELS, TtaMode } from '../model';
import { modelFraming } from '../classify';
import { silentLogger } from '../log';
import { canonicalLabel, CANONICAL_CLASSES, loadLabelledFolder, readGrayImage } from '../train/data';
import { computeMetrics, Metrics } from '../train/metrics';
import { CliSpec, parseCli, runMain, UsageError, ttaArg, wholeNumber } from './args';
import { makeDetectCrop, NO_FACE } from './detect-crop';

/** The model `npm run eval` evaluates without `--model`: the paper's CK+ benchmark model (see the file comment). */
export const EVAL_DEFAULT_MODEL = 'nano-a';

/** The command line of `npm run eval` (every `--name` of `usage` is an accepted option). */
export const EVAL_CLI: CliSpec = {
  usage:
    'Usage: npm run eval -- --data <folder with one subfolder per class> [--json]\n' +
    `       [--model <${Object.keys(MODELS).join('|')}|path> (default ${EVAL_DEFAULT_MODEL}, the CK+ benchmark model)]\n` +
    '       [--detect [--framing ck48|fer2013]] [--backend auto|wasm|cpu] [--batch 64] [--tta none|flip]\n',
  notes:
    '  --model     a registered model or a model directory / model.json; for photos from real cameras name an\n' +
    '              in-the-wild model (e.g. nano-b-wild, the library default); the default is the CK+ benchmark model\n' +
    '  --json      print the report as JSON (default: a table)\n' +
    '  --detect    find and align the largest face of each image first (uncropped photos)\n' +
    "  --framing   crop framing for --detect; default: the model's (ck48 for the CK+ models, fer2013 for the in-the-wild ones;\n" +
    '              for a model given by path, the framing it was trained with by train --detect, else ck48)\n' +
    '  --batch     faces per classifier call\n' +
    '  --tta flip  mirror averaging: each face averaged with its mirror image\n' +
    'Exit code: 0 on success, 1 on error, 2 on bad usage (e.g. an unknown option).\n',
};

export interface EvalOptions {
  data: string;
  model?: string;
  backend?: string;
  batch?: number;
  /** Run face detection + alignment first (uncropped photos). */
  detect?: boolean;
  /** Crop framing name for --detect. @default the model's framing (`ck48` for the CK+ models, `fer2013` for the in-the-wild ones; for a model path the framing recorded by `train --detect`, else `ck48`) */
  framing?: string;
  /** Test-time augmentation of the loaded classifier (ignored when a classifier is passed in). @default 'none' */
  tta?: TtaMode;
}

export interface EvalReport {
  model: string;
  backend: string;
  /** Test-time augmentation the classifier ran with (`flip`: mirror averaging). */
  tta: TtaMode;
  /** --detect: the crop framing used. */
  framing?: string;
  data: string;
  classes: string[];
  images: number;
  accuracy: number;
  macroF1: number;
  perClassRecall: Record<string, number>;
  perClass: Metrics['perClass'];
  confusion: { classes: string[]; matrix: number[][] };
  skipped: {
    /** Class folders whose class the model does not have. */
    classesNotInModel: Array<{ class: string; images: number }>;
    /** Folders that map to no known class. */
    unknownFolders: string[];
    unreadable: Array<{ file: string; error: string }>;
    /** Files that are not PNG/JPEG/TIFF by their extension (e.g. .webp, .gif, .bmp). */
    notImages: string[];
    /** --detect: images with no face found. */
    noFace: string[];
  };
  seconds: number;
  facesPerSec: number;
}

/** Evaluates a model on a labelled folder (the library form of the CLI). */
export async function evaluateFolder(opts: EvalOptions, classifier?: EmotionClassifier): Promise<EvalReport> {
  const model = opts.model ?? EVAL_DEFAULT_MODEL;
  const clf = classifier ?? (await load({ model, backend: opts.backend, tta: opts.tta, logger: silentLogger }));
  // The classifier's own framing: the registry's for a built-in model, the one `train --detect`
  // recorded for a model path (see load()); a classifier passed in without one: its model name's.
  const framing = opts.detect ? (opts.framing ?? clf.framing ?? modelFraming(model) ?? 'ck48') : undefined;
  // Crops of the model's input size, like the images read without --detect.
  const detector = framing ? await makeDetectCrop(opts.backend, framing, clf.inputSize) : null;
  const noFace: string[] = [];
  try {
    const ds = await loadLabelledFolder(path.resolve(opts.data), {
      classes: [...CANONICAL_CLASSES],
      transform: detector ? (f) => detector.crop(f) : (f) => readGrayImage(f, clf.inputSize),
    });
    const unreadable = ds.unreadable.filter((u) => {
      if (u.error === NO_FACE) {
        noFace.push(u.file);
        return false;
      }
      return true;
    });
    const classesNotInModel: EvalReport['skipped']['classesNotInModel'] = [];
    const modelIndex = new Map(clf.classes.map((c, i) => [c, i]));
    const kept = ds.samples.filter((s) => modelIndex.has(ds.classes[s.label]));
    for (const c of ds.classes) {
      const n = ds.samples.filter((s) => ds.classes[s.label] === c).length;
      if (n > 0 && !modelIndex.has(c)) classesNotInModel.push({ class: c, images: n });
    }
    if (kept.length === 0) {
      throw new Error(
        `No images of the model's classes (${clf.classes.join(', ')}) in ${opts.data}` +
          (classesNotInModel.length ? `; skipped classes the model lacks: ${classesNotInModel.map((c) => c.class).join(', ')}` : '') +
          (ds.unknownFolders.length ? `; unknown folders: ${ds.unknownFolders.join(', ')}` : ''),
      );
    }
    const truth = kept.map((s) => modelIndex.get(ds.classes[s.label]) as number);
    const pred: number[] = [];
    const batch = Math.max(1, Math.floor(opts.batch ?? 64));
    const t0 = performance.now();
    for (let i = 0; i < kept.length; i += batch) {
      const res = await clf.classify(kept.slice(i, i + batch).map((s) => ({ width: clf.inputSize, height: clf.inputSize, data: s.data })));
      for (const r of res) pred.push(modelIndex.get(r.label) as number);
    }
    const seconds = (performance.now() - t0) / 1000;
    const m = computeMetrics(clf.classes, truth, pred);
    return {
      model: clf.name,
      backend: clf.backend.label,
      tta: clf.tta ?? 'none',
      ...(framing ? { framing } : {}),
      data: opts.data,
      classes: clf.classes,
      images: kept.length,
      accuracy: m.accuracy,
      macroF1: m.macroF1,
      perClassRecall: Object.fromEntries(Object.entries(m.perClass).map(([c, v]) => [c, v.recall])),
      perClass: m.perClass,
      confusion: { classes: clf.classes, matrix: m.confusion },
      skipped: { classesNotInModel, unknownFolders: ds.unknownFolders, unreadable, notImages: ds.notImages, noFace },
      seconds,
      facesPerSec: kept.length / Math.max(seconds, 1e-9),
    };
  } finally {
    detector?.dispose();
    if (!classifier) clf.dispose();
  }
}

function printTable(r: EvalReport): void {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const out: string[] = [];
  out.push(`model ${r.model} (${r.backend}${r.tta === 'none' ? '' : `, tta ${r.tta}`}${r.framing ? `, --detect framing ${r.framing}` : ''}) on ${r.data}: ${r.images} images`);
  out.push(`accuracy ${pct(r.accuracy)}   macro-F1 ${r.macroF1.toFixed(3)}`);
  out.push('');
  const w = Math.max(...r.classes.map((c) => c.length), 8);
  out.push(`${'true \\ pred'.padEnd(w)} ${r.classes.map((c) => c.slice(0, 5).padStart(6)).join('')}  recall`);
  r.classes.forEach((c, i) =>
    out.push(`${c.padEnd(w)} ${r.confusion.matrix[i].map((v) => String(v).padStart(6)).join('')}  ${r.perClass[c].support ? pct(r.perClassRecall[c]) : '–'}`),
  );
  if (r.skipped.classesNotInModel.length) out.push(`skipped (classes the model lacks): ${r.skipped.classesNotInModel.map((c) => `${c.class} (${c.images})`).join(', ')}`);
  if (r.skipped.unknownFolders.length) out.push(`skipped (unknown folders): ${r.skipped.unknownFolders.join(', ')}`);
  if (r.skipped.unreadable.length) out.push(`skipped (unreadable): ${r.skipped.unreadable.length} files`);
  if (r.skipped.notImages.length) out.push(`skipped (not PNG/JPEG/TIFF): ${r.skipped.notImages.length} files (first: ${r.skipped.notImages[0]})`);
  if (r.skipped.noFace.length) out.push(`skipped (no face found): ${r.skipped.noFace.length} files`);
  process.stdout.write(out.join('\n') + '\n');
}

async function main(): Promise<void> {
  const args = parseCli(process.argv.slice(2), EVAL_CLI);
  if (!args) return;
  if (!args.data || args.data === true) {
    process.stdout.write(EVAL_CLI.usage);
    process.exitCode = 2;
    return;
  }
  const tta = ttaArg(args.tta);
  if (tta instanceof Error) throw tta;
  for (const k of ['model', 'backend', 'framing'] as const) if (args[k] === true) throw new UsageError(`--${k} needs a value; see --help`);
  // Without --detect the images are resized whole: a framing would be silently ignored.
  if (args.framing !== undefined && !args.detect) throw new UsageError('--framing is the crop framing of --detect: add --detect (or drop --framing)');
  const batch = args.batch === undefined ? undefined : wholeNumber(args, 'batch', 0); // as eval:fer's --batch
  const report = await evaluateFolder({
    data: String(args.data),
    model: args.model ? String(args.model) : undefined,
    backend: args.backend ? String(args.backend) : undefined,
    batch,
    detect: Boolean(args.detect),
    framing: args.framing ? String(args.framing) : undefined,
    tta,
  });
  if (args.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else printTable(report);
}

export { canonicalLabel };

if (require.main === module) runMain('eval', main, undefined, { usageExitCode: 2 });
