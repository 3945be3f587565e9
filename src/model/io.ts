/**
 * Our small on-disk format: `<dir>/model.json` (architecture spec, classes, normalisation,
 * a tfjs-style weights manifest, training metadata) + `<dir>/weights.bin` (little-endian
 * float32, concatenated in manifest order). Read and written with `fs` only: no network, no
 * tfjs-node.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { ArchSpec, resolveSpec } from './spec';
import { PIXEL_STD_FLOOR } from './graph';

export const MODEL_FORMAT = 'emotionnet-nano';
export const MODEL_FORMAT_VERSION = 1;

export interface WeightEntry {
  name: string;
  shape: number[];
  dtype: 'float32';
}

export interface ModelJson {
  format: typeof MODEL_FORMAT;
  formatVersion: number;
  /** Registered name (`nano-a`, ...) or a user's own. */
  name: string;
  /** `nano-a` | `nano-b`. */
  variant: string;
  classes: string[];
  spec: ArchSpec;
  input: { width: number; height: number; channels: 1; normalization: 'per-image-standardization'; stdFloor: number; scale: 255 };
  /** true: inference form (BN folded: `<id>/kernel`, `<id>/bias`). false: training checkpoint. */
  folded: boolean;
  /**
   * `sha256`: of the group's files, concatenated (written since it was added; checked when
   * present): a weights file left by another write, or by one that was interrupted, is refused.
   */
  weightsManifest: Array<{ paths: string[]; weights: WeightEntry[]; sha256?: string }>;
  training?: Record<string, unknown>;
}

export interface NamedArrays {
  [name: string]: { shape: number[]; data: Float32Array };
}

/**
 * Writes model.json + weights.bin, each atomically (a temp file, then rename). model.json holds
 * the weights' SHA-256: a write interrupted between the two renames leaves the new model.json
 * over the old weights.bin, which {@link readModelDir} then refuses as corrupt instead of
 * loading the new metadata (a checkpoint's epoch and state) with the old weights.
 */
export function writeModelDir(dir: string, meta: Omit<ModelJson, 'format' | 'formatVersion' | 'weightsManifest' | 'input'>, arrays: NamedArrays): void {
  fs.mkdirSync(dir, { recursive: true });
  const names = Object.keys(arrays);
  const total = names.reduce((s, n) => s + arrays[n].data.length, 0);
  const buf = Buffer.alloc(total * 4);
  let off = 0;
  const weights: WeightEntry[] = [];
  for (const n of names) {
    const a = arrays[n];
    const expected = a.shape.reduce((x, y) => x * y, 1);
    if (expected !== a.data.length) throw new Error(`weight ${n}: shape ${a.shape.join('x')} does not match ${a.data.length} values`);
    for (let i = 0; i < a.data.length; i++) buf.writeFloatLE(a.data[i], off + i * 4);
    off += a.data.length * 4;
    weights.push({ name: n, shape: a.shape, dtype: 'float32' });
  }
  const json: ModelJson = {
    format: MODEL_FORMAT,
    formatVersion: MODEL_FORMAT_VERSION,
    name: meta.name,
    variant: meta.variant,
    classes: meta.classes,
    spec: meta.spec,
    input: { width: meta.spec.inputSize, height: meta.spec.inputSize, channels: 1, normalization: 'per-image-standardization', stdFloor: PIXEL_STD_FLOOR, scale: 255 },
    folded: meta.folded,
    weightsManifest: [{ paths: ['weights.bin'], weights, sha256: createHash('sha256').update(buf).digest('hex') }],
    ...(meta.training ? { training: meta.training } : {}),
  };
  const tmpBin = path.join(dir, `.weights.bin.${process.pid}.tmp`);
  const tmpJson = path.join(dir, `.model.json.${process.pid}.tmp`);
  fs.writeFileSync(tmpBin, buf);
  fs.writeFileSync(tmpJson, JSON.stringify(json, null, 1) + '\n');
  // model.json first: interrupted before the weights' rename, the new model.json (always with
  // the SHA-256) refuses the old weights.bin. The other way round, an old model.json written
  // before the SHA-256 existed (a checkpoint of an earlier version) took the new weights unchecked.
  fs.renameSync(tmpJson, path.join(dir, 'model.json'));
  fs.renameSync(tmpBin, path.join(dir, 'weights.bin'));
}

/** Optimiser state in a checkpoint (AdamW moments `adam/…`, SGD momentum `sgd/…`): not model weights. */
export function isOptimizerState(name: string): boolean {
  return name.startsWith('adam/') || name.startsWith('sgd/');
}

/** A batch-norm moving statistic (`…/moving_mean`, `…/moving_variance`): state, not a trainable parameter. */
export function isMovingStat(name: string): boolean {
  return name.endsWith('/moving_mean') || name.endsWith('/moving_variance');
}

/**
 * The model weights of a checkpoint's arrays: the EMA copy (`ema/…`) when the checkpoint keeps
 * one, else the raw parameters; optimizer state ({@link isOptimizerState}) is left out. What evaluation, export,
 * self-tests and fine-tuning (`--init`) read from a training checkpoint.
 */
export function trainingFormWeights(all: NamedArrays): NamedArrays {
  const useEma = Object.keys(all).some((n) => n.startsWith('ema/'));
  const out: NamedArrays = {};
  for (const [n, a] of Object.entries(all)) {
    if (isOptimizerState(n) || useEma !== n.startsWith('ema/')) continue;
    out[useEma ? n.slice(4) : n] = a;
  }
  return out;
}

