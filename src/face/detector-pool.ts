/**
 * BlazeFace in worker threads, so face detection uses more than one CPU core.
 *
 * TensorFlow.js's WebAssembly backend runs one thread in Node, and detection is the largest
 * share of a frame's work: a gateway with several cameras was bound to one core. Each worker
 * loads its own detector and takes one image at a time (src/worker-pool: bounded backlog, a dead
 * worker's image rejected with an error and the worker replaced a few times).
 *
 * Workers run on `wasm` (or `cpu`): tfjs-node already runs each op on several threads, so with
 * tfjs-node the main-thread detector is the better choice.
 */
import * as path from 'path';
import { BackendInfo } from '../backend';
import { Frame } from '../frame';
import { imageFromFrame, ImageError, RawImage } from '../image';
import { framesInFlight, kWorkers, MAX_WORKER_THREADS, PooledModel, SerializedError, WorkerPool } from '../worker-pool';
import { checkDetectorImage, DetectorTimings, FaceDetector, FaceDetectorOptions, resolveDetectorOptions } from './blazeface';
import { Detection } from './types';

export { framesInFlight, kWorkers };

/** Largest number of detector threads. */
export const MAX_DETECTOR_THREADS = MAX_WORKER_THREADS;

/** Sent to a worker as `workerData`. */
export interface WorkerInit {
  options: Omit<FaceDetectorOptions, 'logger'>;
}
/** What a worker says once its detector is loaded. */
export interface DetectorInfo {
  backend: BackendInfo;
  executor: 'direct' | 'graph';
}
/** A worker's answer to one image. */
export interface DetectorResult {
  detections: Detection[];
  timings?: DetectorTimings;
}

export interface DetectorPoolOptions extends FaceDetectorOptions {
  /** Worker threads (1..8). */
  threads: number;
  /** Aborting it while the workers load stops them and rejects with its reason. */
  signal?: AbortSignal;
}

/** A face detection error from a worker, rebuilt as the main-thread detector would throw it. */
function rehydrate(e: SerializedError): Error {
  return e.name === 'ImageError' ? new ImageError(e.code as ImageError['code'], e.message) : new Error(e.message || 'face detection failed');
}

/** A face detector whose work runs in worker threads (see the module comment). */
export class DetectorPool extends PooledModel<WorkerInit, DetectorInfo, RawImage, DetectorResult> implements FaceDetector {
  readonly options: FaceDetector['options'];
  readonly backend: BackendInfo;
  readonly executor: 'direct' | 'graph';
  #timings: DetectorTimings = { prepare: 0, model: 0, decode: 0 };

  private constructor(options: FaceDetector['options'], pool: WorkerPool<WorkerInit, DetectorInfo, RawImage, DetectorResult>) {
    super(pool);
    this.options = options;
    const { backend, executor } = pool.info;
    this.backend = pool.reportedBackend(backend);
    this.executor = executor;
  }

  /** Starts the workers and resolves once every one has loaded its detector. */
  static async create(options: DetectorPoolOptions): Promise<DetectorPool> {
    const resolved = resolveDetectorOptions(options);
    // Only the detector's own options go to the workers (a caller may pass more, e.g. a
    // cropper's tracker with its id function, which cannot be cloned into a thread).
    const { minConfidence, minFaceSize, maxFaces, inputSize, iouThreshold, modelPath, maxPixels, executor } = options;
    const pool = await WorkerPool.create<WorkerInit, DetectorInfo, RawImage, DetectorResult>({
      script: path.join(__dirname, 'detector-worker'),
      threads: options.threads,
      maxThreads: MAX_DETECTOR_THREADS,
      init: { options: { minConfidence, minFaceSize, maxFaces, inputSize, iouThreshold, modelPath, maxPixels, executor } },
      backend: options.backend,
      logger: options.logger,
      what: 'face detector',
      task: 'face detection',
      unit: 'images',
      signal: options.signal,
      rehydrate,
    });
    return new DetectorPool(resolved, pool);
  }

  /** Detector stage times of the latest image a worker finished. */
  get lastTimings(): Readonly<DetectorTimings> {
    return this.#timings;
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
  async detectImageAsync(img: RawImage, options: { transfer?: boolean } = {}): Promise<Detection[]> {
    if (!this.pool.disposed && !this.pool.failure) checkDetectorImage(img, this.options.maxPixels); // here, before the image is copied
    // A copy of just this image's bytes (it may view a larger or reused buffer), transferred.
    const own = options.transfer === true && img.data.byteOffset === 0 && img.data.byteLength === img.data.buffer.byteLength;
    const copy: RawImage = { width: img.width, height: img.height, channels: img.channels, data: own ? img.data : new Uint8Array(img.data) };
    const r = await this.pool.run(copy, [copy.data.buffer as ArrayBuffer]);
    if (r.timings) this.#timings = r.timings;
    return r.detections;
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
