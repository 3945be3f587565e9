/**
 * The classifier stage: the glue between the face stage's `Face[]` and the EmotionNet Nano
 * model of src/model. It validates input, classifies all faces of a frame in one batch,
 * attaches `emotion` to each face and measures faces per second. Never imports node-red.
 */
import { listModels, load } from '../model';
import type { Classification, ClassifierLoader, EmotionClassifier, FaceLike, GrayImage, LoadClassifierOptions } from './types';

export * from './types';
/** Test-time augmentation modes of `loadClassifier({ tta })` (`flip`: mirror averaging). */
export { TTA_MODES } from '../model';

/** Canonical class labels (lowercase), in the order used by 8-class models. */
export const CANONICAL_LABELS = ['anger', 'contempt', 'disgust', 'fear', 'happy', 'neutral', 'sadness', 'surprise'] as const;

const SYNONYMS: Record<string, string> = {
  angry: 'anger', anger: 'anger', contempt: 'contempt', disgust: 'disgust', disgusted: 'disgust',
  fear: 'fear', fearful: 'fear', scared: 'fear', happy: 'happy', happiness: 'happy', joy: 'happy',
  neutral: 'neutral', sad: 'sadness', sadness: 'sadness', surprise: 'surprise', surprised: 'surprise',
};

/** Maps a label or a synonym (`angry`, `happiness`, `sad`, …) to its canonical form; unknown labels are lower-cased. */
export function canonicalLabel(label: string): string {
  const k = String(label).trim().toLowerCase();
  return SYNONYMS[k] ?? k;
}

/** Crop framing a model was trained on: the face stage's `framing` option to pair it with. */
export type ModelFraming = 'fer2013' | 'ck48';

export interface BuiltinModel {
  id: string;
  classes: number;
  description: string;
  /** The face stage's crop framing that matches the model's training crops. */
  framing: ModelFraming;
  /** `wild`: FER2013/FER+ (real scenes, live cameras); `ck`: CK+ (posed, lab; the paper's benchmark). */
  domain: 'wild' | 'ck';
}

/**
 * The model used when none is configured: in-the-wild Nano-B (FER+, 8 classes with neutral),
 * the one that transfers to real cameras. Pair it with the face stage's `fer2013` framing.
 */
export const DEFAULT_MODEL = 'nano-b-wild';

/**
 * Built-in model choices offered in the editor, in-the-wild first (src/model may register
 * more; {@link availableModels} says which have their weights installed).
 */
export const BUILTIN_MODELS: ReadonlyArray<BuiltinModel> = [
  { id: 'nano-b-wild', classes: 8, framing: 'fer2013', domain: 'wild', description: 'Nano-B in-the-wild (FER+), 8 classes with neutral — default for live cameras' },
  { id: 'nano-b-wild-7', classes: 7, framing: 'fer2013', domain: 'wild', description: 'Nano-B in-the-wild (FER2013), the 7 FER2013 labels (no contempt)' },
  { id: 'nano-a-wild', classes: 8, framing: 'fer2013', domain: 'wild', description: 'Nano-A in-the-wild (FER+), 8 classes with neutral' },
  { id: 'nano-a-wild-7', classes: 7, framing: 'fer2013', domain: 'wild', description: 'Nano-A in-the-wild (FER2013), the 7 FER2013 labels (no contempt)' },
  { id: 'nano-a', classes: 7, framing: 'ck48', domain: 'ck', description: 'CK+ (posed, lab) — paper benchmark: Nano-A, 7 classes' },
  { id: 'nano-b', classes: 7, framing: 'ck48', domain: 'ck', description: 'CK+ (posed, lab) — paper benchmark: Nano-B, 7 classes, fastest' },
  { id: 'nano-a-8', classes: 8, framing: 'ck48', domain: 'ck', description: 'CK+ (posed, lab): Nano-A, 8 classes with neutral' },
  { id: 'nano-b-8', classes: 8, framing: 'ck48', domain: 'ck', description: 'CK+ (posed, lab): Nano-B, 8 classes with neutral' },
];

/**
 * The face stage's crop framing that matches a built-in model (`fer2013` for the in-the-wild
 * models, `ck48` for the CK+ ones); `undefined` for a custom model. With no model given, the
 * framing of {@link DEFAULT_MODEL}.
 */
