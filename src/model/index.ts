/**
 * EmotionNet Nano classifier, tfjs-models style:
 *
 * ```ts
 * const clf = await load({ model: 'nano-b', backend: 'auto' });
 * const [r] = await clf.classify([{ width: 48, height: 48, data: gray48 }]);
 * // r = { label: 'happy', confidence: 0.97, probabilities: { anger: 0.001, ... } }
 * clf.dispose();
 * ```
 *
 * `model` is a registered name (`nano-b-wild`, the default, and `nano-a-wild`: 8 FER+ classes for
 * real cameras; `-wild-7`: FER2013's 7 labels; `nano-a`, `nano-b`: 7 classes, CK+; `nano-a-8`,
 * `nano-b-8`: CK+ with neutral) or a path to a model directory / model.json written by
 * `npm run train`. Weights are read from the file system (no network, no tfjs-node).
 * All faces of one call run as one batch through the BN-folded graph.
 *
 * `tta: 'flip'` (test-time augmentation, "mirror averaging"): every face also runs mirrored
 * left-right, in the same batch, and the two probability vectors are averaged (at most about +0.2 points
 * accuracy in the wild for about twice the classifier cost; see models/README.md).
 *
 * `executor: 'direct'` (the default on wasm and cpu) runs the graph as a list of kernel calls
 * compiled at load (direct.ts); `'graph'` runs it through tf ops ({@link inferForward}), as on
 * every other backend. Both give the same probabilities (within 1e-5).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { BackendInfo, selectBackend } from '../backend';
import { Logger, silentLogger } from '../log';
import { notAnObject } from '../options';
import { compileDirectClassifier, DirectClassifier } from './direct';
import { inferForward, normalizeInPlace, TensorMap } from './graph';
import { ModelJson, ModelLoadError, readModelDir } from './io';
import { countCost, resolveSpec, ResolvedSpec } from './spec';

export * from './spec';
export { ModelLoadError, readModelDir, writeModelDir, MODEL_FORMAT, MODEL_FORMAT_VERSION } from './io';
export type { ModelJson, NamedArrays, WeightEntry } from './io';
export { normalizePixels, normalizeInPlace, foldBatchNorm, inferForward, trainForward } from './graph';

/** A grayscale face crop (48x48 for the shipped models), 0..255, row-major. */
export interface FaceImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface Classification {
  /** Canonical lowercase label of the most probable class. */
  label: string;
  /** Probability of `label`, 0..1. */
  confidence: number;
  /** Probability per class label (sums to 1). */
  probabilities: Record<string, number>;
}

/**
 * Test-time augmentation: `none` classifies each face once; `flip` also classifies its
 * left-right mirror image and averages the two probability vectors (2x the classifier work).
 */
export type TtaMode = 'none' | 'flip';

/** The accepted {@link LoadOptions.tta} values. */
export const TTA_MODES: readonly TtaMode[] = ['none', 'flip'];

/**
 * `value` if it is one of `allowed`, `fallback` if undefined; otherwise a TypeError naming the
 * option and the allowed values.
 */
function resolveChoice<T extends string>(option: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  const got = typeof value === 'string' ? `"${value}"` : value === null ? 'null' : typeof value;
  throw new TypeError(`Invalid ${option} option ${got}: expected one of ${allowed.map((m) => `'${m}'`).join(', ')}`);
}

/**
 * Validates a `tta` option: `undefined` → `'none'`; anything but {@link TTA_MODES} throws a
 * TypeError naming the allowed values.
 */
export function resolveTta(tta: unknown): TtaMode {
  return resolveChoice('tta', tta, TTA_MODES, 'none');
}

/**
 * How the classifier network runs: `direct` = kernel calls compiled once at load (less per-call
 * overhead; wasm and cpu backends), `graph` = tf ops through the engine.
 */
export type ExecutorMode = 'direct' | 'graph';

