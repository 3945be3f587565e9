/**
 * FER2013 / FER+ dataset loader (`../shared/datasets/fer2013`, see its README).
 *
 * - Images: `train/<class>/Training_<id>.jpg` and `publictest/<class>/PublicTest_<id>.jpg`
 *   (48x48 gray JPEG), listed in `manifest.csv` (path,label,split). `path` is the key (two file
 *   names occur in two class folders).
 * - FER+ votes: `fer2013new.csv` (10 vote columns) joined through `ferplus_map.csv`
 *   (path → `ferplus_rows`, `;`-separated for pixel-identical copies, whose votes are averaged).
 *   Images with `match = none` have no FER+ row.
 * - Leakage: `duplicates.csv` (path,label,split,md5); PublicTest images whose md5 also occurs in
 *   Training are flagged `twinOfTraining` and left out of the clean validation set.
 *
 * Labels are given in the canonical class names of the package (anger … surprise).
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { canonicalLabel, readGrayImage } from './data';

/** FER+ vote columns of fer2013new.csv, in file order. */
export const FERPLUS_COLUMNS = ['neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear', 'contempt', 'unknown', 'NF'] as const;

/** The 8 FER+ emotions as canonical labels, in the model's (alphabetical, canonical) order. */
export const FERPLUS_CLASSES = ['anger', 'contempt', 'disgust', 'fear', 'happy', 'neutral', 'sadness', 'surprise'];
/** The 7 original FER2013 labels as canonical labels, in the model's order. */
export const FER2013_CLASSES = ['anger', 'disgust', 'fear', 'happy', 'neutral', 'sadness', 'surprise'];

/** For each FER+ emotion column 0..7, its index in {@link FERPLUS_CLASSES}. */
const COLUMN_TO_CLASS = FERPLUS_COLUMNS.slice(0, 8).map((c) => FERPLUS_CLASSES.indexOf(canonicalLabel(c) as string));

export type FerSplit = 'Training' | 'PublicTest';

export interface FerItem {
  /** Path relative to the dataset root (the key). */
  path: string;
  split: FerSplit;
  /** Original FER2013 label as index into {@link FER2013_CLASSES}. */
  label7: number;
  /** FER+ votes (10 columns, FER+ order; averaged over identical copies), or null (`match = none`). */
  votes: Float32Array | null;
  /**
   * FER+ majority label: argmax of the 10 vote columns (ties → the earlier column); index into
   * {@link FERPLUS_CLASSES}, or -1 when the winner is `unknown` / `NF` or there are no votes.
   */
  label8: number;
  /** True when the top vote count is shared by two or more columns. */
  tied: boolean;
  /** PublicTest image with a byte-identical twin in Training (leak; excluded from clean validation). */
  twinOfTraining: boolean;
}

export interface FerIndex {
  root: string;
  items: FerItem[];
}

/** Minimal CSV reader for these files (no quoted fields with commas occur in them). */
export function readCsv(file: string): { header: string[]; rows: string[][] } {
  if (!fs.existsSync(file)) throw new Error(`FER2013 file not found: ${file}`);
  const lines = fs.readFileSync(file, 'utf8').split(/\r?\n/).filter((l) => l.length > 0);
  if (lines.length === 0) throw new Error(`${file} is empty`);
  return { header: lines[0].split(','), rows: lines.slice(1).map((l) => l.split(',')) };
}

function col(header: string[], name: string, file: string): number {
  const i = header.indexOf(name);
  if (i < 0) throw new Error(`${file}: missing column "${name}" (have ${header.join(',')})`);
  return i;
}

/**
 * A vote count after the FER+ authors' outlier removal: a column with a single vote (≤ 1, so
 * averaged votes of pixel-identical copies too) counts as 0. Shared by {@link softTarget} and
 * {@link referenceMajorityLabel}.
 */
const withoutSingleVote = (v: number): number => (v > 1 + 1e-6 ? v : 0);

/** FER+ majority label of a 10-column vote vector (see {@link FerItem.label8}). */
export function majorityLabel(votes: ArrayLike<number>): { label8: number; tied: boolean } {
  let best = 0;
  for (let i = 1; i < 10; i++) if (votes[i] > votes[best]) best = i;
  if (!(votes[best] > 0)) return { label8: -1, tied: false };
  let n = 0;
  for (let i = 0; i < 10; i++) if (votes[i] === votes[best]) n++;
  return { label8: best < 8 ? COLUMN_TO_CLASS[best] : -1, tied: n > 1 };
}

