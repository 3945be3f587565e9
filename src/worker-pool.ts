/**
 * A bounded pool of worker threads that each load one model and answer jobs one at a time: the
 * machinery shared by the face detector's and the classifier's worker threads (src/face's
 * `createDetectorPool`, src/classify's `loadClassifierPool`).
 *
 * TensorFlow.js's WebAssembly backend runs one thread in Node, so a model in Node-RED's thread
 * uses one core however many the machine has. Each worker loads its own model (its own
 * TensorFlow.js and backend instance) and takes one job at a time; jobs wait in a bounded backlog
 * when every worker is busy. A worker that dies is replaced (a few times per thread) and its job
 * is rejected with an error, never lost silently. An idle pool does not keep the process alive;
 * a loading or working one does.
 *
 * The worker side is {@link serveWorker}: it loads the model, says `ready` with what the pool
 * should know about it, and answers each job with a result or an error (rebuilt in this thread
 * by the pool's `rehydrate`, so a typed error stays typed).
 */
import * as fs from 'fs';
import * as path from 'path';
import { parentPort, Worker, workerData } from 'worker_threads';
import { BackendInfo, BackendPreference, requestedBackend } from './backend';
import { consoleLogger, Logger } from './log';

/** The pool's live Worker objects (tests and diagnostics: `pool[kWorkers]()`). */
export const kWorkers = Symbol('emotionnet.workers');

/** Largest number of worker threads of one pool. */
export const MAX_WORKER_THREADS = 8;

/**
 * Messages to keep in flight for a model in `threads` worker threads: one more than the workers
 * (that one waits in the backlog, so no worker idles while the caller's thread prepares and sends
 * the next), 1 without workers or for a bad count (which the stage's options check reports).
 */
export function framesInFlight(threads: unknown): number {
  return Number.isInteger(threads) && (threads as number) >= 1 && (threads as number) <= MAX_WORKER_THREADS ? (threads as number) + 1 : 1;
}

/** Jobs that may wait for a free worker by default (beyond that `run` rejects). */
export const DEFAULT_BACKLOG = 64;
/** Replacements of dead workers over the pool's life before it gives up on a slot. */
export const RESPAWNS_PER_THREAD = 3;

/** An error as it crosses from a worker: its message, class name and `code` (if any). */
export interface SerializedError {
  message: string;
  name?: string;
  code?: string;
}

/** A job for a worker. */
export interface WorkerJob<Req> {
  id: number;
  req: Req;
}

/** What a worker posts back. */
export type WorkerReply<Info, Res> =
  | { type: 'ready'; info: Info }
  | { type: 'failed'; error: string; config: boolean }
  | { type: 'log'; level: keyof Logger; msg: string }
  | { type: 'done'; id: number; res?: Res; error?: SerializedError };

export interface WorkerPoolOptions<Init> {
  /** The worker script without its extension: `<name>.js` next to this build, else `<name>.ts` through tsx. */
  script: string;
  /** Worker threads (1..maxThreads). */
  threads: number;
  maxThreads: number;
  /** Sent to each worker as `workerData`. */
  init: Init;
  /**
   * The caller's backend preference: the workers run on `cpu` when it is cpu, else on `wasm`
   * (see {@link workerBackend}; asking for tfjs-node gives a warning).
   */
  backend?: unknown;
  logger?: Logger;
  /** What runs in the workers, for messages: `face detector`. */
  what: string;
  /** What a job is, for messages: `face detection`. */
  task: string;
  /** What the jobs are, for messages: `images`. @default 'jobs' */
  unit?: string;
  /** Jobs that may wait for a free worker. @default {@link DEFAULT_BACKLOG} */
  backlog?: number;
  /**
   * Aborting it while the workers load stops them at once and rejects `create` with the signal's
   * reason (a node closed or redeployed during a slow load does not leave workers loading).
   */
  signal?: AbortSignal;
  /** Rebuilds a worker's error in this thread (e.g. as a TypeError); default: an Error with its message. */
  rehydrate?: (e: SerializedError) => Error;
}

interface Job<Req, Res> {
  id: number;
  req: Req;
  transfer: ArrayBuffer[];
  resolve: (r: Res) => void;
  reject: (e: Error) => void;
}

interface Slot<Req, Res> {
  worker: Worker | null;
  job: Job<Req, Res> | null;
  ready: boolean;
  respawns: number;
}

/**
 * A worker running `script`: the compiled `.js`, or the `.ts` source through tsx's require hook
 * when the pool itself runs from source (tests, `--import tsx`).
 */