/** The accepted {@link LoadOptions.executor} values. */
export const EXECUTOR_MODES: readonly ExecutorMode[] = ['direct', 'graph'];

/** Validates an `executor` option: `undefined` → `'direct'`; anything else but {@link EXECUTOR_MODES} throws a TypeError. */
export function resolveExecutor(executor: unknown): ExecutorMode {
  return resolveChoice('executor', executor, EXECUTOR_MODES, 'direct');
}

export interface EmotionClassifier {
  /** Model name (`nano-b`, or the directory name of a custom model). */
  readonly name: string;
  readonly classes: string[];
  readonly backend: BackendInfo;
  /** Test-time augmentation in use (`load()` always sets it; absent in a stand-in classifier = `'none'`). */
  readonly tta?: TtaMode;
  /** Which executor runs the network (`load()` always sets it; see {@link LoadOptions.executor}). */
  readonly executor?: ExecutorMode;
  /** Parameters and multiply-accumulates per face. */
  readonly cost: { params: number; macs: number };
  /** Input size in pixels (square), 48 for the shipped models. */
  readonly inputSize: number;
  /**
   * The face stage's crop framing the model was trained on (`fer2013` for the in-the-wild
   * models, `ck48` for the CK+ ones, what `npm run train --detect` recorded for a custom model);
   * undefined when unknown.
   */
  readonly framing?: string;
  /** Classifies all faces as one batch. Throws a TypeError for bad input. */
  classify(faces: FaceImage[]): Promise<Classification[]>;
  /** Frees the weights; later classify() calls throw. Idempotent. */
  dispose(): void;
}

export interface LoadOptions {
  /** Registered name or a path to a model directory / model.json. @default 'nano-b-wild' (in the wild, 8 classes: the right choice for live cameras) */
  model?: string;
  /** Backend preference (see selectBackend). @default 'auto' */
  backend?: string;
  /**
   * Test-time augmentation: `'flip'` averages each face's probabilities with those of its
   * mirror image (one batch of 2N; at most about +0.2 points accuracy in the wild, about 2x the cost).
   * @default 'none'
   */
  tta?: TtaMode;
  /**
   * How the network runs: `direct` calls the backend's kernels from a list compiled at load
   * (on wasm 1.2x (Nano-B) to 1.5x (Nano-A) the speed of `graph` for one face, 1.1x to 1.4x at
   * batch 16; used on the wasm and cpu backends, elsewhere `graph`), `graph` runs it as tf ops.
   * Same results within 1e-5.
   * @default 'direct'
   */
  executor?: ExecutorMode;
  logger?: Logger;
}

/** The registered (shipped) models. */
export const MODELS: Record<string, { classes: number; framing: 'fer2013' | 'ck48'; description: string }> = {
  'nano-a': { classes: 7, framing: 'ck48', description: 'EmotionNet Nano-A, 7 classes (CK+), concatenating merges, larger and slower than Nano-B' },
  'nano-b': { classes: 7, framing: 'ck48', description: 'EmotionNet Nano-B, 7 classes (CK+), adding merges, fastest' },
  'nano-a-8': { classes: 8, framing: 'ck48', description: 'EmotionNet Nano-A, 8 classes with neutral (CK+ peak + neutral)' },
  'nano-b-8': { classes: 8, framing: 'ck48', description: 'EmotionNet Nano-B, 8 classes with neutral (CK+ peak + neutral)' },
  // In-the-wild models (issue 6): FER2013 Training with FER+ votes; `-7`: FER2013's 7 original labels.
  'nano-a-wild': { classes: 8, framing: 'fer2013', description: 'EmotionNet Nano-A, 8 FER+ classes, in-the-wild (FER2013/FER+); use with the fer2013 crop framing' },
  'nano-b-wild': { classes: 8, framing: 'fer2013', description: 'EmotionNet Nano-B, 8 FER+ classes, in-the-wild (FER2013/FER+); use with the fer2013 crop framing' },
  'nano-a-wild-7': { classes: 7, framing: 'fer2013', description: 'EmotionNet Nano-A, 7 FER2013 labels, in-the-wild; use with the fer2013 crop framing' },
  'nano-b-wild-7': { classes: 7, framing: 'fer2013', description: 'EmotionNet Nano-B, 7 FER2013 labels, in-the-wild; use with the fer2013 crop framing' },
};

