/**
 * Offline knowledge distillation for the in-the-wild trainer: a "teacher" is the averaged
 * probabilities of one or more classifiers (e.g. the shipped `nano-a-wild` and `nano-b-wild`
 * with mirror averaging) on exactly the training items of `npm run train:fer`, written once by
 * `npm run fer:teacher` and read by the trainer. Two kinds, one per training head:
 * - FER+ (8 classes, FERPLUS_CLASSES; `fer:teacher --head ferplus`, the default), read by
 *   `train:fer --teacher <dir> --kd <alpha>`, which trains the FER+ head against
 *   `(1 - alpha) · votes + alpha · teacher`;
 * - FER2013 (7 classes, FER2013_CLASSES; `fer:teacher --head fer2013`, e.g. from the `-7`
 *   models), read by `train:fer --teacher7 <dir> --kd7 <alpha>`, which trains the FER2013 head
 *   against `(1 - alpha) · label-smoothed original label + alpha · teacher`.
 *
 * A teacher directory holds
 * - `probs.bin`: Float32 little-endian, n × K (K = 8 or 7), rows in training-item order,
 *   columns in the order of its `classes`;
 * - `teacher.json`: {@link TeacherJson} (models, tta, classes, n, the item key, a sha256 of
 *   probs.bin, createdAt). It is written last: a directory without it is incomplete.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { EmotionClassifier, FaceImage } from '../model';
import { canonicalLabel } from './data';
import { FER2013_CLASSES, FERPLUS_CLASSES, FerItem, ferItemsKey } from './fer';

export const TEACHER_FORMAT = 'emotionnet-fer-teacher' as const;
export const TEACHER_VERSION = 1;
const N8 = FERPLUS_CLASSES.length;

/** The training head a teacher is for, and its classes (the column order of probs.bin). */
export type TeacherHead = 'ferplus' | 'fer2013';
export const TEACHER_HEADS: readonly TeacherHead[] = ['ferplus', 'fer2013'];
export const teacherClasses = (head: TeacherHead): string[] => (head === 'fer2013' ? FER2013_CLASSES : FERPLUS_CLASSES);
/** The head whose classes are exactly `classes`, or null. */
export function headOfClasses(classes: unknown): TeacherHead | null {
  const s = JSON.stringify(classes);
  return TEACHER_HEADS.find((h) => JSON.stringify(teacherClasses(h)) === s) ?? null;
}

export interface TeacherJson {
  format: typeof TEACHER_FORMAT;
  version: number;
  /** The classifiers averaged (as given on the command line). */
  models: string[];
  /** Test-time augmentation of every classifier (`flip`: mirror averaging). */
  tta: string;
  /** Column order of probs.bin: FERPLUS_CLASSES (FER+ teacher) or FER2013_CLASSES (FER2013 teacher). */
  classes: string[];
  /** Rows of probs.bin = training items. */
  n: number;
  /** {@link ferItemsKey} of the training items, in row order. */
  itemsKey: string;
  /** sha256 (hex) of probs.bin. */
  probsSha256: string;
  /** Anything else the writer records (data dir, limit, speed...). */
  [extra: string]: unknown;
  createdAt: string;
}

export interface Teacher {
  dir: string;
  json: TeacherJson;
  /** The head it teaches (from its classes). */
  head: TeacherHead;
  /** Columns per row: 8 (FER+) or 7 (FER2013). */
  k: number;
  /** n × k probabilities, in the order of `json.classes`. */
  probs: Float32Array;
  /** Name of this teacher in a training config: directory name + first 12 hex digits of the probs hash. */
  source: string;
}

/**
 * For each class of the teacher's head, the index of the same (canonical) class among a
 * model's classes; an error naming the model when it lacks one (e.g. the 7-class `-7` models
 * have no contempt, so they cannot teach the FER+ head; they can teach the FER2013 head).
 */
export function teacherColumns(modelName: string, classes: string[], head: TeacherHead = 'ferplus'): number[] {
  const target = teacherClasses(head);
  const canon = classes.map((c) => canonicalLabel(c) ?? c);
  const missing = target.filter((c) => !canon.includes(c));
  const what = head === 'fer2013' ? 'FER2013' : 'FER+';
  if (missing.length) throw new Error(`Model ${modelName} lacks ${what} class${missing.length > 1 ? 'es' : ''} ${missing.join(', ')} (classes: ${classes.join(', ')}); a ${what} teacher needs all ${target.length} ${what} classes`);
  return target.map((c) => canon.indexOf(c));
}

