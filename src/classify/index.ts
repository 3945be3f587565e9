/**
 * The classifier stage: the glue between the face stage's `Face[]` and the EmotionNet Nano
 * model of src/model. It validates input, classifies all faces of a frame in one batch (a huge
 * input in bounded chunks that yield to the event loop), attaches `emotion` to each face and
 * measures faces per second. Never imports node-red.
 */
import { listModels, load, MODELS, resolveExecutor, resolveTta } from '../model';
import { parseBackendPreference } from '../backend';
import { notAnObject } from '../options';
import { checkThreads } from '../worker-pool';
import { loadClassifierPool, MAX_CLASSIFIER_THREADS } from './pool';
import type { Classification, ClassifierLoader, ClassifierOptions, EmotionClassifier, FaceLike, GrayImage } from './types';

export * from './types';
export { ClassifierPool, ClassifierPoolOptions, loadClassifierPool, MAX_CLASSIFIER_THREADS } from './pool';
/** Test-time augmentation modes of `loadClassifier({ tta })` (`flip`: mirror averaging). */
export { TTA_MODES } from '../model';

/** Canonical class labels (lowercase), in the order used by 8-class models. */
export const CANONICAL_LABELS = ['anger', 'contempt', 'disgust', 'fear', 'happy', 'neutral', 'sadness', 'surprise'] as const;

/**
 * Every label name understood in rules and model metadata (lowercase) → its canonical label:
 * the canonical labels themselves and their synonyms. The one table for rules, model metadata and
 * the class folders of `npm run train` / `npm run eval`. The alert node's editor
 * (nodes/emotionnet-alert/emotionnet-alert.html) keeps a copy, checked by a test.
 */
export const LABEL_SYNONYMS: Readonly<Record<string, (typeof CANONICAL_LABELS)[number]>> = Object.freeze({
  angry: 'anger', anger: 'anger', mad: 'anger', contempt: 'contempt', contemptuous: 'contempt',
  disgust: 'disgust', disgusted: 'disgust', fear: 'fear', fearful: 'fear', scared: 'fear', afraid: 'fear',
  happy: 'happy', happiness: 'happy', joy: 'happy', smile: 'happy', neutral: 'neutral', calm: 'neutral',
  sad: 'sadness', sadness: 'sadness', surprise: 'surprise', surprised: 'surprise',
});

/** Maps a label or a synonym (`angry`, `happiness`, `sad`, …) to its canonical form; unknown labels are lower-cased. */
export function canonicalLabel(label: string): string {
  const k = String(label).trim().toLowerCase();
  return Object.prototype.hasOwnProperty.call(LABEL_SYNONYMS, k) ? LABEL_SYNONYMS[k] : k;
}

/** True for a canonical label or one of its synonyms (any case, surrounding spaces ignored). */
export function isKnownLabel(label: string): boolean {
  return Object.prototype.hasOwnProperty.call(LABEL_SYNONYMS, String(label).trim().toLowerCase());
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

/** The editor's built-in choices, without their framing (see {@link BUILTIN_MODELS}). */
const BUILTIN_CHOICES: ReadonlyArray<Omit<BuiltinModel, 'framing'>> = [
  { id: 'nano-b-wild', classes: 8, domain: 'wild', description: 'Nano-B in-the-wild (FER+), 8 classes with neutral — default for live cameras' },
  { id: 'nano-b-wild-7', classes: 7, domain: 'wild', description: 'Nano-B in-the-wild (FER2013), the 7 FER2013 labels (no contempt)' },
  { id: 'nano-a-wild', classes: 8, domain: 'wild', description: 'Nano-A in-the-wild (FER+), 8 classes with neutral' },
  { id: 'nano-a-wild-7', classes: 7, domain: 'wild', description: 'Nano-A in-the-wild (FER2013), the 7 FER2013 labels (no contempt)' },
  { id: 'nano-a', classes: 7, domain: 'ck', description: 'CK+ (posed, lab) — paper benchmark: Nano-A, 7 classes' },
  { id: 'nano-b', classes: 7, domain: 'ck', description: 'CK+ (posed, lab) — paper benchmark: Nano-B, 7 classes, fastest' },
  { id: 'nano-a-8', classes: 8, domain: 'ck', description: 'CK+ (posed, lab): Nano-A, 8 classes with neutral' },
  { id: 'nano-b-8', classes: 8, domain: 'ck', description: 'CK+ (posed, lab): Nano-B, 8 classes with neutral' },
];
/**
 * Built-in model choices offered in the editor, in-the-wild first (src/model may register
 * more; {@link availableModels} says which have their weights installed), each with the crop
 * framing of src/model's registry (`MODELS`, the one framing table).
 */
export const BUILTIN_MODELS: ReadonlyArray<BuiltinModel> = BUILTIN_CHOICES.map((m) => ({ ...m, framing: MODELS[m.id].framing }));

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
 * model); `null` restores src/model's `load()`. It does not apply to `loadClassifier({ threads })`:
 * each worker thread loads the model itself.
 */