/** Registered model names and whether their weights are present in this install. */
export function listModels(): Array<{ id: string; classes: number; framing: string; description: string; available: boolean }> {
  const dir = modelsDir();
  return Object.entries(MODELS).map(([id, m]) => ({ id, ...m, available: !!dir && fs.existsSync(path.join(dir, id, 'model.json')) }));
}

/** The package's models/ directory (found by walking up from this file). */
export function modelsDir(): string | null {
  let d = __dirname;
  for (let i = 0; i < 6; i++) {
    const pkg = path.join(d, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if ((JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'node-red-contrib-emotionnet') return path.join(d, 'models');
      } catch {
        /* keep walking */
      }
    }
    d = path.dirname(d);
  }
  return null;
}

/** Resolves a registered name or a path to the model directory's model.json. */
export function resolveModelPath(model: string): string {
  const m = String(model).trim();
  if (!m) throw new ModelLoadError('NOT_FOUND', 'No model given');
  if (Object.prototype.hasOwnProperty.call(MODELS, m)) {
    const dir = modelsDir();
    if (!dir) throw new ModelLoadError('NOT_FOUND', `Cannot find the package's models/ directory for model "${m}"`);
    const p = path.join(dir, m, 'model.json');
    if (!fs.existsSync(p)) throw new ModelLoadError('NOT_FOUND', `Weights of model "${m}" are not installed (${p} is missing)`);
    return p;
  }
  const p = path.resolve(m);
  if (fs.existsSync(p) && fs.statSync(p).isDirectory()) return path.join(p, 'model.json');
  if (fs.existsSync(p)) return p;
  throw new ModelLoadError('NOT_FOUND', `Unknown model "${m}": not a registered name (${Object.keys(MODELS).join(', ')}) and no such file or directory`);
}

/**
 * Largest batch run at once, in rows of the input tensor (with `tta: 'flip'` a face takes two
 * rows, so 128 faces); bigger calls are split (bounded memory).
 */
export const MAX_BATCH = 256;

/**
 * Writes the left-right mirror image of the `width`x`height` image at `src[srcOffset…]` to
 * `dst[dstOffset…]` (row-major; any numeric arrays; no allocation). `src` and `dst` may be the
 * same array if the two ranges do not overlap.
 */
export function mirrorInto(src: ArrayLike<number>, srcOffset: number, dst: { [i: number]: number }, dstOffset: number, width: number, height: number): void {
  for (let y = 0; y < height; y++) {
    const s = srcOffset + y * width;
    const d = dstOffset + y * width + width - 1;
    for (let x = 0; x < width; x++) dst[d - x] = src[s + x];
  }
}

/** The left-right mirror image of a gray image (new data; what `tta: 'flip'` adds to the batch). */
export function flipHorizontal(img: FaceImage): FaceImage {
  const { width, height } = img;
  if (!img.data || img.data.length !== width * height) throw new TypeError(`flipHorizontal: expected ${width}x${height} = ${width * height} gray pixels, got ${img.data?.length}`);
  const data = new Uint8Array(width * height);
  mirrorInto(img.data, 0, data, 0, width, height);
  return { width, height, data };
}

class NanoClassifier implements EmotionClassifier {
  private weights: TensorMap | null;
  readonly cost: { params: number; macs: number };
  readonly inputSize: number;
  readonly executor: ExecutorMode;
  readonly framing?: string;

