/**
 * BlazeFace face detector (MediaPipe's full-range "back" model, 256x256 training input, as
 * shipped MIT-licensed by @vladmandic/human; copy in models/blazeface/).
 *
 * The network is fully convolutional, so it runs at any input size: we feed the frame resized
 * to a long side of `inputSize` keeping its aspect (padded to a multiple of 16), instead of a
 * 256x256 square, and read its four raw head convolutions (before the graph's fixed reshapes).
 */
import * as path from 'path';
import { GraphModel, loadGraphModel } from '@tensorflow/tfjs-converter';
import { BackendInfo, selectBackend, tf } from '../backend';
import { Frame } from '../frame';
import { imageFromFrame, ImageError, RawImage } from '../image';
import { consoleLogger, Logger } from '../log';
import { compileDirectRunner, GraphNodeDef } from './graph-runner';
import { defaultBlazeFaceDir, fileModelHandler, freeInputSize } from './model-files';
import { prepareInput } from './preprocess';
import { Box, Detection, FaceKeypoints, iou, KEYPOINT_NAMES } from './types';

/**
 * Inputs are padded to a multiple of 16 (not of the total stride, 32): for 640x480 at size 192
 * that is 192x144 instead of 192x160, 10 % less work. When the stride-16 feature map has an odd
 * size, TF "SAME" padding puts its extra row/column on top/left in the next stride-2 layer, which
 * moves the stride-32 grid back by one stride-16 cell: {@link gridShift} corrects the anchors
 * (checked against 32-aligned inputs in test/face: same boxes within a few pixels).
 */
const PAD_MULTIPLE = 16;

/** Anchor shift (input pixels) of a head along a dimension of `size` input pixels. */
function gridShift(headStride: number, size: number): number {
  return headStride > PAD_MULTIPLE && (size / PAD_MULTIPLE) % 2 === 1 ? -PAD_MULTIPLE : 0;
}
/** Values per anchor in the regressor heads: box (dx, dy, w, h) + 6 keypoints (x, y). */
const REGRESSOR_VALUES = 16;

export interface FaceDetectorOptions {
  /** TensorFlow.js backend preference (see selectBackend). @default 'auto' */
  backend?: string;
  /** Minimum detector confidence 0..1. @default 0.45 */
  minConfidence?: number;
  /** Ignore faces whose box is narrower than this many frame pixels. @default 0 */
  minFaceSize?: number;
  /** At most this many faces per frame (highest scores first). @default 10 */
  maxFaces?: number;
  /**
   * Long side, in pixels, that the frame is scaled to for the network (the input is then padded
   * to a multiple of 16: 640x480 at 192 → 192x144). 256 is the model's training size and
   * the most sensitive to small faces; 192 is ~40 % faster and still finds faces down to about
   * 40 px in a 640x480 frame; 160/128 suit close-up cameras (one face filling the view).
   * @default 192
   */
  inputSize?: number;
  /** Overlap (IoU) above which detections merge in weighted non-maximum suppression. @default 0.3 */
  iouThreshold?: number;
  /** Directory with blazeface.json/.bin, or the .json path. @default the shipped models/blazeface */
  modelPath?: string;
  /** Largest accepted frame in pixels (decoded JPEG/PNG or raw). @default 16777216 (4096x4096) */
  maxPixels?: number;
  /**
   * How the network runs: `direct` maps the graph once to calls of the backend's kernels, with
   * each residual Add+Relu fused (faster per frame on wasm, see README *Face crop*; falls back to `graph`
   * for graphs with other ops), `graph` uses the converter's GraphModel executor.
   * @default 'direct'
   */
  executor?: 'direct' | 'graph';
  logger?: Logger;
}

/** Where the time of the latest detection went, in ms. */
export interface DetectorTimings {
  /** Letterbox resize + normalisation into the network input, and its upload. */
  prepare: number;
  /** The network. */
  model: number;
  /** Reading the scores back, anchor decoding and non-maximum suppression. */
  decode: number;
}

/** The detector object returned by {@link loadFaceDetector}. */
export interface FaceDetector {
  readonly backend: BackendInfo;
  readonly options: Readonly<Required<Omit<FaceDetectorOptions, 'logger' | 'backend' | 'modelPath' | 'executor'>>>;
  /** Which executor runs the network (see {@link FaceDetectorOptions.executor}). */
  readonly executor: 'direct' | 'graph';
  /** Detects faces in a frame (raw rgb24/gray or JPEG) or a decoded image. */
  detect(input: Frame | RawImage): Promise<Detection[]>;
  /** Synchronous variant for decoded images (what `detect` runs). */
  detectImage(img: RawImage): Detection[];
  /** Stage times of the latest `detect`/`detectImage` call (for metrics and benchmarks). */
  readonly lastTimings?: Readonly<DetectorTimings>;
  /** Worker threads the detector runs in (see createDetectorPool); absent: this thread. */
  readonly threads?: number;
  dispose(): void;
}