export function modelFraming(model?: string): ModelFraming | undefined {
  const id = model && String(model).trim() ? String(model).trim() : DEFAULT_MODEL;
  return BUILTIN_MODELS.find((m) => m.id === id)?.framing;
}

let loaderOverride: ClassifierLoader | null = null;

/**
 * Replaces the model loader for this process (tests, or an application that brings its own
 * model); `null` restores src/model's `load()`.
 */
export function setClassifierLoader(loader: ClassifierLoader | null): void {
  loaderOverride = loader;
}

/**
 * Loads an emotion classifier through src/model (or the loader set by {@link setClassifierLoader}).
 * Without `model` it loads {@link DEFAULT_MODEL} (`nano-b-wild`, in-the-wild, 8 classes with
 * neutral; pair it with the face stage's `fer2013` framing); the CK+ models (`nano-a`, `nano-b`,
 * `-8`) stay available by name for the paper's benchmark. Errors carry a message that names the model, so a status or log line is self-explanatory.
 *
 * @example
 * ```ts
 * const clf = await loadClassifier({ model: 'nano-b', backend: 'auto' });
 * const [r] = await clf.classify([crop48]);
 * ```
 */
export async function loadClassifier(options: LoadClassifierOptions = {}): Promise<EmotionClassifier> {
  const model = options.model && String(options.model).trim() ? String(options.model).trim() : DEFAULT_MODEL;
  const opts = { ...options, model };
  if (loaderOverride) return loaderOverride(opts);
  try {
    return await load(opts);
  } catch (e) {
    const m = e instanceof Error ? e.message : String(e);
    // Keep the kind (a bad option is a TypeError, as from load()) and the original as `cause`.
    const Kind = e instanceof TypeError ? TypeError : e instanceof RangeError ? RangeError : Error;
    throw new Kind(m.includes(model) ? m : `model "${model}" could not be loaded: ${m}`, { cause: e });
  }
}

/**
 * Model names src/model knows, with `available` = weights installed (falls back to
 * {@link BUILTIN_MODELS}), plus the matching crop `framing` and `domain` for the built-in ones.
 */
export function availableModels(): Array<{ id: string; classes?: number; description?: string; available?: boolean; framing?: ModelFraming; domain?: 'wild' | 'ck' }> {
  let list: Array<{ id: string; classes?: number; description?: string; available?: boolean }> = [];
  try {
    list = listModels();
  } catch {
    /* fall through to the built-in list */
  }
  if (!list.length) return [...BUILTIN_MODELS];
  return list.map((m) => {
    const b = BUILTIN_MODELS.find((x) => x.id === m.id);
    return b ? { ...m, framing: b.framing, domain: b.domain } : m;
  });
}

export const CROP_SIZE = 48;

/** What the classifier stage was given in `msg.payload`. */
export type ClassifyInput =
  | { kind: 'faces'; faces: FaceLike[]; images: GrayImage[] }
  | { kind: 'image'; images: GrayImage[] }
  | { kind: 'images'; images: GrayImage[] };

/** A payload the stage cannot classify; `key` is an i18n key suffix. */
export class ClassifyInputError extends Error {
  constructor(message: string, readonly key: string) {
    super(message);
    this.name = 'InputError';
  }
}

function isGrayLike(v: unknown): v is { width: number; height: number; data: Uint8Array } {
  if (!v || typeof v !== 'object') return false;
  const g = v as { width?: unknown; height?: unknown; data?: unknown };
  return Number.isInteger(g.width) && Number.isInteger(g.height) && g.data instanceof Uint8Array;
}

/**
 * Returns `img` as a 48x48 gray image: validated, and resized (bilinear) if it has another size.
 * Throws {@link ClassifyInputError} for a data length that does not match width*height.
 */