function startWorker(script: string, options: { workerData: unknown; env: NodeJS.ProcessEnv }): Worker {
  const js = `${script}.js`;
  if (fs.existsSync(js)) return new Worker(js, options);
  const ts = `${script}.ts`;
  if (!fs.existsSync(ts)) throw new Error(`worker script ${path.basename(script)} not found in ${path.dirname(script)}`);
  return new Worker(`require('tsx/cjs'); require(${JSON.stringify(ts)});`, { ...options, eval: true });
}

/** True for an ArrayBuffer moved to another thread (it can be neither copied nor moved again). */
function isDetached(b: ArrayBuffer): boolean {
  if (!(b instanceof ArrayBuffer) || b.byteLength > 0) return false;
  try {
    new Uint8Array(b);
    return false;
  } catch {
    return true;
  }
}

/** A message for a worker's error that did not arrive as an Error. */
function describe(e: unknown): string {
  const m = (e as { message?: unknown } | null)?.message;
  if (typeof m === 'string' && m) return m;
  const s = typeof e === 'object' && e !== null ? JSON.stringify(e) : String(e);
  return s && s !== '{}' ? `uncaught ${s}` : 'an uncaught error that could not be sent to this thread';
}

/**
 * The backend a model in worker threads runs on: `cpu` when asked for, else `wasm`
 * (`EMOTIONNET_BACKEND` overrides `preference`, as in this thread). tfjs-node in workers gains
 * nothing (its ops use every core already) and its native addon is not meant to load once per
 * thread; `requested` says what was asked, so the caller can warn when it was tfjs-node.
 */
function workerBackend(preference: unknown): { requested: BackendPreference; backend: 'wasm' | 'cpu' } {
  const requested = requestedBackend(preference);
  return { requested, backend: requested === 'cpu' ? 'cpu' : 'wasm' };
}

/** Checks a pool's thread count: an integer in 1..max, else a TypeError naming `threads` (and saying what 0 means). */
export function checkThreads(threads: unknown, max: number): number {
  if (threads === 0) throw new TypeError('Expected `threads` to be an integer in 1..' + max + ' for a pool, got `0` (0 means no worker threads: load the model in this thread)');
  if (!Number.isInteger(threads) || (threads as number) < 1 || (threads as number) > max) {
    throw new TypeError(`Expected \`threads\` to be an integer in 0..${max}, got \`${String(threads)}\``);
  }
  return threads as number;
}

/** See the module comment. `Req`/`Res`: a job and its result; `Info`: what a worker says when ready. */
export class WorkerPool<Init, Info, Req, Res> {
  readonly threads: number;
  #info: Info | undefined;
  readonly #slots: Array<Slot<Req, Res>> = [];
  readonly #backlog: Array<Job<Req, Res>> = [];
  readonly #opts: WorkerPoolOptions<Init>;
  readonly #log: Logger;
  readonly #max: number;
  #nextId = 1;
  #disposed = false;
  #failure: Error | null = null;

  /** The backend the caller asked for (the workers run on {@link workerBackend}'s choice). */
  readonly requested: BackendPreference;
  readonly #env: NodeJS.ProcessEnv;

  private constructor(options: WorkerPoolOptions<Init>) {
    this.threads = checkThreads(options.threads, options.maxThreads);
    this.#opts = options;
    this.#log = options.logger ?? consoleLogger();
    this.#max = options.backlog ?? DEFAULT_BACKLOG;
    const { requested, backend } = workerBackend(options.backend);
    this.requested = requested;
    if (requested === 'tfjs-node') this.#log.warn(`${options.what} worker threads run on wasm, not tfjs-node (tfjs-node already uses every core: set threads to 0 to use it)`);
    this.#env = { ...process.env, EMOTIONNET_BACKEND: backend }; // the workers' selectBackend reads it first
  }

  /** A worker's backend as the pool reports it: what was asked for, and `wasm in 2 worker threads`. */
  reportedBackend(backend: BackendInfo): BackendInfo {
    return { ...backend, requested: this.requested, reason: `${backend.label} in ${this.threads} worker thread${this.threads === 1 ? '' : 's'}` };
  }