export function setClassifierLoader(loader: ClassifierLoader | null): void {
  loaderOverride = loader;
}

/** A bare string (`loadClassifier('nano-b')`) named no model: the default one loaded instead. */
function checkOptionsObject(options: unknown): void {
  const got = notAnObject(options);
  if (got) throw new TypeError(`classifier options must be an object, e.g. { model: 'nano-b-wild' }, got ${got}`);
}

/**
 * Checks the options {@link loadClassifier} validates itself (`tta`, `executor`, `backend`,
 * `threads`) without loading anything: throws the same TypeError, naming the option. For callers
 * that must refuse bad options before other work (e.g. `createPipeline`, before the detector loads).
 */
export function checkClassifierOptions(options: ClassifierOptions = {}): void {
  checkOptionsObject(options);
  resolveTta(options.tta);
  resolveExecutor(options.executor);
  parseBackendPreference(options.backend);
  if (options.threads !== undefined && options.threads !== 0) checkThreads(options.threads, MAX_CLASSIFIER_THREADS);
}

/**
 * Loads an emotion classifier through src/model (or the loader set by {@link setClassifierLoader}).
 * Without `model` it loads {@link DEFAULT_MODEL} (`nano-b-wild`, in-the-wild, 8 classes with
 * neutral; pair it with the face stage's `fer2013` framing); the CK+ models (`nano-a`, `nano-b`,
 * `-8`) stay available by name for the paper's benchmark. Errors carry a message that names the model, so a status or log line is self-explanatory.
 * With `threads` (1..8) the model runs in that many worker threads ({@link loadClassifierPool}).
 *
 * @example
 * ```ts
 * const clf = await loadClassifier({ model: 'nano-b', backend: 'auto' });
 * const [r] = await clf.classify([crop48]);
 * ```
 */
