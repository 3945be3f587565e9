/**
 * BlazeFace in worker threads, so face detection uses more than one CPU core.
 *
 * TensorFlow.js's WebAssembly backend runs one thread in Node, and detection is the largest
 * share of a frame's work: a gateway with several cameras was bound to one core. Each worker
 * loads its own detector (its own TensorFlow.js and backend instance) and takes one image at a
 * time; images wait in a bounded backlog when every worker is busy. A worker that dies is
 * replaced (a few times), and its image is rejected with an error, never lost silently.
 *
 * Workers run on `wasm` (or `cpu`): tfjs-node already runs each op on several threads, so with
 * tfjs-node the main-thread detector is the better choice.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { BackendInfo, parseBackendPreference } from '../backend';
import { Frame } from '../frame';
import { imageFromFrame, ImageError, RawImage } from '../image';
import { consoleLogger, Logger } from '../log';
import { checkDetectorImage, DetectorTimings, FaceDetector, FaceDetectorOptions, resolveDetectorOptions } from './blazeface';
import { Detection } from './types';

/** Largest number of detector threads. */
export const MAX_DETECTOR_THREADS = 8;
/** Images that may wait for a free worker (beyond that `detect` rejects). */
const MAX_BACKLOG = 64;
/** Replacements of dead workers over the pool's life before it gives up on a slot. */
const RESPAWNS_PER_THREAD = 3;
/** The pool's live Worker objects (tests and diagnostics: `pool[kWorkers]()`). */
export const kWorkers = Symbol('emotionnet.detectorWorkers');

/**
 * Frames to keep in flight for a detector in `threads` worker threads: one more than the workers
 * (that one waits in the backlog, so no worker idles while the caller's thread crops and sends
 * its last frame), 1 without workers or for a bad count (which the cropper reports).
 */
export function framesInFlight(threads: unknown): number {
  return Number.isInteger(threads) && (threads as number) >= 1 && (threads as number) <= MAX_DETECTOR_THREADS ? (threads as number) + 1 : 1;
}

/** Sent to a worker as `workerData`. */
export interface WorkerInit {
  options: Omit<FaceDetectorOptions, 'logger'>;
}
/** A detection job for a worker. */
export interface DetectorJob {
  id: number;
  img: RawImage;
}
/** What a worker posts back. */
export type DetectorReply =
  | { type: 'ready'; backend: BackendInfo; executor: 'direct' | 'graph' }
  | { type: 'failed'; error: string; config: boolean }
  | { type: 'log'; level: keyof Logger; msg: string }
  | { type: 'done'; id: number; detections?: Detection[]; timings?: DetectorTimings; error?: string; errorName?: string; errorCode?: string };

export interface DetectorPoolOptions extends FaceDetectorOptions {
  /** Worker threads (1..8). */
  threads: number;
}

interface Job {
  id: number;
  img: RawImage;
  resolve: (d: Detection[]) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker | null;
  job: Job | null;
  ready: boolean;
  respawns: number;
}

/**
 * A worker running the script next to this module: the compiled `.js`, or the `.ts` source
 * through tsx's require hook when this module itself runs from source (tests, `--import tsx`).
 */
function startWorker(options: { workerData: WorkerInit; env: NodeJS.ProcessEnv }): Worker {
  const js = path.join(__dirname, 'detector-worker.js');
  if (fs.existsSync(js)) return new Worker(js, options);
  const ts = path.join(__dirname, 'detector-worker.ts');
  if (!fs.existsSync(ts)) throw new Error(`face detector worker script not found next to ${__filename}`);
  return new Worker(`require('tsx/cjs'); require(${JSON.stringify(ts)});`, { ...options, eval: true });
}

/** A face detector whose work runs in worker threads (see the module comment). */
export class DetectorPool implements FaceDetector {
  readonly threads: number;
  readonly options: FaceDetector['options'];
  #backend: BackendInfo = { name: 'wasm', label: 'wasm', requested: 'wasm', reason: 'wasm' };
  #executor: 'direct' | 'graph' = 'direct';
  readonly #slots: Slot[] = [];
  readonly #backlog: Job[] = [];
  readonly #init: WorkerInit;
  readonly #env: NodeJS.ProcessEnv;
  readonly #log: Logger;
  readonly #requested: BackendInfo['requested'];
  #nextId = 1;
  #timings: DetectorTimings = { prepare: 0, model: 0, decode: 0 };
  #disposed = false;
  /** Why the pool cannot detect any more (every worker dead), if so. */
  #failure: Error | null = null;

