#!/usr/bin/env node
/**
 * `npm run fer:teacher -- --models nano-a-wild,nano-b-wild --tta flip --out checkpoints/teacher/ab-flip`:
 * the teacher of offline knowledge distillation for `npm run train:fer -- --teacher <dir> --kd <alpha>`.
 * Classifies exactly the training items of train:fer (same selection: `ferTrainItems`) with
 * every model and writes the averaged 8-class FER+ probabilities (each model's own class names
 * mapped to FERPLUS_CLASSES; a model without all 8 FER+ classes is an error) as `probs.bin`
 * (Float32 LE, n × 8) plus `teacher.json` (models, tta, classes, n, item key, createdAt).
 * `--head fer2013` writes a teacher of the FER2013 head instead: the 7 FER2013 classes (n × 7),
 * which the 7-class `-7` models can give, for `train:fer --teacher7 <dir> --kd7 <alpha>`.
 * See src/train/fer-teacher.ts.
 *
 * Options: --models <name|path>[,<name|path>...] (required) --tta none|flip --out <dir> (required)
 *          --head ferplus|fer2013 (which training head it teaches; default ferplus)
 *          --data ../shared/datasets/fer2013 --batch 64 --backend auto|wasm|cpu
 *          --limit <N> (the same strided subset as `train:fer --limit N`: smoke tests)
 */
import * as path from 'path';
import { EmotionClassifier, load } from '../model';
import { silentLogger } from '../log';
import { DEFAULT_FER_ROOT, ferTrainItems, loadFerIndex, loadFerPixels, selectFer } from '../train/fer';
import { TEACHER_HEADS, TeacherHead, teacherProbabilities, writeTeacher } from '../train/fer-teacher';
import { CliSpec, fmtTime, num, parseCli, runMain, ttaArg, wholeNumber } from './args';

const USAGE =
  'Usage: npm run fer:teacher -- --models nano-a-wild,nano-b-wild [--tta none|flip] [--head ferplus|fer2013] --out checkpoints/teacher/ab-flip\n' +
  '       [--data ../shared/datasets/fer2013] [--batch 64] [--backend auto|wasm|cpu] [--limit N (smoke test; match train:fer --limit N)]\n';

/** The command line of `npm run fer:teacher` (every `--name` of `usage` is an accepted option; `notes` is not scanned). */
export const FER_TEACHER_CLI: CliSpec = {
  usage: USAGE,
  notes:
    'Writes <out>/probs.bin (Float32 LE, n x 8 FER+ probabilities averaged over the models; --head fer2013: n x 7 FER2013)\n' +
    'and <out>/teacher.json for the training items of `npm run train:fer`; then: npm run train:fer -- --teacher <out> --kd 0.5 ...\n' +
    '(a FER2013 teacher: npm run train:fer -- --teacher7 <out> --kd7 0.5 ...)\n',
};

async function main(): Promise<void> {
  const args = parseCli(process.argv.slice(2), FER_TEACHER_CLI);
  if (!args) return;
  const models = typeof args.models === 'string' ? args.models.split(',').map((m) => m.trim()).filter(Boolean) : [];
  if (models.length === 0) throw new Error(`--models <name|path>[,...] is required\n${USAGE}`);
  if (typeof args.out !== 'string') throw new Error(`--out <dir> is required\n${USAGE}`);
  const tta = ttaArg(args.tta);
  if (tta instanceof Error) throw tta;
  const head = String(args.head ?? 'ferplus') as TeacherHead;
  if (!TEACHER_HEADS.includes(head)) throw new Error(`--head must be one of ${TEACHER_HEADS.join(', ')} (got "${String(args.head)}")`);
  const out = path.resolve(args.out);
  const root = path.resolve(String(args.data ?? DEFAULT_FER_ROOT));
  const batch = wholeNumber(args, 'batch', 64); // images are decoded a batch at a time: 0 or a fraction would find none
  const limit = args.limit ? num(args, 'limit', Infinity) : undefined;

  const items = ferTrainItems(selectFer(loadFerIndex(root)), limit);
  const classifiers: EmotionClassifier[] = [];
  try {
    for (const m of models) classifiers.push(await load({ model: m, tta, backend: args.backend ? String(args.backend) : 'auto', logger: silentLogger }));
    process.stderr.write(`Teacher (${head === 'fer2013' ? 'FER2013 head, 7 classes' : 'FER+ head, 8 classes'}): ${models.join(' + ')} (tta ${tta}, backend ${classifiers[0].backend.label}) on ${items.length} training images → ${path.relative(process.cwd(), out) || out}\n`);
    const t0 = Date.now();
    let last = 0;
    // Decode one batch at a time (the pixels of the whole set are never held at once).
    let cache = { start: -1, px: [] as Uint8Array[] };
    const image = (i: number) => {
      const start = i - (i % batch);
      if (cache.start !== start) cache = { start, px: loadFerPixels(root, items.slice(start, start + batch)) };
      return cache.px[i - start];
    };
    const probs = await teacherProbabilities(classifiers, items.length, image, {
      batch,
      head,
      onProgress: (done, total) => {
        if (done < total && Date.now() - last < 15000) return;
        last = Date.now();
        const s = (Date.now() - t0) / 1000;
        const ips = done / Math.max(s, 1e-3);
        process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${done}/${total} images, ${ips.toFixed(1)} images/s, ETA ${fmtTime((total - done) / Math.max(ips, 1e-3))}\n`);
      },
    });
    const seconds = (Date.now() - t0) / 1000;
    const json = writeTeacher(out, items, probs, {
      models,
      tta,
      head,
      modelNames: classifiers.map((c) => c.name),
      data: path.relative(process.cwd(), root) || root,
      ...(limit !== undefined ? { limit } : {}),
      backend: classifiers[0].backend.label,
      imagesPerSec: Math.round((items.length / Math.max(seconds, 1e-3)) * 10) / 10,
    });
    process.stderr.write(`Wrote ${json.n} x ${json.classes.length} probabilities in ${fmtTime(seconds)} (${(items.length / Math.max(seconds, 1e-3)).toFixed(1)} images/s): ${path.join(path.relative(process.cwd(), out) || out, 'probs.bin')}, teacher.json\n`);
  } finally {
    for (const c of classifiers) c.dispose();
  }
}

if (require.main === module) runMain('fer-teacher', main);
