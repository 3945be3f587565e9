/**
 * The emotion classifier in worker threads, so classification uses more than one CPU core.
 *
 * With the face detector in worker threads (src/face's `createDetectorPool`), the classifier is
 * the largest share of the work left in the caller's thread (Node-RED's): on a gateway with
 * several cameras it caps the frames per second. A {@link ClassifierPool} is an
 * `EmotionClassifier` whose `classify()` runs in one of N worker threads, each with its own copy
 * of the model: batches of different cameras run at the same time. Workers run on wasm (or cpu
 * when asked for); with tfjs-node, which already uses every core, the classifier in this thread
 * is the better choice.
 */
import * as path from 'path';
import type { BackendInfo } from '../backend';
import type { Classification, EmotionClassifier, FaceImage, LoadOptions } from '../model';
import { MAX_WORKER_THREADS, PooledModel, SerializedError, WorkerPool } from '../worker-pool';

/** Largest number of classifier threads. */
export const MAX_CLASSIFIER_THREADS = MAX_WORKER_THREADS;

export interface ClassifierPoolOptions extends LoadOptions {
  /** Worker threads (1..8). */
  threads: number;
  /** Aborting it while the workers load stops them and rejects with its reason. */
  signal?: AbortSignal;
}

/** Sent to each worker as `workerData`: the load options that can cross a thread. */
export type ClassifierWorkerInit = Omit<LoadOptions, 'logger'>;

/** What a worker says once its model is loaded. */
export type ClassifierInfo = Pick<EmotionClassifier, 'name' | 'classes' | 'backend' | 'tta' | 'executor' | 'cost' | 'inputSize' | 'framing'>;

/** A classification error from a worker: a TypeError (bad input) stays one. */
function rehydrate(e: SerializedError): Error {
  const Kind = e.name === 'TypeError' ? TypeError : e.name === 'RangeError' ? RangeError : Error;
  return new Kind(e.message || 'classification failed');
}

/** True for face images whose bytes can be packed as they are (the usual case). */
function packable(faces: readonly FaceImage[]): boolean {
  return faces.every((f) => !!f && f.data instanceof Uint8Array && Number.isInteger(f.width) && Number.isInteger(f.height) && f.width > 0 && f.data.length === f.width * f.height);
}

/** See the module comment. Load it with {@link loadClassifierPool}. */
export class ClassifierPool extends PooledModel<ClassifierWorkerInit, ClassifierInfo, FaceImage[], Classification[]> implements EmotionClassifier {
  readonly name: string;
  readonly classes: string[];
  readonly backend: BackendInfo;
  readonly tta: EmotionClassifier['tta'];
  readonly executor: EmotionClassifier['executor'];
  readonly cost: EmotionClassifier['cost'];
  readonly inputSize: number;
  readonly framing: string | undefined;

  private constructor(pool: WorkerPool<ClassifierWorkerInit, ClassifierInfo, FaceImage[], Classification[]>) {
    super(pool);
    const info = pool.info;
    this.name = info.name;
    this.classes = [...info.classes];
    this.backend = pool.reportedBackend(info.backend);
    this.tta = info.tta;
    this.executor = info.executor;
    this.cost = info.cost;
    this.inputSize = info.inputSize;
    this.framing = info.framing;
  }

  /** Starts the workers and resolves once every one has loaded the model. */
  static async create(options: ClassifierPoolOptions): Promise<ClassifierPool> {
    const { model, tta, executor } = options;
    const pool = await WorkerPool.create<ClassifierWorkerInit, ClassifierInfo, FaceImage[], Classification[]>({
      script: path.join(__dirname, 'classifier-worker'),
      threads: options.threads,
      maxThreads: MAX_CLASSIFIER_THREADS,
      init: { model, tta, executor },
      backend: options.backend,
      logger: options.logger,
      what: 'emotion classifier',
      task: 'classification',
      unit: 'batches',
      signal: options.signal,
      rehydrate,
    });
    return new ClassifierPool(pool);
  }

  /**
   * Classifies all faces as one batch in a free worker. The faces' bytes are copied (into one
   * buffer that moves to the worker), not kept. Bad input rejects with the TypeError the model
   * in this thread would throw.
   */
  classify(faces: FaceImage[]): Promise<Classification[]> {
    if (this.pool.disposed) return Promise.reject(new Error(`Classifier "${this.name}" has been disposed`));
    if (!Array.isArray(faces) || !packable(faces)) return this.pool.run(faces); // cloned as is: the worker's model says what is wrong
    const total = faces.reduce((n, f) => n + f.data.length, 0);
    const bytes = new Uint8Array(total);
    let at = 0;
    const packed = faces.map((f) => {
      bytes.set(f.data, at);
      const data = bytes.subarray(at, (at += f.data.length));
      return { width: f.width, height: f.height, data };
    });
    return this.pool.run(packed, [bytes.buffer]);
  }
}

/**
 * Loads an emotion classifier (src/model's `load()` options) in `threads` worker threads.
 * `setClassifierLoader` does not apply here: each worker loads the model itself.
 *
 * @example
 * ```ts
 * const clf = await loadClassifierPool({ model: 'nano-b-wild', threads: 1 });
 * const [r] = await clf.classify([crop48]);
 * clf.dispose();
 * ```
 */
export function loadClassifierPool(options: ClassifierPoolOptions): Promise<ClassifierPool> {
  return ClassifierPool.create(options);
}