interface Head {
  stride: number;
  anchorsPerCell: number;
  cls: string;
  reg: string;
}

function checkNumber(name: string, v: unknown, min: number, max: number, integer = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new TypeError(`Expected \`${name}\` to be ${integer ? 'an integer' : 'a number'} in ${min}..${max}, got \`${String(v)}\``);
  }
  return v;
}

/**
 * Throws the ImageError for an image the detector cannot take: no pixels, more than `maxPixels`,
 * or bytes that do not match its size (such an image gave faces at NaN).
 */
export function checkDetectorImage(img: RawImage, maxPixels: number): void {
  if (!(Number.isInteger(img.width) && Number.isInteger(img.height) && img.width > 0 && img.height > 0)) {
    throw new ImageError('EMPTY', `image has no pixels (${img.width}x${img.height}; width and height must be integers >= 1)`);
  }
  if (img.width * img.height > maxPixels) {
    const limit = maxPixels >= 1e5 ? `${(maxPixels / 1e6).toFixed(1)} MP` : `${maxPixels} pixels`;
    throw new ImageError('TOO_LARGE', `image is ${img.width}x${img.height}, above the limit of ${limit}`);
  }
  if (![1, 3, 4].includes(img.channels) || !(img.data instanceof Uint8Array)) {
    throw new ImageError('BAD_ARGUMENT', `image must have 1, 3 or 4 channels of bytes, got ${String(img.channels)} channels`);
  }
  const need = img.width * img.height * img.channels;
  if (img.data.length < need) throw new ImageError('BAD_ARGUMENT', `image data is ${img.data.length} bytes, expected ${need} for ${img.width}x${img.height}x${img.channels}`);
}

/** Validates detector options on a copy and fills defaults. */
export function resolveDetectorOptions(o: FaceDetectorOptions = {}): Required<Omit<FaceDetectorOptions, 'logger' | 'backend' | 'modelPath' | 'executor'>> {
  const inputSize = checkNumber('inputSize', o.inputSize ?? 192, 64, 640, true);
  if (o.executor !== undefined && o.executor !== 'direct' && o.executor !== 'graph') {
    throw new TypeError(`Expected \`executor\` to be 'direct' or 'graph', got \`${String(o.executor)}\``);
  }
  return {
    minConfidence: checkNumber('minConfidence', o.minConfidence ?? 0.45, 0, 1),
    minFaceSize: checkNumber('minFaceSize', o.minFaceSize ?? 0, 0, 100000),
    maxFaces: checkNumber('maxFaces', o.maxFaces ?? 10, 1, 100, true),
    inputSize,
    iouThreshold: checkNumber('iouThreshold', o.iouThreshold ?? 0.3, 0, 1),
    maxPixels: checkNumber('maxPixels', o.maxPixels ?? 4096 * 4096, 1, 1e9, true),
  };
}

interface Candidate {
  score: number;
  /** box (x, y, w, h) then 6 keypoints (x, y), in network input pixels */
  v: Float64Array;
}

/**
 * MediaPipe's "weighted" NMS: repeatedly take the best remaining candidate, merge every
 * candidate overlapping it by more than `threshold` into a score-weighted mean (steadier boxes
 * and keypoints than plain NMS), keep the best score.
 */
function weightedNms(cands: Candidate[], threshold: number, maxOut: number): Candidate[] {
  const rest = [...cands].sort((a, b) => b.score - a.score);
  const out: Candidate[] = [];
  const boxOf = (c: Candidate): Box => ({ x: c.v[0], y: c.v[1], width: c.v[2], height: c.v[3] });
  while (rest.length && out.length < maxOut) {
    const top = rest[0];
    const tb = boxOf(top);
    const merged = new Float64Array(top.v.length);
    let wsum = 0;
    for (let i = rest.length - 1; i >= 0; i--) {
      if (i === 0 || iou(tb, boxOf(rest[i])) > threshold) {
        const c = rest[i];
        for (let k = 0; k < merged.length; k++) merged[k] += c.v[k] * c.score;
        wsum += c.score;
        rest.splice(i, 1);
      }
    }
    for (let k = 0; k < merged.length; k++) merged[k] /= wsum;
    out.push({ score: top.score, v: merged });
  }
  return out;
}