/**
 * Label of a 10-column FER+ vote vector under the FER+ authors' "majority" protocol, the one
 * their reference code applies to its validation and test sets (Barsoum, Zhang, Canton Ferrer,
 * Zhang, "Training Deep Networks for Facial Expression Recognition with Crowd-Sourced Label
 * Distribution", ICMI 2016; github.com/microsoft/FERPlus, `src/ferplus.py`, `_process_data`
 * in mode `majority`); literature FER+ "majority" accuracies are on the images it keeps:
 *
 * 1. outlier removal: every column with a single vote (count ≤ 1) is set to 0, in all 10
 *    columns, `unknown` and `NF` included;
 * 2. with S the sum of what remains, the label is the top column only when its count is
 *    strictly greater than S / 2 (exactly half is not a majority); otherwise the image is unknown;
 * 3. images whose label is unknown or not-a-face (columns 8, 9) are dropped.
 *
 * Returns the index into {@link FERPLUS_CLASSES} (as {@link majorityLabel}'s `label8`), or -1
 * for a dropped image. A kept image's label is always its strict plurality on the raw votes (the
 * winner has ≥ 2 votes and more than all other remaining votes together), so the kept images are
 * a subset of those with an untied emotion `label8`, with the same label. Pixel-identical copies
 * (averaged votes, see {@link FerItem.votes}) go through the same rule on their averages.
 */
export function referenceMajorityLabel(votes: ArrayLike<number>): number {
  let sum = 0;
  let best = -1;
  for (let i = 0; i < 10; i++) {
    const v = withoutSingleVote(votes[i]);
    sum += v;
    if (v > 0 && (best < 0 || v > votes[best])) best = i;
  }
  if (best < 0 || !(votes[best] > 0.5 * sum) || best >= 8) return -1;
  return COLUMN_TO_CLASS[best];
}

/**
 * Soft target over {@link FERPLUS_CLASSES} from FER+ votes: the 8 emotion columns with
 * single-vote outliers removed (the FER+ authors' convention; kept when nothing else remains),
 * normalised to sum 1. Null when no emotion has a vote.
 */
export function softTarget(votes: ArrayLike<number>): Float32Array | null {
  const t = new Float32Array(8);
  let sum = 0;
  for (let c = 0; c < 8; c++) {
    const v = withoutSingleVote(votes[c]);
    t[COLUMN_TO_CLASS[c]] = v;
    sum += v;
  }
  if (sum <= 0) {
    for (let c = 0; c < 8; c++) {
      t[COLUMN_TO_CLASS[c]] = votes[c] > 0 ? votes[c] : 0;
      sum += t[COLUMN_TO_CLASS[c]];
    }
  }
  if (sum <= 0) return null;
  for (let c = 0; c < 8; c++) t[c] /= sum;
  return t;
}

/** Reads manifest, FER+ votes, the map and the duplicates list (no images). */
export function loadFerIndex(root: string): FerIndex {
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new Error(`FER2013 folder not found: ${root}`);
  const man = readCsv(path.join(root, 'manifest.csv'));
  const mPath = col(man.header, 'path', 'manifest.csv');
  const mLabel = col(man.header, 'label', 'manifest.csv');
  const mSplit = col(man.header, 'split', 'manifest.csv');

  const ferp = readCsv(path.join(root, 'fer2013new.csv'));
  const vStart = col(ferp.header, FERPLUS_COLUMNS[0], 'fer2013new.csv');
  FERPLUS_COLUMNS.forEach((c, i) => {
    if (ferp.header[vStart + i] !== c) throw new Error(`fer2013new.csv: expected column ${c} at position ${vStart + i}`);
  });

  const map = readCsv(path.join(root, 'ferplus_map.csv'));
  const pPath = col(map.header, 'path', 'ferplus_map.csv');
  const pRows = col(map.header, 'ferplus_rows', 'ferplus_map.csv');
  const pMatch = col(map.header, 'match', 'ferplus_map.csv');
  const votesOf = new Map<string, Float32Array | null>();
  for (const r of map.rows) {
    if (r[pMatch] === 'none' || !r[pRows]) {
      votesOf.set(r[pPath], null);
      continue;
    }
    const rows = r[pRows].split(';').map(Number);
    const v = new Float32Array(10);
    for (const row of rows) {
      const line = ferp.rows[row];
      if (!line) throw new Error(`ferplus_map.csv: row ${row} not in fer2013new.csv`);
      for (let i = 0; i < 10; i++) v[i] += Number(line[vStart + i]) / rows.length;
    }
    votesOf.set(r[pPath], v);
  }

  const dup = readCsv(path.join(root, 'duplicates.csv'));
  const dPath = col(dup.header, 'path', 'duplicates.csv');
  const dSplit = col(dup.header, 'split', 'duplicates.csv');
  const dMd5 = col(dup.header, 'md5', 'duplicates.csv');
  const trainMd5 = new Set(dup.rows.filter((r) => r[dSplit] === 'Training').map((r) => r[dMd5]));
  const leaked = new Set(dup.rows.filter((r) => r[dSplit] === 'PublicTest' && trainMd5.has(r[dMd5])).map((r) => r[dPath]));

  const items: FerItem[] = [];
  for (const r of man.rows) {
    const split = r[mSplit] as FerSplit;
    if (split !== 'Training' && split !== 'PublicTest') continue;
    const c = canonicalLabel(r[mLabel]);
    const label7 = c ? FER2013_CLASSES.indexOf(c) : -1;
    if (label7 < 0) throw new Error(`manifest.csv: unknown label "${r[mLabel]}" for ${r[mPath]}`);
    const votes = votesOf.has(r[mPath]) ? (votesOf.get(r[mPath]) as Float32Array | null) : null;
    const m = votes ? majorityLabel(votes) : { label8: -1, tied: false };
    items.push({ path: r[mPath], split, label7, votes, label8: m.label8, tied: m.tied, twinOfTraining: leaked.has(r[mPath]) });
  }
  return { root, items };
}