export async function loadClassifier(options: ClassifierOptions = {}): Promise<EmotionClassifier> {
  checkOptionsObject(options);
  const model = options.model && String(options.model).trim() ? String(options.model).trim() : DEFAULT_MODEL;
  const { threads, signal, ...opts } = { ...options, model };
  // Worker threads load the model themselves (a loader set in this thread does not reach them).
  const pooled = threads !== undefined && threads !== 0;
  if (loaderOverride && !pooled) return loaderOverride(opts);
  try {
    return pooled ? await loadClassifierPool({ ...opts, threads, signal }) : await load(opts);
  } catch (e) {
    if (signal?.aborted && e === signal.reason) throw e; // stopped by the caller, not a load failure
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

/**
 * Images per `classify()` call in {@link classifyInput}: a bigger input is classified in chunks
 * of this many, with a turn of the event loop between chunks, so one huge message never blocks
 * Node-RED for long (a chunk is about 30 ms of work with Nano-B on wasm, twice that with mirror
 * averaging). The per-face cost does not depend on the batch size beyond a few faces, and the
 * results do not depend on it either (each face is standardised on its own).
 */
export const CLASSIFY_CHUNK = 32;

/**
 * What the classifier stage was given in `msg.payload`. `images`: the validated gray images, one
 * per face or image (any size; {@link classifyInput} resizes them to the model's input size, 48x48, chunk by chunk).
 */
export type ClassifyInput =
  | { kind: 'faces'; faces: FaceLike[]; images: GrayImage[] }
  | { kind: 'image'; images: GrayImage[] }
  | { kind: 'images'; images: GrayImage[] };

/**
 * The crop framing of `input`'s faces when it differs from the one the model was trained on
 * (`face.crop.framing`, set by the face stage, against `EmotionClassifier.framing`): the first
 * such face's framing and the model's. Null when they match or either is unknown (gray images,
 * crops from elsewhere, a custom model without a recorded framing).
 */
export function framingMismatch(input: ClassifyInput, modelFraming: string | undefined): { faces: string; model: string } | null {
  if (!modelFraming || input.kind !== 'faces') return null;
  for (const f of input.faces) {
    const framing: unknown = f.crop?.framing;
    if (typeof framing === 'string' && framing && framing !== modelFraming) return { faces: framing, model: modelFraming };
  }
  return null;
}

/** A payload the stage cannot classify; `key` is an i18n key suffix. */
export class ClassifyInputError extends Error {
  constructor(message: string, readonly key: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** Has the shape of a gray image (`width`, `height` and `data` fields), whatever their values. */
function looksGray(v: unknown): v is { width: unknown; height: unknown; data: unknown } {
  return !!v && typeof v === 'object' && 'width' in v && 'height' in v && 'data' in v;
}

/** A Buffer after a JSON round trip (`JSON.stringify(buffer)`): `{type: 'Buffer', data: number[]}`. */
function isJsonBuffer(v: unknown): v is { type: 'Buffer'; data: unknown[] } {
  return !!v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data);
}

/** What a value is, for error messages (`a string`, `an object with keys 0, 1, 2, …`). */
function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Buffer.isBuffer(v)) return `a Buffer of ${v.length} bytes`;
  if (Array.isArray(v)) return `an array of ${v.length} values`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} of ${v.byteLength} bytes`;
  if (typeof v === 'object') {
    const keys = Object.keys(v);
    return keys.length ? `an object with keys ${keys.slice(0, 3).join(', ')}${keys.length > 3 ? `, … (${keys.length} keys)` : ''}` : 'an empty object';
  }
  return typeof v === 'string' ? 'a string' : `${typeof v} ${String(v)}`;
}

/**
 * `data` of a `width`x`height` gray image as bytes: a Uint8Array (Buffer) as is; a plain array of
 * integers 0..255 (or a Buffer after a JSON round trip, e.g. through MQTT) converted to a new
 * Uint8Array. Throws {@link ClassifyInputError} saying what is expected and what was received.
 */
function grayBytes(data: unknown, w: number, h: number, what: string): Uint8Array {
  const n = w * h;
  const values: ArrayLike<unknown> | null =
    data instanceof Uint8Array ? data : Array.isArray(data) ? data : isJsonBuffer(data) ? data.data : ArrayBuffer.isView(data) && !(data instanceof DataView) ? (data as unknown as ArrayLike<number>) : null;
  if (!values) {
    throw new ClassifyInputError(`${what}.data must be a Buffer or Uint8Array of width*height gray bytes (or an array of width*height integers 0-255), got ${describe(data)}`, 'bad-crop');
  }
  if (values.length !== n) {
    throw new ClassifyInputError(`${what} must be a gray image with width*height bytes (got ${w}x${h} with ${values.length} ${data instanceof Uint8Array ? 'bytes' : 'values'})`, 'bad-crop');
  }
  if (data instanceof Uint8Array) return data;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255) {
      throw new ClassifyInputError(`${what}.data[${i}] must be an integer 0-255 (a gray byte), got ${typeof v === 'number' ? v : describe(v)}`, 'bad-crop');
    }
    out[i] = v;
  }
  return out;
}

/**
 * Validates a gray image `{width, height, data}` of any size and returns it with `data` as a
 * Uint8Array (converted from an array of integers 0..255, see above). Does not resize.
 * Throws {@link ClassifyInputError} naming the problem.
 */
export function toGray(img: unknown, what = 'image'): GrayImage {
  if (!looksGray(img)) throw new ClassifyInputError(`${what} must be a gray image {width, height, data}, got ${describe(img)}`, 'bad-crop');
  const { width: w, height: h } = img;
  if (typeof w !== 'number' || typeof h !== 'number' || !Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) {
    throw new ClassifyInputError(`${what} must have an integer width and height >= 1, got ${String(w)}x${String(h)}`, 'bad-crop');
  }
  const data = grayBytes(img.data, w, h, what);
  return data === img.data ? (img as GrayImage) : { width: w, height: h, data };
}

/**
 * Returns `img` as a `size`x`size` gray image (48x48 unless a model takes another input size):
 * validated, and resized (bilinear) if it has another size.
 * Throws {@link ClassifyInputError} for a data length that does not match width*height.
 */
export function toCrop(img: { width: number; height: number; data: Uint8Array }, what = 'image', size = CROP_SIZE): GrayImage {
  const { width: w, height: h, data } = img;
  if (w < 1 || h < 1 || data.length !== w * h) {
    throw new ClassifyInputError(
      `${what} must be a gray image with width*height bytes (got ${w}x${h} with ${data.length} bytes)`,
      'bad-crop',
    );
  }
  if (w === size && h === size) return { width: w, height: h, data };
  const out = new Uint8Array(size * size);
  const sx = w / size;
  const sy = h / size;
  for (let y = 0; y < size; y++) {
    const fy = Math.min(h - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(h - 1, y0 + 1);
    const ty = fy - y0;
    for (let x = 0; x < size; x++) {
      const fx = Math.min(w - 1, Math.max(0, (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(w - 1, x0 + 1);
      const tx = fx - x0;
      const a = data[y0 * w + x0] * (1 - tx) + data[y0 * w + x1] * tx;
      const b = data[y1 * w + x0] * (1 - tx) + data[y1 * w + x1] * tx;
      out[y * size + x] = Math.round(a * (1 - ty) + b * ty);
    }
  }
  return { width: size, height: size, data: out };
}

/**
 * Interprets `msg.payload` for the classifier: `Face[]` from the face stage (each with a
 * `crop`), one gray image `{width, height, data}`, or an array of them. `data` is a Buffer /
 * Uint8Array of width*height bytes, or an array of width*height integers 0..255 (what a Buffer
 * becomes after a JSON round trip, e.g. through MQTT). Validates everything up front (cheap);
 * resizing to the model's input size (48x48) happens chunk by chunk in {@link classifyInput}.
 * An empty array is valid (a frame without faces) and yields no images.
 */
export function parseClassifyInput(payload: unknown): ClassifyInput {
  if (Array.isArray(payload)) {
    if (payload.length === 0) return { kind: 'faces', faces: [], images: [] };
    if (payload.every((p) => looksGray(p) && !(p as FaceLike).crop)) {
      return { kind: 'images', images: payload.map((p, i) => toGray(p, `payload[${i}]`)) };
    }
    const images = payload.map((f, i) => {
      if (!f || typeof f !== 'object') throw new ClassifyInputError(`payload[${i}] is not a face object`, 'bad-payload');
      const crop = (f as FaceLike).crop;
      if (crop === undefined || crop === null) {
        throw new ClassifyInputError(`payload[${i}] has no 48x48 gray crop (face.crop); connect the face crop node first`, 'no-crop');
      }
      return toGray(crop, `payload[${i}].crop`);
    });
    return { kind: 'faces', faces: payload as FaceLike[], images };
  }
  if (looksGray(payload)) return { kind: 'image', images: [toGray(payload, 'payload')] };
  const t = payload === null ? 'null' : Buffer.isBuffer(payload) ? 'a Buffer' : typeof payload;
  throw new ClassifyInputError(
    `payload must be the face node's Face[] or a 48x48 gray image {width, height, data}; got ${t}`,
    'bad-payload',
  );
}