/** {@link teacherColumns} of the FER+ head. */
export const ferPlusColumns = (modelName: string, classes: string[]): number[] => teacherColumns(modelName, classes, 'ferplus');

/**
 * Averaged probabilities of `classifiers` on `count` images (`image(i)`), classified in
 * batches of `batch`. Each model's probabilities are taken in the order of the head's classes
 * (`opts.head`: FER+ by default) and renormalised over them (a no-op for a model with exactly
 * those classes; an 8-class model teaching the FER2013 head drops contempt), then averaged.
 */
export async function teacherProbabilities(
  classifiers: EmotionClassifier[],
  count: number,
  image: (i: number) => Uint8Array,
  opts: { batch?: number; head?: TeacherHead; onProgress?: (done: number, total: number) => void } = {},
): Promise<Float32Array> {
  if (classifiers.length === 0) throw new Error('A teacher needs at least one model');
  const head = opts.head ?? 'ferplus';
  const K = teacherClasses(head).length;
  const cols = classifiers.map((c) => teacherColumns(c.name, c.classes, head));
  const batch = Math.max(1, Math.floor(opts.batch ?? 64));
  const out = new Float32Array(count * K);
  for (let start = 0; start < count; start += batch) {
    const faces: FaceImage[] = [];
    for (let i = start; i < Math.min(count, start + batch); i++) {
      const data = image(i);
      const size = Math.round(Math.sqrt(data.length));
      faces.push({ width: size, height: size, data });
    }
    for (let m = 0; m < classifiers.length; m++) {
      const clf = classifiers[m];
      const res = await clf.classify(faces);
      res.forEach((r, j) => {
        const p = cols[m].map((k) => r.probabilities[clf.classes[k]] ?? 0);
        const sum = p.reduce((a, b) => a + b, 0);
        if (!(sum > 0)) throw new Error(`Model ${clf.name} gave no probability to the teacher's classes for image ${start + j}`);
        for (let c = 0; c < K; c++) out[(start + j) * K + c] += p[c] / sum / classifiers.length;
      });
    }
    opts.onProgress?.(start + faces.length, count);
  }
  return out;
}

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

/** Writes probs.bin (Float32 LE) and then teacher.json for the given training items (`meta.head`: FER+ by default). */
export function writeTeacher(dir: string, items: FerItem[], probs: Float32Array, meta: { models: string[]; tta: string; head?: TeacherHead } & Record<string, unknown>): TeacherJson {
  const classes = teacherClasses(meta.head ?? 'ferplus');
  if (probs.length !== items.length * classes.length) throw new Error(`Teacher probabilities have ${probs.length} values, expected ${items.length} × ${classes.length}`);
  fs.mkdirSync(dir, { recursive: true });
  const buf = Buffer.alloc(probs.length * 4);
  for (let i = 0; i < probs.length; i++) buf.writeFloatLE(probs[i], i * 4);
  const jsonFile = path.join(dir, 'teacher.json');
  fs.rmSync(jsonFile, { force: true }); // an interrupted rewrite must not look complete
  fs.writeFileSync(path.join(dir, 'probs.bin'), buf);
  const core: TeacherJson = {
    format: TEACHER_FORMAT,
    version: TEACHER_VERSION,
    models: meta.models,
    tta: meta.tta,
    classes,
    n: items.length,
    itemsKey: ferItemsKey(items),
    probsSha256: sha256(buf),
    createdAt: new Date().toISOString(),
  };
  const extra = Object.fromEntries(Object.entries(meta).filter(([k]) => !(k in core) && k !== 'head'));
  const json: TeacherJson = { ...core, ...extra }; // the core fields first (extra cannot override them)
  fs.writeFileSync(jsonFile, JSON.stringify(json, null, 1) + '\n');
  return json;
}