  /** Starts the workers and resolves once every one has loaded its model (or rejects with the first failure). */
  static async create<Init, Info, Req, Res>(options: WorkerPoolOptions<Init>): Promise<WorkerPool<Init, Info, Req, Res>> {
    const { signal } = options;
    signal?.throwIfAborted();
    const pool = new WorkerPool<Init, Info, Req, Res>(options);
    let onAbort = () => undefined as void;
    const aborted = new Promise<never>((_, reject) => (onAbort = () => reject(signal?.reason)));
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await Promise.race([Promise.all(Array.from({ length: pool.threads }, () => pool.#spawn())), aborted]);
    } catch (e) {
      pool.dispose(); // a worker still loading is stopped too
      throw e;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    return pool;
  }

  /** What the latest worker to load said about its model. */
  get info(): Info {
    return this.#info as Info;
  }

  /** Why the pool cannot work any more (every worker died and none could be replaced), or null. */
  get failure(): Error | null {
    return this.#failure;
  }

  /** Workers loaded and alive now. */
  get liveThreads(): number {
    return this.#slots.filter((s) => s.worker && s.ready).length;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  [kWorkers](): Worker[] {
    return this.#slots.flatMap((s) => (s.worker ? [s.worker] : []));
  }

  /**
   * Runs a job in a free worker (or queues it). `transfer`: buffers of `req` that move to the
   * worker now (the caller must not use them afterwards); everything else is copied now, so a
   * job that waits for a worker is not changed by what the caller does meanwhile. A `req` that
   * cannot be copied, or a buffer to move that was moved already, rejects.
   */
  run(req: Req, transfer: ArrayBuffer[] = []): Promise<Res> {
    if (this.#disposed) return Promise.reject(new Error(`${this.#opts.what} was disposed`));
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#backlog.length >= this.#max) {
      return Promise.reject(new Error(`${this.#opts.what} backlog is full (${this.#max} ${this.#opts.unit ?? 'jobs'} wait for ${this.threads} worker thread${this.threads === 1 ? '' : 's'})`));
    }
    if (transfer.some(isDetached)) {
      return Promise.reject(new Error(`${this.#opts.task} failed: a buffer to transfer was already moved to another thread (detached)`));
    }
    return new Promise<Res>((resolve, reject) => {
      const job: Job<Req, Res> = { id: this.#nextId++, req, transfer, resolve, reject };
      this.#backlog.push(job);
      this.#dispatch();
      if (!this.#backlog.includes(job)) return; // sent now: postMessage copied and moved at the call
      // It waits for a worker: take it over now, not when a worker is free. Otherwise the caller
      // could change it meanwhile, and postMessage silently drops a message whose transfer list
      // holds a buffer moved away meanwhile (by a second job given the same one): it would wait
      // for ever.
      try {
        const own = structuredClone({ req, transfer }, { transfer });
        job.req = own.req;
        job.transfer = own.transfer;
      } catch (e) {
        this.#backlog.splice(this.#backlog.indexOf(job), 1);
        reject(new Error(`${this.#opts.task} failed: ${e instanceof Error ? e.message : String(e)}`));
      }
    });
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      // A slot whose job could not be sent is free again: it takes the next one.
      while (this.#backlog.length > 0 && slot.worker && slot.ready && !slot.job) {
        const job = this.#backlog.shift()!;
        slot.job = job;
        slot.worker.ref();
        const msg: WorkerJob<Req> = { id: job.id, req: job.req };
        try {
          slot.worker.postMessage(msg, job.transfer);
        } catch (e) {
          // A job that cannot be sent (a value that cannot be cloned) fails; the worker stays free.
          slot.job = null;
          slot.worker.unref();
          job.reject(new Error(`${this.#opts.task} failed: ${e instanceof Error ? e.message : String(e)}`));
        }
      }
      if (this.#backlog.length === 0) return;
    }
  }

  /** Starts a worker in a new slot (or `slot`) and resolves when its model is loaded. */
  #spawn(slot?: Slot<Req, Res>): Promise<void> {
    const s: Slot<Req, Res> = slot ?? { worker: null, job: null, ready: false, respawns: 0 };
    if (!slot) this.#slots.push(s);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const w = startWorker(this.#opts.script, { workerData: this.#opts.init, env: this.#env });
      s.worker = w;
      s.ready = false;
      w.on('message', (m: WorkerReply<Info, Res>) => {
        if (m.type === 'log') this.#log[m.level](m.msg);
        else if (m.type === 'ready') {
          this.#info = m.info;
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
      // An error that could not cross from the worker (e.g. a DOMException) arrives as a plain object.
      w.on('error', (e: unknown) => died(e instanceof Error ? e : new Error(describe(e))));
      w.on('exit', (code) => died(new Error(`${this.#opts.what} worker stopped (exit code ${code})`)));
      // A reply that cannot be read here would leave its job waiting for ever: the worker is
      // stopped instead (its job fails and a new worker takes its place).
      w.on('messageerror', (e: unknown) => {
        this.#log.warn(`${this.#opts.what} worker sent a reply that could not be read (${describe(e)}); restarting it`);
        void w.terminate();
      });
    });
  }

  #finish(s: Slot<Req, Res>, m: Extract<WorkerReply<Info, Res>, { type: 'done' }>): void {
    const job = s.job;
    if (!job || job.id !== m.id) return;
    s.job = null;
    s.worker?.unref();
    if (m.error) {
      const rehydrate = this.#opts.rehydrate;
      job.reject(rehydrate ? rehydrate(m.error) : new Error(m.error.message || `${this.#opts.task} failed`));
    } else job.resolve(m.res as Res);
    this.#dispatch();
  }

  /** A loaded worker died: its job fails, and the slot gets a new worker while it may. */
  #workerDied(s: Slot<Req, Res>, why: Error): void {
    if (this.#disposed) return;
    const job = s.job;
    s.job = null;
    job?.reject(new Error(`${this.#opts.task} failed: ${why.message}`));
    this.#log.warn(`${this.#opts.what} worker thread died (${why.message})`);
    this.#respawn(s);
    this.#checkAlive(why);
  }

  /**
   * Gives the slot a new worker while it has replacements left; a replacement that dies or fails
   * while loading uses up one and is tried again (it was not, so the slot stayed dead).
   */
  #respawn(s: Slot<Req, Res>): void {
    if (this.#disposed || s.respawns >= RESPAWNS_PER_THREAD) return;
    s.respawns++;
    this.#spawn(s).catch((e: Error) => {
      this.#log.error(`${this.#opts.what} worker thread could not be restarted (${e.message})`);
      this.#respawn(s);
      this.#checkAlive(e);
    });
  }

  /** With no worker alive or loading, every waiting and later job fails. */
  #checkAlive(why: Error): void {
    if (this.#disposed || this.#slots.some((s) => s.worker)) return;
    this.#failure = new Error(`${this.#opts.task} is not available: every worker thread stopped (${why.message})`);
    for (const job of this.#backlog.splice(0)) job.reject(this.#failure);
  }

  /** Stops the workers; jobs still waiting or running are rejected. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    const err = new Error(`${this.#opts.what} was disposed`);
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
 * The part of a model in worker threads that is about its workers (the face detector's and the
 * classifier's pools extend it): their number, the live ones, why they stopped, and dispose.
 */
export abstract class PooledModel<Init, Info, Req, Res> {
  readonly threads: number;

  protected constructor(protected readonly pool: WorkerPool<Init, Info, Req, Res>) {
    this.threads = pool.threads;
  }

  [kWorkers](): Worker[] {
    return this.pool[kWorkers]();
  }

  /** Why the work stopped for good (every worker thread died and none could be replaced), or null. */
  get failure(): Error | null {
    return this.pool.failure;
  }

  /** Workers loaded and alive now. */
  get liveThreads(): number {
    return this.pool.liveThreads;
  }

  /** Stops the workers; jobs still waiting or running are rejected. Idempotent. */
  dispose(): void {
    this.pool.dispose();
  }
}

/** A model loaded in a worker: what the pool learns about it, and the job handler. */
export interface ServedModel<Info, Req, Res> {
  info: Info;
  handle(req: Req): Res | Promise<Res>;
  /** Buffers of a result to move to the parent instead of copying them. */
  transfer?(res: Res): ArrayBuffer[];
}

/**
 * The worker side of a {@link WorkerPool}: loads a model with `setup(workerData, logger)`
 * (logs go to the parent thread), then answers each job. A setup that throws a TypeError is a
 * configuration error (the pool rejects with a TypeError too).
 */
export function serveWorker<Init, Info, Req, Res>(setup: (init: Init, logger: Logger) => Promise<ServedModel<Info, Req, Res>>): void {
  const port = parentPort;
  if (!port) throw new Error('this script runs only as a worker thread');
  const post = (m: WorkerReply<Info, Res>, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
  const logger: Logger = {
    debug: (msg) => post({ type: 'log', level: 'debug', msg }),
    info: (msg) => post({ type: 'log', level: 'info', msg }),
    warn: (msg) => post({ type: 'log', level: 'warn', msg }),
    error: (msg) => post({ type: 'log', level: 'error', msg }),
  };
  let model: ServedModel<Info, Req, Res> | null = null;
  setup(workerData as Init, logger).then(
    (m) => {
      model = m;
      post({ type: 'ready', info: m.info });
    },
    (e: unknown) => post({ type: 'failed', error: e instanceof Error ? e.message : String(e), config: e instanceof TypeError }),
  );
  port.on('message', (job: WorkerJob<Req>) => {
    const fail = (e: unknown) => {
      const err = e as Error & { code?: unknown };
      const error: SerializedError = e instanceof Error ? { message: err.message, name: err.name } : { message: String(e) };
      if (e instanceof Error && typeof err.code === 'string') error.code = err.code;
      post({ type: 'done', id: job.id, error });
    };
    // One chain, so that a result that cannot be posted back (it cannot be cloned) fails its job
    // too, instead of an unhandled rejection that would stop this worker.
    Promise.resolve()
      .then(() => {
        if (!model) throw new Error('the model is not loaded');
        const m = model;
        return Promise.resolve(m.handle(job.req)).then((res) => post({ type: 'done', id: job.id, res }, m.transfer?.(res) ?? []));
      })
      .catch(fail);
  });
}