/** Rounds probabilities for messages (4 decimals keep the debug sidebar readable). */
function tidyClassification(c: Classification): Classification {
  // fromEntries: own properties whatever a custom model's classes are called (`__proto__` too).
  const probabilities = Object.fromEntries(Object.entries(c.probabilities).map(([k, p]) => [canonicalLabel(k), Math.round(p * 1e4) / 1e4]));
  return { label: canonicalLabel(c.label), confidence: Math.round(c.confidence * 1e4) / 1e4, probabilities };
}

export interface ClassifyResult {
  /** One classification per input image, in order. */
  results: Classification[];
  /** Wall time in ms, from the first chunk to the last (turns of the event loop between chunks included). */
  ms: number;
}

export interface ClassifyInputOptions {
  /** Images per `classify()` call. @default {@link CLASSIFY_CHUNK} */
  chunkSize?: number;
  /** Checked before each chunk: once aborted, the call rejects with `signal.reason` and classifies nothing more. */
  signal?: AbortSignal;
}

/**
 * Classifies the input's images: in ONE `classify()` call when there are at most `chunkSize`
 * (all faces of a frame, as a rule), else in chunks of `chunkSize` with a turn of the event loop
 * (`setImmediate`) between them, so timers and I/O run while a huge input is classified. The
 * results are the same and in the same order either way; for face input `emotion` is attached
 * to each face in place once all chunks are done (on an error or abort, to none). An empty
 * input costs nothing.
 */