/** Error with a stable `code` for missing/corrupt model files. */
export class ModelLoadError extends Error {
  constructor(
    readonly code: 'NOT_FOUND' | 'CORRUPT' | 'UNSUPPORTED',
    message: string,
  ) {
    super(message);
    this.name = 'ModelLoadError';
  }
}

/** Reads and validates a model directory (or a path to its model.json). */
export function readModelDir(dirOrJson: string): { json: ModelJson; arrays: NamedArrays; dir: string } {
  // A path to another file (weights.bin, an image): say so, not "<file>/model.json not found".
  if (!dirOrJson.endsWith('.json') && fs.statSync(dirOrJson, { throwIfNoEntry: false })?.isFile()) {
    throw new ModelLoadError('UNSUPPORTED', `${dirOrJson} is a file, not a model: give the model directory (with model.json and weights.bin) or its model.json`);
  }
  const jsonPath = dirOrJson.endsWith('.json') ? dirOrJson : path.join(dirOrJson, 'model.json');
  const dir = path.dirname(jsonPath);
  if (!fs.existsSync(jsonPath)) throw new ModelLoadError('NOT_FOUND', `Model file not found: ${jsonPath}`);
  let json: ModelJson;
  try {
    json = JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as ModelJson;
  } catch (e) {
    throw new ModelLoadError('CORRUPT', `Model file ${jsonPath} is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!json || json.format !== MODEL_FORMAT) throw new ModelLoadError('UNSUPPORTED', `${jsonPath} is not an EmotionNet Nano model (format "${String(json?.format)}")`);
  if (json.formatVersion !== MODEL_FORMAT_VERSION) throw new ModelLoadError('UNSUPPORTED', `${jsonPath}: unsupported format version ${String(json.formatVersion)}`);
  if (!Array.isArray(json.classes) || json.classes.length < 2) throw new ModelLoadError('CORRUPT', `${jsonPath}: "classes" must list at least two labels`);
  // One probability per label: a repeated (or non-string) label would lose one of them.
  if (!json.classes.every((c) => typeof c === 'string' && c) || new Set(json.classes).size !== json.classes.length) {
    throw new ModelLoadError('CORRUPT', `${jsonPath}: "classes" must be distinct non-empty labels, got ${JSON.stringify(json.classes).slice(0, 200)}`);
  }
  try {
    resolveSpec(json.spec);
  } catch (e) {
    throw new ModelLoadError('CORRUPT', `${jsonPath}: bad architecture spec (${e instanceof Error ? e.message : String(e)})`);
  }
  const arrays: NamedArrays = {};
  const manifest: unknown = json.weightsManifest ?? [];
  if (!Array.isArray(manifest)) throw new ModelLoadError('CORRUPT', `${jsonPath}: "weightsManifest" must be a list of { paths, weights } groups`);
  const hashed: Array<{ paths: string[]; sha256: string; buf: Buffer }> = [];
  for (const group of manifest as ModelJson['weightsManifest']) {
    if (!group || !Array.isArray(group.paths) || !group.paths.every((p) => typeof p === 'string') || !Array.isArray(group.weights)) {
      throw new ModelLoadError('CORRUPT', `${jsonPath}: bad "weightsManifest" group (expected { paths: [file names], weights: [entries] })`);
    }
    const bins = group.paths.map((p) => {
      const f = path.join(dir, p);
      const st = fs.statSync(f, { throwIfNoEntry: false });
      if (!st) throw new ModelLoadError('NOT_FOUND', `Model weights file not found: ${f}`);
      if (!st.isFile()) throw new ModelLoadError('CORRUPT', `${jsonPath}: weights path ${f} is not a file`);
      return fs.readFileSync(f);
    });
    const buf = Buffer.concat(bins);
    if (typeof group.sha256 === 'string') hashed.push({ paths: group.paths, sha256: group.sha256, buf });
    let off = 0;
    for (const w of group.weights) {
      if (!w || typeof w.name !== 'string' || !Array.isArray(w.shape) || !w.shape.every((d) => Number.isInteger(d) && d >= 0)) {
        throw new ModelLoadError('CORRUPT', `${jsonPath}: bad weights manifest entry ${JSON.stringify(w)?.slice(0, 120)} (expected { name, shape: [whole numbers >= 0], dtype })`);
      }
      const n = w.shape.reduce((x, y) => x * y, 1);
      if (w.dtype !== 'float32') throw new ModelLoadError('UNSUPPORTED', `${jsonPath}: weight ${w.name} has dtype ${w.dtype}; only float32 is supported`);
      if (off + n * 4 > buf.length) throw new ModelLoadError('CORRUPT', `${jsonPath}: weights file is too short (truncated or corrupt) at ${w.name}`);
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = buf.readFloatLE(off + i * 4);
      off += n * 4;
      arrays[w.name] = { shape: w.shape, data };
    }
    if (off !== buf.length) throw new ModelLoadError('CORRUPT', `${jsonPath}: weights file has ${buf.length - off} unexpected extra bytes`);
  }
  for (const [n, a] of Object.entries(arrays)) {
    for (let i = 0; i < a.data.length; i++) {
      if (!Number.isFinite(a.data[i])) throw new ModelLoadError('CORRUPT', `${jsonPath}: weight ${n} contains non-finite values`);
    }
  }
  // Weights of the right size and sound, but of another write (one interrupted between its renames).
  for (const h of hashed) {
    if (createHash('sha256').update(h.buf).digest('hex') !== h.sha256) {
      throw new ModelLoadError('CORRUPT', `${jsonPath}: ${h.paths.join(', ')} does not belong to this model.json (its SHA-256 differs: written by another save, or by one that was interrupted)`);
    }
  }
  return { json, arrays, dir };
}