  constructor(
    readonly name: string,
    readonly classes: string[],
    readonly backend: BackendInfo,
    readonly tta: TtaMode,
    private readonly resolved: ResolvedSpec,
    weights: TensorMap,
    private direct: DirectClassifier | null,
    framing?: string,
  ) {
    this.weights = weights;
    if (framing) this.framing = framing;
    this.cost = countCost(resolved.spec, classes.length);
    this.inputSize = resolved.spec.inputSize;
    this.executor = direct ? 'direct' : 'graph';
  }

  /** Class probabilities [rows, classes] of `rows` standardised images in `buf`. */
  private async forward(w: TensorMap, buf: Float32Array, rows: number): Promise<Float32Array> {
    if (this.direct) return this.direct.run(buf, rows);
    const size = this.inputSize;
    const x = tf.tensor4d(buf, [rows, size, size, 1]);
    let probs: tf.Tensor | null = null;
    try {
      probs = tf.tidy(() => tf.softmax(inferForward(this.resolved, w, x, true)));
      return (await probs.data()) as Float32Array; // read outside tidy
    } finally {
      x.dispose();
      probs?.dispose();
    }
  }

  async classify(faces: FaceImage[]): Promise<Classification[]> {
    if (!this.weights) throw new Error(`Classifier "${this.name}" has been disposed`);
    if (!Array.isArray(faces)) throw new TypeError('classify() expects an array of face images ({ width, height, data })');
    if (faces.length === 0) throw new TypeError('classify() got an empty batch: pass at least one face image');
    const size = this.inputSize;
    const px = size * size;
    const k = this.classes.length;
    // flip: rows 0..n-1 hold the faces, rows n..2n-1 their mirror images, in one batch.
    const views = this.tta === 'flip' ? 2 : 1;
    const perRun = Math.floor(MAX_BATCH / views);
    const out: Classification[] = [];
    for (let start = 0; start < faces.length; start += perRun) {
      const n = Math.min(perRun, faces.length - start);
      const buf = new Float32Array(n * views * px);
      for (let i = 0; i < n; i++) {
        copyFace(faces[start + i], start + i, size, buf, i * px);
        normalizeInPlace(buf, i * px, px);
        // Per-image standardisation does not depend on pixel order: mirror the standardised face.
        if (views === 2) mirrorInto(buf, i * px, buf, (n + i) * px, size, size);
      }
      const w = this.weights;
      if (!w) throw new Error(`Classifier "${this.name}" has been disposed`);
      const data = await this.forward(w, buf, n * views);
      for (let i = 0; i < n; i++) {
        const a = i * k;
        const b = (n + i) * k;
        let best = 0;
        let bestP = 0;
        const entries: Array<[string, number]> = [];
        for (let c = 0; c < k; c++) {
          const p = views === 2 ? (data[a + c] + data[b + c]) / 2 : data[a + c];
          entries.push([this.classes[c], p]);
          if (c === 0 || p > bestP) {
            bestP = p;
            best = c;
          }
        }
        // fromEntries: own properties whatever a custom model's classes are called (`__proto__` too).
        out.push({ label: this.classes[best], confidence: bestP, probabilities: Object.fromEntries(entries) });
      }
    }
    return out;
  }

  dispose(): void {
    if (!this.weights) return;
    this.direct?.dispose();
    this.direct = null;
    tf.dispose(Object.values(this.weights));
    this.weights = null;
  }
}

function copyFace(f: FaceImage, index: number, size: number, dst: Float32Array, offset: number): void {
  if (!f || typeof f !== 'object') throw new TypeError(`face ${index}: expected { width, height, data }, got ${f === null ? 'null' : typeof f}`);
  if (f.width !== size || f.height !== size) {
    throw new TypeError(`face ${index}: expected a ${size}x${size} grayscale crop, got ${String(f.width)}x${String(f.height)} (crop and resize faces first, e.g. with cropFace)`);
  }
  const d = f.data as ArrayLike<number> | undefined;
  if (!d || typeof d.length !== 'number') throw new TypeError(`face ${index}: "data" must be a Uint8Array of ${size * size} gray pixels`);
  if (d.length !== size * size) {
    throw new TypeError(`face ${index}: "data" has ${d.length} values, expected ${size * size} (one gray byte per pixel; convert colour to gray first)`);
  }
  if (d instanceof Uint8Array || d instanceof Uint8ClampedArray) {
    dst.set(d, offset);
    return;
  }
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`face ${index}: pixel ${i} is ${String(v)} (pixels must be finite numbers 0..255)`);
    dst[offset + i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
}

