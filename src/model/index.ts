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
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { BackendInfo, selectBackend } from '../backend';
import { Logger, silentLogger } from '../log';
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

export interface EmotionClassifier {
  /** Model name (`nano-b`, or the directory name of a custom model). */
  readonly name: string;
  readonly classes: string[];
  readonly backend: BackendInfo;
  /** Parameters and multiply-accumulates per face. */
  readonly cost: { params: number; macs: number };
  /** Input size in pixels (square), 48 for the shipped models. */
  readonly inputSize: number;
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
  logger?: Logger;
}

/** The registered (shipped) models. */
export const MODELS: Record<string, { classes: number; description: string }> = {
  'nano-a': { classes: 7, description: 'EmotionNet Nano-A, 7 classes (CK+), concatenating merges, larger and slower than Nano-B' },
  'nano-b': { classes: 7, description: 'EmotionNet Nano-B, 7 classes (CK+), adding merges, fastest' },
  'nano-a-8': { classes: 8, description: 'EmotionNet Nano-A, 8 classes with neutral (CK+ peak + neutral)' },
  'nano-b-8': { classes: 8, description: 'EmotionNet Nano-B, 8 classes with neutral (CK+ peak + neutral)' },
  // In-the-wild models (issue 6): FER2013 Training with FER+ votes; `-7`: FER2013's 7 original labels.
  'nano-a-wild': { classes: 8, description: 'EmotionNet Nano-A, 8 FER+ classes, in-the-wild (FER2013/FER+); use with the fer2013 crop framing' },
  'nano-b-wild': { classes: 8, description: 'EmotionNet Nano-B, 8 FER+ classes, in-the-wild (FER2013/FER+); use with the fer2013 crop framing' },
  'nano-a-wild-7': { classes: 7, description: 'EmotionNet Nano-A, 7 FER2013 labels, in-the-wild; use with the fer2013 crop framing' },
  'nano-b-wild-7': { classes: 7, description: 'EmotionNet Nano-B, 7 FER2013 labels, in-the-wild; use with the fer2013 crop framing' },
};

/** Registered model names and whether their weights are present in this install. */
export function listModels(): Array<{ id: string; classes: number; description: string; available: boolean }> {
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

/** Largest batch run at once; bigger calls are split (bounded memory). */
export const MAX_BATCH = 256;

class NanoClassifier implements EmotionClassifier {
  private weights: TensorMap | null;
  readonly cost: { params: number; macs: number };
  readonly inputSize: number;

  constructor(
    readonly name: string,
    readonly classes: string[],
    readonly backend: BackendInfo,
    private readonly resolved: ResolvedSpec,
    weights: TensorMap,
  ) {
    this.weights = weights;
    this.cost = countCost(resolved.spec, classes.length);
    this.inputSize = resolved.spec.inputSize;
  }

  async classify(faces: FaceImage[]): Promise<Classification[]> {
    if (!this.weights) throw new Error(`Classifier "${this.name}" has been disposed`);
    if (!Array.isArray(faces)) throw new TypeError('classify() expects an array of face images ({ width, height, data })');
    if (faces.length === 0) throw new TypeError('classify() got an empty batch: pass at least one face image');
    const size = this.inputSize;
    const px = size * size;
    const out: Classification[] = [];
    for (let start = 0; start < faces.length; start += MAX_BATCH) {
      const chunk = faces.slice(start, start + MAX_BATCH);
      const buf = new Float32Array(chunk.length * px);
      chunk.forEach((f, i) => {
        copyFace(f, start + i, size, buf, i * px);
        normalizeInPlace(buf, i * px, px);
      });
      const x = tf.tensor4d(buf, [chunk.length, size, size, 1]);
      let probs: tf.Tensor | null = null;
      try {
        const w = this.weights;
        probs = tf.tidy(() => tf.softmax(inferForward(this.resolved, w, x, true)));
        const data = await probs.data(); // read outside tidy
        const k = this.classes.length;
        for (let i = 0; i < chunk.length; i++) {
          let best = 0;
          const probabilities: Record<string, number> = {};
          for (let c = 0; c < k; c++) {
            const p = data[i * k + c];
            probabilities[this.classes[c]] = p;
            if (p > data[i * k + best]) best = c;
          }
          out.push({ label: this.classes[best], confidence: data[i * k + best], probabilities });
        }
      } finally {
        x.dispose();
        probs?.dispose();
      }
    }
    return out;
  }

  dispose(): void {
    if (!this.weights) return;
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
 * missing or broken model.
 */
export async function load(options: LoadOptions = {}): Promise<EmotionClassifier> {
  const log = options.logger ?? silentLogger;
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
  log.info(`EmotionNet model ${name} loaded (${json.classes.length} classes, backend ${backend.label})`);
  return new NanoClassifier(name, [...json.classes], backend, resolved, weights);
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