class BlazeFaceDetector implements FaceDetector {
  readonly backend: BackendInfo;
  readonly options: Required<Omit<FaceDetectorOptions, 'logger' | 'backend' | 'modelPath' | 'executor'>>;
  readonly executor: 'direct' | 'graph';
  #model: GraphModel | null;
  readonly #run: (x: tf.Tensor) => tf.Tensor[];
  readonly #heads: Head[];
  readonly #minLogit: number;
  #input: ReturnType<typeof prepareInput> | null = null;
  #timings: DetectorTimings = { prepare: 0, model: 0, decode: 0 };

  constructor(
    model: GraphModel,
    heads: Head[],
    run: { executor: 'direct' | 'graph'; fn: (x: tf.Tensor) => tf.Tensor[] },
    backend: BackendInfo,
    options: BlazeFaceDetector['options'],
  ) {
    this.#model = model;
    this.#heads = heads;
    this.#run = run.fn;
    this.executor = run.executor;
    this.backend = backend;
    this.options = options;
    const p = Math.min(Math.max(options.minConfidence, 1e-6), 1 - 1e-6);
    this.#minLogit = Math.log(p / (1 - p));
  }

  get lastTimings(): Readonly<DetectorTimings> {
    return this.#timings;
  }

  async detect(input: Frame | RawImage): Promise<Detection[]> {
    const img = 'channels' in input ? input : imageFromFrame(input, { maxPixels: this.options.maxPixels });
    return this.detectImage(img);
  }