export function toCrop(img: { width: number; height: number; data: Uint8Array }, what = 'image'): GrayImage {
  const { width: w, height: h, data } = img;
  if (w < 1 || h < 1 || data.length !== w * h) {
    throw new ClassifyInputError(
      `${what} must be a gray image with width*height bytes (got ${w}x${h} with ${data.length} bytes)`,
      'bad-crop',
    );
  }
  if (w === CROP_SIZE && h === CROP_SIZE) return { width: w, height: h, data };
  const out = new Uint8Array(CROP_SIZE * CROP_SIZE);
  const sx = w / CROP_SIZE;
  const sy = h / CROP_SIZE;
  for (let y = 0; y < CROP_SIZE; y++) {
    const fy = Math.min(h - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(h - 1, y0 + 1);
    const ty = fy - y0;
    for (let x = 0; x < CROP_SIZE; x++) {
      const fx = Math.min(w - 1, Math.max(0, (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(w - 1, x0 + 1);
      const tx = fx - x0;
      const a = data[y0 * w + x0] * (1 - tx) + data[y0 * w + x1] * tx;
      const b = data[y1 * w + x0] * (1 - tx) + data[y1 * w + x1] * tx;
      out[y * CROP_SIZE + x] = Math.round(a * (1 - ty) + b * ty);
    }
  }
  return { width: CROP_SIZE, height: CROP_SIZE, data: out };
}

/**
 * Interprets `msg.payload` for the classifier: `Face[]` from the face stage (each with a
 * `crop`), one gray image `{width, height, data}`, or an array of them.
 * An empty array is valid (a frame without faces) and yields no images.
 */
export function parseClassifyInput(payload: unknown): ClassifyInput {
  if (Array.isArray(payload)) {
    if (payload.length === 0) return { kind: 'faces', faces: [], images: [] };
    if (payload.every((p) => isGrayLike(p) && !(p as FaceLike).crop)) {
      return { kind: 'images', images: payload.map((p, i) => toCrop(p as GrayImage, `payload[${i}]`)) };
    }
    const images = payload.map((f, i) => {
      if (!f || typeof f !== 'object') throw new ClassifyInputError(`payload[${i}] is not a face object`, 'bad-payload');
      const crop = (f as FaceLike).crop;
      if (!isGrayLike(crop)) {
        throw new ClassifyInputError(`payload[${i}] has no 48x48 gray crop (face.crop); connect the face crop node first`, 'no-crop');
      }
      return toCrop(crop, `payload[${i}].crop`);
    });
    return { kind: 'faces', faces: payload as FaceLike[], images };
  }
  if (isGrayLike(payload)) return { kind: 'image', images: [toCrop(payload, 'payload')] };
  const t = payload === null ? 'null' : Buffer.isBuffer(payload) ? 'a Buffer' : typeof payload;
  throw new ClassifyInputError(
    `payload must be the face node's Face[] or a 48x48 gray image {width, height, data}; got ${t}`,
    'bad-payload',
  );
}

/** Rounds probabilities for messages (4 decimals keep the debug sidebar readable). */
function tidyClassification(c: Classification): Classification {
  const probabilities: Record<string, number> = {};
  for (const [k, p] of Object.entries(c.probabilities)) probabilities[canonicalLabel(k)] = Math.round(p * 1e4) / 1e4;
  return { label: canonicalLabel(c.label), confidence: Math.round(c.confidence * 1e4) / 1e4, probabilities };
}

export interface ClassifyResult {
  /** One classification per input image, in order. */
  results: Classification[];
  /** Wall time of the batch in ms. */
  ms: number;
}

/**
 * Classifies all images in ONE batch (one `classify()` call) and, for face input, attaches
 * `emotion` to each face in place. An empty input costs nothing.
 */
export async function classifyInput(classifier: EmotionClassifier, input: ClassifyInput): Promise<ClassifyResult> {
  const t0 = performance.now();
  if (input.images.length === 0) return { results: [], ms: 0 };
  const raw = await classifier.classify(input.images);
  if (!Array.isArray(raw) || raw.length !== input.images.length) {
    throw new Error(`classifier returned ${Array.isArray(raw) ? raw.length : 'no'} results for ${input.images.length} faces`);
  }
  const results = raw.map(tidyClassification);
  if (input.kind === 'faces') input.faces.forEach((f, i) => (f.emotion = results[i]));
  return { results, ms: performance.now() - t0 };
}

/** Items per second over a sliding window (for "faces/s" in status). */
export class RateMeter {
  #events: Array<[number, number]> = [];
  constructor(readonly windowMs = 2000) {}

  mark(count: number, now = Date.now()): void {
    this.#events.push([now, count]);
    this.#trim(now);
  }

  rate(now = Date.now()): number {
    this.#trim(now);
    if (this.#events.length === 0) return 0;
    const total = this.#events.reduce((s, [, n]) => s + n, 0);
    const span = Math.max(now - this.#events[0][0], 1000);
    return (total * 1000) / span;
  }

  #trim(now: number): void {
    while (this.#events.length && now - this.#events[0][0] > this.windowMs) this.#events.shift();
  }
}