  private constructor(options: DetectorPoolOptions, log: Logger) {
    this.options = resolveDetectorOptions(options);
    const threads = options.threads;
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_DETECTOR_THREADS) {
      throw new TypeError(`Expected \`threads\` to be an integer in 0..${MAX_DETECTOR_THREADS}, got \`${String(threads)}\``);
    }
    this.threads = threads;
    this.#log = log;
    // Only the detector's own options go to the workers (a caller may pass more, e.g. a
    // cropper's tracker with its id function, which cannot be cloned into a thread).
    const { minConfidence, minFaceSize, maxFaces, inputSize, iouThreshold, modelPath, maxPixels, executor } = options;
    // tfjs-node in workers gains nothing (its ops are multi-threaded already) and its native
    // addon is not meant to load once per thread: workers use wasm, or cpu when asked.
    const env = process.env.EMOTIONNET_BACKEND;
    const requested = parseBackendPreference(env && env.trim() ? env : options.backend);
    const backend = requested === 'cpu' ? 'cpu' : 'wasm';
    this.#requested = requested;
    if (requested === 'tfjs-node') log.warn('face detector worker threads run on wasm, not tfjs-node (tfjs-node already uses every core: set threads to 0 to detect on it)');
    this.#init = { options: { minConfidence, minFaceSize, maxFaces, inputSize, iouThreshold, modelPath, maxPixels, executor, backend } };
    this.#env = { ...process.env, EMOTIONNET_BACKEND: backend };
  }

  /** Starts the workers and resolves once every one has loaded its detector. */
  static async create(options: DetectorPoolOptions): Promise<DetectorPool> {
    const pool = new DetectorPool(options, options.logger ?? consoleLogger());
    try {
      await Promise.all(Array.from({ length: pool.threads }, () => pool.#spawn()));
    } catch (e) {
      pool.dispose();
      throw e;
    }
    return pool;
  }

  get backend(): BackendInfo {
    return this.#backend;
  }

  get executor(): 'direct' | 'graph' {
    return this.#executor;
  }

  /** Detector stage times of the latest image a worker finished. */
  get lastTimings(): Readonly<DetectorTimings> {
    return this.#timings;
  }

  [kWorkers](): Worker[] {
    return this.#slots.flatMap((s) => (s.worker ? [s.worker] : []));
  }

  /** Why detection stopped for good (every worker thread died and none could be replaced), or null. */
  get failure(): Error | null {
    return this.#failure;
  }

  /** Workers loaded and alive now. */
  get liveThreads(): number {
    return this.#slots.filter((s) => s.worker && s.ready).length;
  }

  async detect(input: Frame | RawImage): Promise<Detection[]> {
    const img = 'channels' in input ? input : imageFromFrame(input, { maxPixels: this.options.maxPixels });
    return this.detectImageAsync(img);
  }

  /** Not available: a worker answers asynchronously (use {@link DetectorPool.detectImageAsync}). */
  detectImage(): Detection[] {
    throw new Error('a face detector in worker threads has no synchronous detectImage(); use detectImageAsync()');
  }

  /**
   * Detects the faces of a decoded image in a free worker. The image is copied, not kept; with
   * `transfer` the caller gives up an image whose bytes fill their own buffer (e.g. a fresh crop):
   * that buffer is moved to the worker instead of copied.
   */
  detectImageAsync(img: RawImage, options: { transfer?: boolean } = {}): Promise<Detection[]> {
    if (this.#disposed) return Promise.reject(new Error('face detector was disposed'));
    if (this.#failure) return Promise.reject(this.#failure);
    try {
      checkDetectorImage(img, this.options.maxPixels); // here, before the image is copied
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.#backlog.length >= MAX_BACKLOG) return Promise.reject(new Error(`face detector backlog is full (${MAX_BACKLOG} images wait for ${this.threads} worker threads)`));
    return new Promise((resolve, reject) => {
      // A copy of just this image's bytes (it may view a larger or reused buffer), transferred.
      const own = options.transfer === true && img.data.byteOffset === 0 && img.data.byteLength === img.data.buffer.byteLength;
      const copy: RawImage = { width: img.width, height: img.height, channels: img.channels, data: own ? img.data : new Uint8Array(img.data) };
      this.#backlog.push({ id: this.#nextId++, img: copy, resolve, reject });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (this.#backlog.length === 0) return;
      if (!slot.worker || !slot.ready || slot.job) continue;
      const job = this.#backlog.shift()!;
      slot.job = job;
      slot.worker.ref();
      const msg: DetectorJob = { id: job.id, img: job.img };
      slot.worker.postMessage(msg, [job.img.data.buffer as ArrayBuffer]);
    }
  }

  /** Starts a worker in a new slot (or `slot`) and resolves when its detector is loaded. */
  #spawn(slot?: Slot): Promise<void> {
    const s: Slot = slot ?? { worker: null, job: null, ready: false, respawns: 0 };
    if (!slot) this.#slots.push(s);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const w = startWorker({ workerData: this.#init, env: this.#env });
      s.worker = w;
      s.ready = false;
      w.on('message', (m: DetectorReply) => {
        if (m.type === 'log') this.#log[m.level](m.msg);
        else if (m.type === 'ready') {
          this.#backend = { ...m.backend, requested: this.#requested, reason: `${m.backend.label} in ${this.threads} worker thread${this.threads === 1 ? '' : 's'}` };
          this.#executor = m.executor;
          s.ready = true;
          settled = true;
          w.unref(); // an idle pool does not keep the process alive (a loading or working one does)
          resolve();
          this.#dispatch();
        } else if (m.type === 'failed') {
          settled = true;
          s.worker = null; // not a death to recover from: loading failed
          reject(m.config ? new TypeError(m.error) : new Error(m.error));
          void w.terminate();
        } else if (m.type === 'done') this.#finish(s, m);
      });
      const died = (why: Error) => {
        if (s.worker !== w) return; // replaced or disposed already
        s.worker = null;
        s.ready = false;
        if (!settled) {
          settled = true;
          reject(why);
          return;
        }
        this.#workerDied(s, why);
      };
      w.on('error', died);
      w.on('exit', (code) => died(new Error(`face detector worker stopped (exit code ${code})`)));
    });
  }

  #finish(s: Slot, m: Extract<DetectorReply, { type: 'done' }>): void {
    const job = s.job;
    if (!job || job.id !== m.id) return;
    s.job = null;
    s.worker?.unref();
    if (m.detections) {
      if (m.timings) this.#timings = m.timings;
      job.resolve(m.detections);
    } else {
      const err = m.errorName === 'ImageError' ? new ImageError(m.errorCode as ImageError['code'], m.error ?? '') : new Error(m.error ?? 'face detection failed');
      job.reject(err);
    }
    this.#dispatch();
  }

  /** A loaded worker died: its image fails, and the slot gets a new worker while it may. */
  #workerDied(s: Slot, why: Error): void {
    if (this.#disposed) return;
    const job = s.job;
    s.job = null;
    job?.reject(new Error(`face detection failed: ${why.message}`));
    this.#log.warn(`face detector worker thread died (${why.message})`);
    this.#respawn(s);
    this.#checkAlive(why);
  }

  /**
   * Gives the slot a new worker while it has replacements left; a replacement that dies or fails
   * while loading uses up one and is tried again (it was not, so the slot stayed dead).
   */
  #respawn(s: Slot): void {
    if (this.#disposed || s.respawns >= RESPAWNS_PER_THREAD) return;
    s.respawns++;
    this.#spawn(s).catch((e: Error) => {
      this.#log.error(`face detector worker thread could not be restarted (${e.message})`);
      this.#respawn(s);
      this.#checkAlive(e);
    });
  }

  /** With no worker alive or loading, every waiting and later image fails with `why`. */
  #checkAlive(why: Error): void {
    if (this.#slots.some((s) => s.worker)) return;
    this.#failure = new Error(`face detection is not available: every worker thread stopped (${why.message})`);
    for (const job of this.#backlog.splice(0)) job.reject(this.#failure);
  }

  /** Stops the workers; images still waiting or running are rejected. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    const err = new Error('face detector was disposed');
    for (const s of this.#slots) {
      const w = s.worker;
      s.worker = null;
      s.job?.reject(err);
      s.job = null;
      if (w) void w.terminate();
    }
    for (const job of this.#backlog.splice(0)) job.reject(err);
  }
}

/**
 * Loads BlazeFace in `threads` worker threads.
 *
 * @example
 * ```ts
 * const detector = await createDetectorPool({ threads: 2 });
 * const faces = await detector.detect(frame);
 * detector.dispose();
 * ```
 */
export function createDetectorPool(options: DetectorPoolOptions): Promise<DetectorPool> {
  return DetectorPool.create(options);
}