/** Items usable with FER+ labels: a FER+ row whose majority is one of the 8 emotions. */
export const hasFerPlusLabel = (it: FerItem): boolean => it.votes !== null && it.label8 >= 0;

export interface FerSelection {
  /** Training items (all of Training; `votes`/`label8` tell whether FER+ supervision applies). */
  train: FerItem[];
  /** Clean FER+ validation: PublicTest with a FER+ emotion majority, minus md5 twins of Training. */
  valPlus: FerItem[];
  /** Clean FER2013 validation: all PublicTest minus md5 twins of Training (original labels). */
  val7: FerItem[];
  counts: Record<string, number>;
}

/** Splits an index into training items and the two clean validation sets. */
export function selectFer(index: FerIndex): FerSelection {
  const train = index.items.filter((i) => i.split === 'Training');
  const pub = index.items.filter((i) => i.split === 'PublicTest');
  const valPlus = pub.filter((i) => hasFerPlusLabel(i) && !i.twinOfTraining);
  const val7 = pub.filter((i) => !i.twinOfTraining);
  return {
    train,
    valPlus,
    val7,
    counts: {
      training: train.length,
      trainingWithFerPlus: train.filter(hasFerPlusLabel).length,
      trainingFerPlusNone: train.filter((i) => i.votes === null).length,
      trainingFerPlusUnknownOrNF: train.filter((i) => i.votes !== null && i.label8 < 0).length,
      publicTest: pub.length,
      publicTestTwinsOfTraining: pub.filter((i) => i.twinOfTraining).length,
      valFerPlus: valPlus.length,
      valFerPlusTied: valPlus.filter((i) => i.tied).length,
      valFer2013: val7.length,
    },
  };
}

/**
 * The training items of `npm run train:fer` (and of the teacher built for it by
 * `npm run fer:teacher`): the Training items with a FER+ emotion majority, in index order;
 * `limit` (smoke tests) takes an evenly strided subset of that many.
 */
export function ferTrainItems(sel: FerSelection, limit?: number): FerItem[] {
  const items = sel.train.filter(hasFerPlusLabel);
  if (limit === undefined || items.length <= limit) return items;
  return Array.from({ length: limit }, (_, i) => items[Math.floor((i * items.length) / limit)]);
}

/** A stable key of an item list: sha256 (hex) of the items' paths, in order. */
export function ferItemsKey(items: FerItem[]): string {
  const h = crypto.createHash('sha256');
  for (const it of items) h.update(it.path).update('\n');
  return h.digest('hex');
}

/** Decodes the 48x48 gray pixels of items (in order). */
export function loadFerPixels(root: string, items: FerItem[]): Uint8Array[] {
  return items.map((it) => readGrayImage(path.join(root, it.path), 48));
}

/** Default dataset location relative to the project root. */
export const DEFAULT_FER_ROOT = path.join('..', 'shared', 'datasets', 'fer2013');