export async function classifyInput(classifier: EmotionClassifier, input: ClassifyInput, options: ClassifyInputOptions = {}): Promise<ClassifyResult> {
  const t0 = performance.now();
  const total = input.images.length;
  if (total === 0) return { results: [], ms: 0 };
  const chunkSize = options.chunkSize ?? CLASSIFY_CHUNK;
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new TypeError(`Expected \`chunkSize\` to be an integer >= 1, got \`${String(chunkSize)}\``);
  // The model's own input size (48 for the shipped models; a custom model may take another).
  const size = Number.isInteger(classifier.inputSize) && classifier.inputSize > 0 ? classifier.inputSize : CROP_SIZE;
  const results: Classification[] = [];
  for (let start = 0; start < total; start += chunkSize) {
    if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    options.signal?.throwIfAborted();
    const images = input.images.slice(start, start + chunkSize).map((img, j) => toCrop(img, `image ${start + j}`, size));
    const raw = await classifier.classify(images);
    if (!Array.isArray(raw) || raw.length !== images.length) {
      throw new Error(`classifier returned ${Array.isArray(raw) ? raw.length : 'no'} results for ${images.length} faces`);
    }
    for (const r of raw) results.push(tidyClassification(r));
  }
  if (input.kind === 'faces') input.faces.forEach((f, i) => (f.emotion = results[i]));
  return { results, ms: performance.now() - t0 };
}

/**
 * Items per second over a sliding window (for "faces/s" and "fps" in status). `mark(count)` says
 * that `count` items were done since the previous mark, so the rate is the items marked after the
 * oldest remembered mark, divided by the time since that mark but by at least one second: a
 * steady 10 marks/s reads exactly 10 once a second has passed (it ramps up during the first
 * second and never reads more than was done), and a burst of marks after a deploy does not read
 * as a high rate. The newest mark at or before the window's start stays as that reference, so
 * sparse marks (one every 10 s) read 0.1/s. A single mark has no interval yet: its count is
 * spread over one second (a lone message of 5 faces reads 5/s, as a status should not say 0
 * right after work); a meter whose last mark is older than the window reads 0.
 */
export class RateMeter {
  #events: Array<[number, number]> = [];
  readonly #now: () => number;

  /** @param now clock in ms (tests). @default Date.now */
  constructor(readonly windowMs = 2000, now: () => number = Date.now) {
    this.#now = now;
  }

  mark(count: number, now = this.#now()): void {
    this.#stepBack(now);
    this.#events.push([now, count]);
    this.#trim(now);
  }

  rate(now = this.#now()): number {
    this.#stepBack(now);
    this.#trim(now);
    if (this.#events.length === 0) return 0;
    if (this.#events.length === 1) {
      const [t, n] = this.#events[0];
      const age = now - t;
      return age >= this.windowMs ? 0 : (n * 1000) / Math.max(age, 1000);
    }
    // At least a second (or the window, if shorter): two marks close together (a backlog right
    // after a deploy) must not read as a burst rate the source never sustained.
    const span = Math.max(now - this.#events[0][0], Math.min(1000, this.windowMs));
    let total = 0;
    for (let i = 1; i < this.#events.length; i++) total += this.#events[i][1];
    return (total * 1000) / span;
  }

  /**
   * Marks after `now` mean the clock stepped back (NTP, a manual change): they would never leave
   * the window (the list would grow and the rate climb until the clock is back), so the meter
   * starts afresh.
   */
  #stepBack(now: number): void {
    const newest = this.#events[this.#events.length - 1];
    if (newest && newest[0] > now) this.#events = [];
  }

  #trim(now: number): void {
    while (this.#events.length > 1 && now - this.#events[1][0] >= this.windowMs) this.#events.shift();
  }
}