/**
 * Loads an EmotionNet Nano classifier. Picks the backend through selectBackend (one per
 * process). Throws a {@link ModelLoadError} (code NOT_FOUND | CORRUPT | UNSUPPORTED) for a
 * missing or broken model, a TypeError for an invalid `tta`.
 */
export async function load(options: LoadOptions = {}): Promise<EmotionClassifier> {
  // A bare string (`load('nano-b')`) named no model: the default one loaded instead.
  const notObject = notAnObject(options);
  if (notObject) throw new TypeError(`load() options must be an object, e.g. { model: 'nano-b-wild' }, got ${notObject}`);
  const log = options.logger ?? silentLogger;
  const tta = resolveTta(options.tta);
  const executor = resolveExecutor(options.executor);
  const model = options.model && String(options.model).trim() ? String(options.model).trim() : 'nano-b-wild';
  const jsonPath = resolveModelPath(model);
  const { json, arrays } = readModelDir(jsonPath);
  if (!json.folded) throw new ModelLoadError('UNSUPPORTED', `${jsonPath} is a training checkpoint, not an inference model (use the model written by npm run train)`);
  const resolved = resolveSpec(json.spec);
  checkWeights(resolved, json, arrays, jsonPath);
  const backend = await selectBackend({ backend: options.backend ?? 'auto', logger: log });
  const weights: TensorMap = {};
  for (const [n, a] of Object.entries(arrays)) weights[n] = tf.tensor(a.data, a.shape);
  const name = Object.prototype.hasOwnProperty.call(MODELS, model) ? model : json.name || path.basename(path.dirname(jsonPath));
  let direct: DirectClassifier | null = null;
  if (executor === 'direct') {
    try {
      direct = compileDirectClassifier(resolved, weights);
    } catch (e) {
      log.debug(`EmotionNet model ${name}: direct executor not usable (${(e as Error).message}); running the graph`);
    }
  }
  log.info(`EmotionNet model ${name} loaded (${json.classes.length} classes, backend ${backend.label}, ${direct ? 'direct' : 'graph'} executor${tta === 'none' ? '' : `, test-time augmentation ${tta}`})`);
  const recorded = json.training?.framing;
  const framing = Object.prototype.hasOwnProperty.call(MODELS, model) ? MODELS[model].framing : typeof recorded === 'string' && recorded ? recorded : undefined;
  return new NanoClassifier(name, [...json.classes], backend, tta, resolved, weights, direct, framing);
}

function checkWeights(r: ResolvedSpec, json: ModelJson, arrays: Record<string, { shape: number[] }>, where: string): void {
  const expect: Record<string, number[]> = {};
  for (const n of r.nodes) {
    expect[`${n.id}/kernel`] = [n.kernel, n.kernel, n.inChannels, n.outChannels];
    expect[`${n.id}/bias`] = [n.outChannels];
  }
  expect['dense/kernel'] = [r.headChannels, json.classes.length];
  expect['dense/bias'] = [json.classes.length];
  for (const [n, shape] of Object.entries(expect)) {
    const a = arrays[n];
    if (!a) throw new ModelLoadError('CORRUPT', `${where}: weight ${n} is missing`);
    if (a.shape.join('x') !== shape.join('x')) throw new ModelLoadError('CORRUPT', `${where}: weight ${n} has shape ${a.shape.join('x')}, expected ${shape.join('x')}`);
  }
}