  detectImage(img: RawImage): Detection[] {
    if (!this.#model) throw new Error('face detector was disposed');
    checkDetectorImage(img, this.options.maxPixels);
    // The input buffer is reused from frame to frame (the tensor below copies it or is disposed
    // before the next call), so steady-state frames allocate no input memory.
    const t0 = performance.now();
    const input = prepareInput(img, this.options.inputSize, PAD_MULTIPLE, this.#input ?? undefined);
    this.#input = input;
    const { data, geo } = input;
    const x = tf.tensor4d(data, [1, geo.inputHeight, geo.inputWidth, 3]);
    const t1 = performance.now();
    let outs: tf.Tensor[];
    try {
      outs = this.#run(x);
    } finally {
      x.dispose();
    }
    const t2 = performance.now();
    const cands: Candidate[] = [];
    const minW = this.options.minFaceSize * geo.scale;
    try {
      this.#heads.forEach((h, hi) => {
        const cls = outs[2 * hi].dataSync() as Float32Array;
        const [, , gw, A] = outs[2 * hi].shape as number[];
        let regs: Float32Array | null = null;
        const shiftX = gridShift(h.stride, geo.inputWidth);
        const shiftY = gridShift(h.stride, geo.inputHeight);
        for (let i = 0; i < cls.length; i++) {
          if (cls[i] < this.#minLogit) continue;
          regs ??= outs[2 * hi + 1].dataSync() as Float32Array;
          const cell = Math.floor(i / A);
          const ax = ((cell % gw) + 0.5) * h.stride + shiftX;
          const ay = (Math.floor(cell / gw) + 0.5) * h.stride + shiftY;
          const r = i * REGRESSOR_VALUES;
          const cx = ax + regs[r];
          const cy = ay + regs[r + 1];
          const w = regs[r + 2];
          const hgt = regs[r + 3];
          // Faces centred in the letterbox padding, or too small, are not candidates.
          if (cx > geo.contentWidth || cy > geo.contentHeight || w < minW) continue;
          const v = new Float64Array(4 + 12);
          v[0] = cx - w / 2;
          v[1] = cy - hgt / 2;
          v[2] = w;
          v[3] = hgt;
          for (let k = 0; k < 6; k++) {
            v[4 + 2 * k] = ax + regs[r + 4 + 2 * k];
            v[5 + 2 * k] = ay + regs[r + 5 + 2 * k];
          }
          cands.push({ score: 1 / (1 + Math.exp(-cls[i])), v });
        }
      });
    } finally {
      outs.forEach((t) => t.dispose());
    }
    const kept = weightedNms(cands, this.options.iouThreshold, this.options.maxFaces * 2);
    const s = 1 / geo.scale;
    const dets: Detection[] = [];
    for (const c of kept) {
      const v = c.v;
      const bx = v[0] * s;
      const by = v[1] * s;
      const bw = v[2] * s;
      const bh = v[3] * s;
      if (bw < this.options.minFaceSize || bw <= 0 || bh <= 0) continue;
      // Clip to the frame; a face half outside still yields its visible part.
      const x0 = Math.max(0, bx);
      const y0 = Math.max(0, by);
      const x1 = Math.min(img.width, bx + bw);
      const y1 = Math.min(img.height, by + bh);
      if (x1 - x0 < 1 || y1 - y0 < 1) continue;
      const kp = {} as FaceKeypoints;
      KEYPOINT_NAMES.forEach((name, k) => (kp[name] = { x: v[4 + 2 * k] * s, y: v[5 + 2 * k] * s }));
      dets.push({ box: { x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, score: c.score, keypoints: kp });
      if (dets.length >= this.options.maxFaces) break;
    }
    // A new object each time: a caller may keep the previous one.
    this.#timings = { prepare: t1 - t0, model: t2 - t1, decode: performance.now() - t2 };
    return dets;
  }

  dispose(): void {
    this.#model?.dispose();
    this.#model = null;
    this.#input = null;
  }
}

/** Finds the classification/regression head convolutions (inputs of the graph's reshapes). */
function findHeads(model: GraphModel, json: { modelTopology: { node: Array<{ op: string; input?: string[] }> } }): Head[] {
  const probe = tf.zeros([1, 64, 64, 3]);
  const names = json.modelTopology.node.filter((n) => n.op === 'Reshape' && n.input?.length).map((n) => n.input![0]);
  const outs = model.execute(probe, names) as tf.Tensor[];
  const info = outs.map((t, i) => ({ name: names[i], gh: t.shape[1] as number, c: t.shape[3] as number }));
  outs.forEach((t) => t.dispose());
  probe.dispose();
  const heads: Head[] = [];
  for (const cls of info.filter((o) => o.c < REGRESSOR_VALUES)) {
    const reg = info.find((o) => o.gh === cls.gh && o.c === cls.c * REGRESSOR_VALUES);
    if (!reg) throw new Error(`BlazeFace graph: no regressor head for ${cls.name}`);
    heads.push({ stride: 64 / cls.gh, anchorsPerCell: cls.c, cls: cls.name, reg: reg.name });
  }
  if (heads.length === 0) throw new Error('BlazeFace graph: no detection heads found');
  return heads.sort((a, b) => a.stride - b.stride);
}

/**
 * Loads the BlazeFace detector from the shipped weights (offline) on the shared backend.
 *
 * <span class="informal">tfjs-models style: `load(config)` → object with `detect()` and `dispose()`.</span>
 *
 * @example
 * ```ts
 * const detector = await loadFaceDetector({ minConfidence: 0.6, inputSize: 192 });
 * const faces = await detector.detect(frame); // [{ box, score, keypoints }]
 * detector.dispose();
 * ```
 * @param options Detector options (validated on a copy).
 * @return The detector.
 */
export async function loadFaceDetector(options: FaceDetectorOptions = {}): Promise<FaceDetector> {
  const opts = resolveDetectorOptions(options);
  const log = options.logger ?? consoleLogger();
  const backend = await selectBackend({ backend: options.backend, logger: log });
  const p = options.modelPath ?? defaultBlazeFaceDir();
  const jsonPath = p.endsWith('.json') ? p : path.join(p, 'blazeface.json');
  let topology: { modelTopology: { node: Array<{ op: string; input?: string[] }> } } | null = null;
  const model = await loadGraphModel(
    fileModelHandler(jsonPath, (json) => {
      freeInputSize(json);
      topology = json;
    }),
  );
  try {
    const heads = findHeads(model, topology!);
    const names = heads.flatMap((h) => [h.cls, h.reg]);
    let run: { executor: 'direct' | 'graph'; fn: (x: tf.Tensor) => tf.Tensor[] } = {
      executor: 'graph',
      fn: (x) => model.execute(x, names) as tf.Tensor[],
    };
    if (options.executor !== 'graph') {
      const nodes = (topology as unknown as { modelTopology: { node: GraphNodeDef[] } }).modelTopology.node;
      // Direct kernel calls on the backends they are tested on (wasm, cpu); through the engine
      // elsewhere (tfjs-node) or if a kernel is missing; else the GraphModel.
      const modes = backend.name === 'wasm' || backend.name === 'cpu' ? (['kernel', 'ops'] as const) : (['ops'] as const);
      for (const mode of modes) {
        try {
          run = { executor: 'direct', fn: compileDirectRunner(nodes, model.weights, names, mode) };
          break;
        } catch (e) {
          log.debug(`BlazeFace: direct executor (${mode}) not usable (${(e as Error).message})`);
        }
      }
    }
    log.debug(`BlazeFace loaded from ${jsonPath} (${heads.map((h) => `stride ${h.stride} x${h.anchorsPerCell}`).join(', ')}; ${run.executor} executor)`);
    return new BlazeFaceDetector(model, heads, run, backend, opts);
  } catch (e) {
    model.dispose();
    throw e;
  }
}
