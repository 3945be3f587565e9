/**
 * Labelled face folders (one subfolder per class) → 48x48 gray samples, class-name synonyms,
 * subject ids, and subject-independent folds.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CANONICAL_LABELS, LABEL_SYNONYMS } from '../classify';
import { decodeImage, resizeBilinear, toGray } from '../image';

/** Canonical labels, in the order models list them. */
export const CANONICAL_CLASSES = CANONICAL_LABELS;

/** Maps a folder or label name to its canonical class (null when unknown): `LABEL_SYNONYMS`, the classifier's and the alert rules' table. */
export function canonicalLabel(name: string): string | null {
  const k = name.trim().toLowerCase().replace(/[^a-z]/g, '');
  return Object.prototype.hasOwnProperty.call(LABEL_SYNONYMS, k) ? LABEL_SYNONYMS[k] : null;
}

export interface Sample {
  /** 48·48 gray bytes, row-major. */
  data: Uint8Array;
  /** Index into the dataset's classes. */
  label: number;
  /** Subject id (CK+ `Sxxx` from the file name); a per-file id when unknown. */
  subject: string;
  /** Group of near-identical images: CK+ subject+sequence+label (`S010_004:anger`); else the file. */
  group?: string;
  file: string;
}

/** CK+ `Sxxx_yyy` subject+sequence id from a file name, or null. */
export function sequenceOf(file: string): string | null {
  const m = /(S\d{3}_\d{3})_\d+/i.exec(path.basename(file));
  return m ? m[1].toUpperCase() : null;
}

export interface LabelledFolder {
  root: string;
  /** Canonical classes found (sorted in canonical order). */
  classes: string[];
  samples: Sample[];
  /** Subfolders whose names map to no known class (skipped). */
  unknownFolders: string[];
  /** Files that could not be decoded, with the reason (skipped). */
  unreadable: Array<{ file: string; error: string }>;
  /** Files in class folders that are not PNG/JPEG/TIFF by their extension (e.g. .webp, .gif, .bmp; skipped; hidden files and subfolders not listed). */
  notImages: string[];
}

/** The formats {@link readGrayImage} decodes (src/image: JPEG, PNG, TIFF; no BMP). */
const IMAGE_EXT = /\.(png|jpe?g|tiff?)$/i;

/** True unless `file` is a directory (a dangling symlink or an entry that cannot be stat'ed is a file here: listed, not fatal). */
function isNotDirectory(file: string): boolean {
  try {
    return !fs.statSync(file).isDirectory();
  } catch {
    return true;
  }
}

/** Decodes any supported image file to a size×size gray crop (resized if needed). */
export function readGrayImage(file: string, size = 48): Uint8Array {
  const img = decodeImage(fs.readFileSync(file));
  let g = toGray(img);
  if (g.width !== size || g.height !== size) g = toGray(resizeBilinear(g, size, size));
  return g.data;
}

/** CK+ subject id from a file name like `S010_004_00000017.png`. */
export function subjectOf(file: string): string | null {
  const m = /(S\d{3})_\d{3}_\d+/i.exec(path.basename(file));
  return m ? m[1].toUpperCase() : null;
}

/** An image whose file name gives no subject by `--subject` (fatal: the folds would be wrong). */
export class SubjectPatternError extends Error {
  override name = 'SubjectPatternError';
}

export interface LoadFolderOptions {
  /** Restrict/fix the class list and order (canonical names). Folders of other classes are reported in `skippedClasses`. */
  classes?: string[];
  size?: number;
  /** Called for every decoded image (e.g. to run face detection first); returns the crop. */
  transform?: (file: string) => Uint8Array | Promise<Uint8Array>;
  /**
   * Subject (person) of an image from its file name: the first capture group of this pattern, or
   * its whole match without one (`/^([a-z]+)_/i` reads `anna` from `anna_03.png`). Every image
   * must match. Default: CK+ names (`S010_004_00000017.png` → `S010`), else each file on its own.
   */
  subjectPattern?: RegExp;
}

/** The subject of `file` by `pattern` (see {@link LoadFolderOptions.subjectPattern}), or null when it does not match. */
export function subjectByPattern(file: string, pattern: RegExp): string | null {
  const m = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, '')).exec(path.basename(file));
  if (!m) return null;
  const s = m.length > 1 ? m[1] : m[0];
  // One person whatever the case of their file names (`Anna_01`, `anna_02`), like the match itself.
  return s ? s.toLowerCase() : null;
}

/**
 * Reads `<root>/<class>/<images>`. Folder names map to classes by synonyms; unknown folders are
 * reported (not fatal). Throws when the folder is missing or holds no usable class folder.
 */