/** Reads a teacher directory (checks format, classes, size and hash of probs.bin). */
export function readTeacher(dir: string): Teacher {
  const jsonFile = path.join(dir, 'teacher.json');
  if (!fs.existsSync(jsonFile)) throw new Error(`No teacher in ${dir} (teacher.json missing): build one with \`npm run fer:teacher -- --models ... --out ${dir}\``);
  const json = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as TeacherJson;
  if (json.format !== TEACHER_FORMAT) throw new Error(`${jsonFile} is not a FER teacher (format ${String(json.format)})`);
  const head = headOfClasses(json.classes);
  if (!head) throw new Error(`${jsonFile}: classes ${String(json.classes)} are neither the FER+ classes ${FERPLUS_CLASSES.join(',')} nor the FER2013 classes ${FER2013_CLASSES.join(',')}`);
  const k = json.classes.length;
  const binFile = path.join(dir, 'probs.bin');
  if (!fs.existsSync(binFile)) throw new Error(`${binFile} missing`);
  const buf = fs.readFileSync(binFile);
  if (buf.length !== json.n * k * 4) throw new Error(`${binFile} has ${buf.length} bytes, expected ${json.n} × ${k} float32 (${json.n * k * 4})`);
  const hash = sha256(buf);
  if (json.probsSha256 && hash !== json.probsSha256) throw new Error(`${binFile} does not match teacher.json (sha256 differs): rebuild the teacher`);
  const probs = new Float32Array(json.n * k);
  for (let i = 0; i < probs.length; i++) probs[i] = buf.readFloatLE(i * 4);
  return { dir, json, head, k, probs, source: `${path.basename(path.resolve(dir))}#${hash.slice(0, 12)}` };
}

/** Refuses a teacher built for other training items (count or item key differ). */
export function checkTeacher(t: Teacher, items: FerItem[]): void {
  const hint = 'build it with the same --data and --limit as the training run (npm run fer:teacher)';
  if (t.json.n !== items.length) throw new Error(`Teacher ${t.dir} has ${t.json.n} rows but training uses ${items.length} images; ${hint}`);
  const key = ferItemsKey(items);
  if (t.json.itemsKey !== key) throw new Error(`Teacher ${t.dir} was built for other training items (item key ${String(t.json.itemsKey).slice(0, 12)}…, training ${key.slice(0, 12)}…); ${hint}`);
}

/** Row i of a teacher's probabilities (a view; `k` columns, 8 for a FER+ teacher). */
export const teacherRow = (probs: Float32Array, i: number, k: number = N8): Float32Array => probs.subarray(i * k, (i + 1) * k);

/** Refuses a teacher of the other head (e.g. a FER2013 teacher given to `--teacher`). */
export function checkTeacherHead(t: Teacher, head: TeacherHead, option: string): void {
  if (t.head === head) return;
  const hint = head === 'fer2013' ? '--teacher7 takes a FER2013 teacher (`npm run fer:teacher -- --head fer2013 ...`)' : '--teacher takes a FER+ teacher (`npm run fer:teacher -- --head ferplus ...`)';
  throw new Error(`${option} ${t.dir} is a ${t.head === 'fer2013' ? 'FER2013' : 'FER+'} teacher (classes ${t.json.classes.join(',')}); ${hint}`);
}

/**
 * The FER2013-head target, written into `out` (7 values from `offset`): the label-smoothed
 * one-hot of `label7` (smoothing `ls`), or with a teacher row `(1 - alpha) · that + alpha ·
 * teacher` (FER2013 distillation).
 */
export function mixTarget7(label7: number, ls: number, teacher: ArrayLike<number> | null, alpha: number, out: Float32Array, offset = 0): void {
  const n7 = FER2013_CLASSES.length;
  if (teacher && teacher.length !== n7) throw new Error(`A FER2013 teacher row must have ${n7} values (got ${teacher.length})`);
  const a = teacher ? alpha : 0;
  for (let c = 0; c < n7; c++) out[offset + c] = (1 - a) * (ls / n7 + (c === label7 ? 1 - ls : 0)) + (teacher ? a * teacher[c] : 0);
}

/**
 * The distillation target `(1 - alpha) · votes + alpha · teacher` (both over FERPLUS_CLASSES).
 * Null when the image has no FER+ votes (no FER+ supervision, as without a teacher).
 */
export function mixSoftTarget(votes: Float32Array | null, teacher: ArrayLike<number>, alpha: number): Float32Array | null {
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`--kd must be in [0, 1] (got ${alpha})`);
  if (!votes) return null;
  if (votes.length !== N8 || teacher.length !== N8) throw new Error(`Soft targets must have ${N8} values (votes ${votes.length}, teacher ${teacher.length})`);
  const t = new Float32Array(N8);
  for (let c = 0; c < N8; c++) t[c] = (1 - alpha) * votes[c] + alpha * teacher[c];
  return t;
}