export async function loadLabelledFolder(root: string, options: LoadFolderOptions = {}): Promise<LabelledFolder & { skippedClasses: string[] }> {
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new Error(`Data folder not found: ${root}`);
  // A symlink to a class folder (e.g. a subset of a dataset made of links) is a class folder too.
  const dirs = fs.readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory() || (d.isSymbolicLink() && !isNotDirectory(path.join(root, d.name)))).map((d) => d.name).sort();
  const unknownFolders: string[] = [];
  const byClass = new Map<string, string[]>();
  for (const d of dirs) {
    const c = canonicalLabel(d);
    if (!c) {
      unknownFolders.push(d);
      continue;
    }
    const list = byClass.get(c) ?? [];
    list.push(d);
    byClass.set(c, list);
  }
  const found = CANONICAL_CLASSES.filter((c) => byClass.has(c)) as string[];
  const classes = options.classes ? [...options.classes] : found;
  const skippedClasses = found.filter((c) => !classes.includes(c));
  if (classes.filter((c) => byClass.has(c)).length === 0) {
    throw new Error(
      `No class folders in ${root}: expected subfolders named after classes (${CANONICAL_CLASSES.join(', ')} or synonyms)` +
        (unknownFolders.length ? `; unknown folders: ${unknownFolders.join(', ')}` : ''),
    );
  }
  const samples: Sample[] = [];
  const unreadable: LabelledFolder['unreadable'] = [];
  const notImages: string[] = [];
  const size = options.size ?? 48;
  for (let label = 0; label < classes.length; label++) {
    for (const d of byClass.get(classes[label]) ?? []) {
      const dir = path.join(root, d);
      for (const f of fs.readdirSync(dir).sort()) {
        if (!IMAGE_EXT.test(f)) {
          if (!f.startsWith('.') && isNotDirectory(path.join(dir, f))) notImages.push(path.join(dir, f));
          continue;
        }
        const file = path.join(dir, f);
        try {
          const data = options.transform ? await options.transform(file) : readGrayImage(file, size);
          const seq = sequenceOf(f);
          let subject = subjectOf(f) ?? `file:${d}/${f}`;
          if (options.subjectPattern) {
            const p = subjectByPattern(f, options.subjectPattern);
            if (p === null) {
              throw new SubjectPatternError(`${path.join(d, f)} does not match the subject pattern /${options.subjectPattern.source}/${options.subjectPattern.flags} (every image needs a subject)`);
            }
            subject = p;
          }
          samples.push({ data, label, subject, group: seq ? `${seq}:${classes[label]}` : `file:${d}/${f}`, file });
        } catch (e) {
          if (e instanceof SubjectPatternError) throw e;
          unreadable.push({ file, error: e instanceof Error ? e.message : String(e) });
        }
      }
    }
  }
  return { root, classes, samples, unknownFolders, unreadable, notImages, skippedClasses };
}

/**
 * Subject-independent k-fold split (GroupKFold): subjects are shuffled with the seed, then
 * assigned largest-first to the fold with the fewest images, so folds are balanced in size and
 * no subject appears in two folds. Returns, per fold, the indices of its test samples.
 */
export function subjectFolds(samples: Sample[], k: number, seed = 1): number[][] {
  if (!Number.isInteger(k) || k < 2) throw new Error(`Cross-validation needs a whole number of folds >= 2, got ${k}`);
  const bySubject = new Map<string, number[]>();
  samples.forEach((s, i) => {
    const l = bySubject.get(s.subject) ?? [];
    l.push(i);
    bySubject.set(s.subject, l);
  });
  if (bySubject.size < k) throw new Error(`Cannot make ${k} subject-independent folds from ${bySubject.size} subjects`);
  let state = seed >>> 0 || 1;
  const rand = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 4294967296);
  const subjects = [...bySubject.keys()].sort();
  for (let i = subjects.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [subjects[i], subjects[j]] = [subjects[j], subjects[i]];
  }
  // Stable sort by size, largest first (ties keep the shuffled order).
  const order = subjects.map((s, i) => ({ s, i, n: bySubject.get(s)!.length })).sort((a, b) => b.n - a.n || a.i - b.i);
  const folds: number[][] = Array.from({ length: k }, () => []);
  for (const { s } of order) {
    let best = 0;
    for (let f = 1; f < k; f++) if (folds[f].length < folds[best].length) best = f;
    folds[best].push(...bySubject.get(s)!);
  }
  return folds.map((f) => f.sort((a, b) => a - b));
}
