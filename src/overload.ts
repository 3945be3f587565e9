/**
 * The one overload mechanism shared by every stage.
 *
 * Node-RED has no backpressure, and a slow stage (a Raspberry Pi classifying four faces) must
 * never build an unbounded backlog. Each stage picks a policy:
 *
 * - `latest`: for live streams. One item is processed at a time; while busy, only the newest
 *   waiting item of each source is kept and any older waiting item is dropped (and counted).
 *   Work starts on the next turn of the event loop, not in the same one: Node-RED delivers each
 *   message in a turn of its own, and a stage whose work is synchronous (wasm) would otherwise
 *   finish one frame before the next arrived, never see two waiting, never drop, and leave the
 *   backlog upstream (in the video pipe, growing without bound). Latency stays at most one item
 *   per source behind the live edge.
 * - `queue`: for files, where every frame matters. FIFO and lossless up to `capacity` per source;
 *   the stage reports each source's depth to {@link FlowControl} so a source that supports it (the
 *   video source in "as fast as the pipeline takes them" mode) pauses reading before its
 *   share fills. An item pushed onto a full queue is rejected with an {@link OverloadError} (never
 *   silently dropped).
 *
 * {@link StageQueue} is the imperative core (used by Node-RED wrappers that must carry each
 * message's `done`), {@link overloadMap} the RxJS operator built on it.
 */
import { Observable, OperatorFunction, Subject } from 'rxjs';

export type OverloadPolicy = 'latest' | 'queue';

export const DEFAULT_QUEUE_CAPACITY = 16;

/**
 * Largest high-water mark (the video node's *Pause above*) for a source paced by
 * {@link FlowControl} into stages of the default capacity: half of it. The source pauses only
 * once the stages together hold more than the mark, and frames still arrive after that: the one
 * that went above it, the one running in each stage of a chain (face, then classify) and those on
 * a wire (one per node on the way, the source emitting one frame per turn of the event loop).
 * A higher mark gains no throughput (a stage with a frame waiting never idles) and left the
 * queue full before the source paused, so frames were refused.
 */
export const MAX_HIGH_WATER = DEFAULT_QUEUE_CAPACITY / 2;

/** `latest`: at most this many sources' items wait (one each). */
export const MAX_LATEST_SOURCES = 32;

/**
 * `queue`: items of at most this many sources' capacity wait in all (128 at the default 16 per
 * source: about 115 MB of 640x480 rgb24 frames), so many sources cannot add up without bound.
 */
export const QUEUE_SOURCES_IN_ALL = 8;

/** Largest `concurrency` a stage accepts. */
export const MAX_CONCURRENCY = 16;

export class OverloadError extends Error {
  readonly code = 'QUEUE_FULL';
  /** `capacity`: the limit reached, per source (`scope` 'source') or in all. */
  constructor(readonly capacity: number, readonly scope: 'source' | 'all' = 'source') {
    super(`stage queue is full (${capacity} items waiting${scope === 'all' ? ' in all' : ''}); the producer is faster than this stage`);
    this.name = 'OverloadError';
  }
}

export interface StageStats {
  /** Items whose work finished (successfully or with an error). */
  processed: number;
  /** Items dropped by the `latest` policy (replaced by a newer one while busy). */
  dropped: number;
  /** Items rejected because a `queue` was full. */
  rejected: number;
  /** Items waiting now (not counting the one being processed). */
  depth: number;
  /** True while an item is being processed (or, under `latest`, about to start). */
  busy: boolean;
  /** Items running now (at most `concurrency`). */
  running: number;
}

export interface StageQueueOptions<T> {
  /** @default 'latest' */
  policy?: OverloadPolicy;
  /**
   * Maximum waiting items for `queue`, per source with a `key` (ignored by `latest`, which keeps
   * one per source): sources paced by {@link FlowControl} pause on their own depth, so a shared
   * limit let one source's frames fill the queue and the others' be refused without ever pausing.
   * At most {@link QUEUE_SOURCES_IN_ALL} times as many wait in all. @default 16
   */
  capacity?: number;
  /**
   * The source of an item (e.g. `frame.sourceId`). `latest`: a newer item replaces only the
   * waiting one of its own source, in its place, so several sources take turns instead of the
   * busiest one superseding the others; at most {@link MAX_LATEST_SOURCES} wait (beyond that the
   * oldest is dropped). Both policies: with `concurrency` > 1, items of one source never run at
   * the same time (each source's items run in order). Without it every item counts as one source.
   */
  key?: (item: T) => string | undefined;
  /**
   * How many items may run at once (e.g. the detector's worker threads); never two of the same
   * source (`key`), so one source alone still runs one item at a time. @default 1
   */
  concurrency?: number;
  /** Called for an item dropped by `latest` or discarded by {@link StageQueue.close}. */
  onDrop?: (item: T, reason: 'superseded' | 'closed') => void;
  /** Called whenever the depth changes (for status and {@link FlowControl}). */
  onDepth?: (depth: number) => void;
}

/**
 * The policy and effective capacity of `options` (1 for `latest`); throws a `TypeError` naming
 * the option when one is invalid.
 */
export function resolveQueueOptions(options: Pick<StageQueueOptions<unknown>, 'policy' | 'capacity' | 'concurrency'> = {}): { policy: OverloadPolicy; capacity: number; concurrency: number } {
  const policy = options.policy ?? 'latest';
  if (policy !== 'latest' && policy !== 'queue') {
    throw new TypeError(`Expected \`policy\` to be 'latest' or 'queue', got \`${String(policy)}\``);
  }
  const capacity = options.capacity ?? DEFAULT_QUEUE_CAPACITY;
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new TypeError(`Expected \`capacity\` to be an integer >= 1, got \`${String(capacity)}\``);
  }
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY) {
    throw new TypeError(`Expected \`concurrency\` to be an integer in 1..${MAX_CONCURRENCY}, got \`${String(concurrency)}\``);
  }
  return { policy, capacity: policy === 'latest' ? 1 : capacity, concurrency };
}

/**
 * Runs `worker` on pushed items one at a time (or up to `concurrency` of different sources at
 * once), applying the overload policy.
 *
 * @example
 * ```ts
 * const q = new StageQueue<Frame>(async (f) => { await detect(f); }, { policy: 'latest', onDrop: () => drops++ });
 * frames.forEach((f) => q.push(f));
 * ```
 */
export class StageQueue<T> {
  readonly policy: OverloadPolicy;
  readonly capacity: number;
  readonly concurrency: number;
  #waiting: T[] = [];
  /** Running items per source key. */
  #runningKeys = new Map<string | undefined, number>();
  #running = 0;
  /** A `latest` start is scheduled for the next turn of the event loop. */
  #scheduled = false;
  #closed = false;
  #stats = { processed: 0, dropped: 0, rejected: 0 };
  #idleResolvers: Array<() => void> = [];
  readonly #worker: (item: T) => Promise<void>;
  readonly #opts: StageQueueOptions<T>;

  constructor(worker: (item: T) => Promise<void>, options: StageQueueOptions<T> = {}) {
    const { policy, capacity, concurrency } = resolveQueueOptions(options);
    this.policy = policy;
    this.capacity = capacity;
    this.concurrency = concurrency;
    this.#worker = worker;
    this.#opts = options;
  }

  /**
   * Offers an item. Returns `true` if it was accepted; throws {@link OverloadError} when a
   * `queue` is full (the caller decides how to report it); for `latest` it always accepts and
   * may drop an older waiting item through `onDrop`.
   */
  push(item: T): true {
    if (this.#closed) throw new Error('stage queue is closed');
    if (this.policy === 'latest') {
      const key = this.#opts.key?.(item);
      const at = this.#waiting.findIndex((w) => this.#opts.key?.(w) === key);
      let old: T | undefined;
      if (at >= 0) {
        old = this.#waiting[at];
        this.#waiting[at] = item; // in its source's place: sources take turns
      } else {
        this.#waiting.push(item);
        if (this.#waiting.length > MAX_LATEST_SOURCES) old = this.#waiting.shift();
      }
      if (old !== undefined) {
        this.#stats.dropped++;
        this.#opts.onDrop?.(old, 'superseded');
      }
      this.#depthChanged();
      this.#pump();
      return true;
    }
    const key = this.#opts.key;
    const mine = key ? this.#waiting.filter((w) => key(w) === key(item)).length : this.#waiting.length;
    const all = this.capacity * QUEUE_SOURCES_IN_ALL;
    if (mine >= this.capacity || this.#waiting.length >= all) {
      this.#stats.rejected++;
      throw mine >= this.capacity ? new OverloadError(this.capacity) : new OverloadError(all, 'all');
    }
    this.#waiting.push(item);
    this.#depthChanged();
    this.#pump();
    return true;
  }

  get stats(): StageStats {
    return { ...this.#stats, depth: this.#waiting.length, busy: this.#busy, running: this.#running };
  }

  get depth(): number {
    return this.#waiting.length;
  }

  get #busy(): boolean {
    return this.#running > 0 || this.#scheduled;
  }

  /** Resolves when nothing is waiting or running. */
  idle(): Promise<void> {
    if (!this.#busy && this.#waiting.length === 0) return Promise.resolve();
    return new Promise((r) => this.#idleResolvers.push(r));
  }

  /** Stops accepting items, discards waiting ones through `onDrop(…, 'closed')`, waits for the running ones. */
  async close(): Promise<void> {
    this.#closed = true;
    const rest = this.#waiting.splice(0);
    if (rest.length) this.#depthChanged();
    for (const item of rest) this.#opts.onDrop?.(item, 'closed');
    await this.idle();
  }

  #depthChanged(): void {
    this.#opts.onDepth?.(this.#waiting.length);
  }

  #pump(): void {
    if (this.#scheduled) return;
    if (!this.#busy && this.#waiting.length === 0) return this.#idle();
    if (this.#running >= this.concurrency || this.#nextIndex() < 0) return;
    if (this.policy === 'latest') {
      this.#scheduled = true; // see the module comment
      setImmediate(() => {
        this.#scheduled = false;
        this.#startAll();
      });
    } else this.#startAll();
  }

  /** Index of the first waiting item whose source has nothing running (-1: none). */
  #nextIndex(): number {
    if (this.#running === 0) return this.#waiting.length > 0 ? 0 : -1;
    return this.#waiting.findIndex((w) => !this.#runningKeys.has(this.#opts.key?.(w)));
  }

  #startAll(): void {
    let started = false;
    while (this.#running < this.concurrency) {
      const at = this.#nextIndex();
      if (at < 0) break;
      const [next] = this.#waiting.splice(at, 1);
      this.#run(next);
      started = true;
    }
    if (started) this.#depthChanged();
    // close() discarded what was waiting while the start was scheduled
    else if (!this.#busy) this.#idle();
  }

  #run(item: T): void {
    const key = this.#opts.key?.(item);
    this.#running++;
    this.#runningKeys.set(key, (this.#runningKeys.get(key) ?? 0) + 1);
    // The worker owns error reporting for its item; a throw here must not stall the queue.
    Promise.resolve()
      .then(() => this.#worker(item))
      .catch(() => undefined)
      .finally(() => {
        this.#running--;
        const n = (this.#runningKeys.get(key) ?? 1) - 1;
        if (n > 0) this.#runningKeys.set(key, n);
        else this.#runningKeys.delete(key);
        this.#stats.processed++;
        this.#pump();
      });
  }

  #idle(): void {
    const rs = this.#idleResolvers.splice(0);
    rs.forEach((r) => r());
  }
}

/**
 * Maps each value through an async `project` under an overload policy: like `concatMap`, but
 * bounded. With `latest`, values that arrive while busy replace each other (drops counted in
 * `onDrop`); with `queue`, a full queue errors the stream with {@link OverloadError}.
 *
 * <span class="informal">`exhaustMap` that remembers the newest value, or a bounded `concatMap`.</span>
 *
 * @example
 * ```ts
 * frames$.pipe(overloadMap((f) => detector.detect(f), { policy: 'latest' })).subscribe(console.log);
 * ```
 * @param project Async work per value; its rejection errors the output stream.
 * @param options Policy, capacity and drop callback (validated here: a bad value throws a `TypeError`).
 * @return An operator emitting one result per processed value, in order (per source, with a `key`).
 */
export function overloadMap<T, R>(
  project: (value: T) => Promise<R>,
  options: StageQueueOptions<T> = {},
): OperatorFunction<T, R> {
  resolveQueueOptions(options); // invalid options throw here, not at subscription
  return (source) =>
    new Observable<R>((subscriber) => {
      let sourceDone = false;
      let failed = false;
      const queue = new StageQueue<T>(async (v) => {
        if (failed) return;
        try {
          const r = await project(v);
          if (!failed) subscriber.next(r);
        } catch (err) {
          failed = true;
          subscriber.error(err);
        }
      }, options);
      const completeWhenIdle = () => {
        queue.idle().then(() => {
          if (!failed) subscriber.complete();
        });
      };
      const sub = source.subscribe({
        next: (v) => {
          try {
            queue.push(v);
          } catch (err) {
            failed = true;
            subscriber.error(err);
          }
        },
        error: (err) => {
          failed = true;
          subscriber.error(err);
        },
        complete: () => {
          sourceDone = true;
          completeWhenIdle();
        },
      });
      return () => {
        sub.unsubscribe();
        if (!sourceDone) void queue.close();
        failed = true;
      };
    });
}

/**
 * Per-source pressure signal between stages and a source that can pause (files paced "as fast
 * as the pipeline takes them"). Stages report their queue depth under the frame's `sourceId`;
 * the source watches {@link FlowControl.pressure$} and pauses reading while the stages together
 * hold more than the high-water mark. Together, not the deepest one: in a chain (face, then
 * classify) the frames waiting at the face stage all move on to the classify stage after the
 * source paused, so with the deepest one a slow classify stage could receive the high-water
 * mark twice over, more than its queue holds, and refuse frames.
 *
 * Process-wide registry, keyed by source id. It stays bounded however many source ids pass
 * through a flow: an entry is dropped as soon as no stage holds any of its items (every reporter
 * reported 0 or was forgotten) and nobody is subscribed to its `pressure$`; `release` drops it
 * unconditionally (on source close). A dropped entry has nothing worth keeping (depth 0, no
 * listener): the next {@link FlowControl.for} makes a fresh one. Keeping an entry is still safe:
 * one kept after it was dropped forwards its reports and subscriptions to the entry registered
 * since, or registers itself again when there is none (a released one stays inert).
 */
export class FlowControl {
  static #registry = new Map<string, FlowControl>();
  readonly #sourceId: string;
  #depths = new Map<string, number>();
  #released = false;
  readonly #pressure = new Subject<number>();
  /**
   * This source's frames waiting in all stages together ({@link FlowControl.depth}), on every
   * report. Subscribing keeps the entry
   * registered (a source watching an idle pipeline must still see the next report);
   * completes on {@link FlowControl.release}.
   */
  readonly pressure$: Observable<number> = new Observable<number>((subscriber) => {
    const live = this.#live();
    if (live !== this) return live.pressure$.subscribe(subscriber);
    const sub = this.#pressure.subscribe(subscriber);
    return () => {
      sub.unsubscribe();
      this.#prune();
    };
  });

  private constructor(sourceId: string) {
    this.#sourceId = sourceId;
  }

  /** The registry entry for a source id (created on first use). */
  static for(sourceId: string): FlowControl {
    let fc = FlowControl.#registry.get(sourceId);
    if (!fc) {
      fc = new FlowControl(sourceId);
      FlowControl.#registry.set(sourceId, fc);
    }
    return fc;
  }

  /** Whether a source id has a registry entry now (without creating one). */
  static has(sourceId: string): boolean {
    return FlowControl.#registry.has(sourceId);
  }

  /** How many source ids have a registry entry now (diagnostics, tests). */
  static get size(): number {
    return FlowControl.#registry.size;
  }

  /** Forgets a source (on source close). */
  static release(sourceId: string): void {
    const fc = FlowControl.#registry.get(sourceId);
    if (fc) {
      fc.#released = true;
      FlowControl.#registry.delete(sourceId);
      fc.#pressure.complete();
    }
  }

  /** A stage reports how many of this source's items it holds (0 also forgets the stage). */
  report(stageId: string, depth: number): void {
    const live = this.#live();
    if (live !== this) return live.report(stageId, depth);
    if (depth <= 0) this.#depths.delete(stageId);
    else this.#depths.set(stageId, depth);
    this.#pressure.next(this.depth);
    this.#prune();
  }

  /** Forgets a stage (on stage close). */
  forget(stageId: string): void {
    const live = this.#live();
    if (live !== this) return live.forget(stageId);
    if (this.#depths.delete(stageId)) this.#pressure.next(this.depth);
    this.#prune();
  }

  /** The deepest stage queue for this source right now. */
  get maxDepth(): number {
    const successor = this.#successor();
    if (successor) return successor.maxDepth;
    let m = 0;
    for (const d of this.#depths.values()) m = Math.max(m, d);
    return m;
  }

  /** This source's frames waiting in all stages together right now (what pauses the source). */
  get depth(): number {
    const successor = this.#successor();
    if (successor) return successor.depth;
    let n = 0;
    for (const d of this.#depths.values()) n += d;
    return n;
  }

  /**
   * The entry that stands for this source id now. An entry someone kept after it was pruned
   * forwards to the one registered since (so a reference held by a stage or a source never goes
   * stale), or registers itself again when there is none. A released entry stays inert.
   */
  /** The entry registered for this source id since this one was pruned, if any (unlike {@link FlowControl.#live}, registers nothing: for reads). */
  #successor(): FlowControl | null {
    const registered = FlowControl.#registry.get(this.#sourceId);
    return !this.#released && registered && registered !== this ? registered : null;
  }

  #live(): FlowControl {
    if (this.#released) return this;
    const registered = FlowControl.#registry.get(this.#sourceId);
    if (registered) return registered;
    FlowControl.#registry.set(this.#sourceId, this);
    return this;
  }

  /** Drops the entry once no stage holds items of this source and nobody listens. */
  #prune(): void {
    if (this.#depths.size === 0 && !this.#pressure.observed && FlowControl.#registry.get(this.#sourceId) === this) {
      FlowControl.#registry.delete(this.#sourceId);
    }
  }
}

/**
 * One stage's waiting items counted per source and reported to each source's {@link FlowControl}
 * under `stageId`: each source sees its own depth, whatever other sources send. A source leaves
 * the count when its last item does, so the count stays bounded by the stage's queue however
 * many source ids pass through. Count an item in before pushing it (a `latest` push may
 * supersede, and count out, an older item of the same source synchronously) and out when it
 * starts, is dropped or is refused.
 */
export class SourceDepths {
  readonly #waiting = new Map<string, number>();

  constructor(private readonly stageId: string) {}

  /** One more item of `sourceId` waits (nothing is reported: call {@link report} once it is queued). */
  add(sourceId: string | undefined): void {
    this.#count(sourceId, 1);
  }

  /** One item of `sourceId` left the queue (started, dropped or refused); with `report`, its new depth is reported. */
  remove(sourceId: string | undefined, report = true): void {
    this.#count(sourceId, -1);
    if (report) this.report(sourceId);
  }

  /** Reports the source's current depth (0 also removes this stage from its entry). */
  report(sourceId: string | undefined): void {
    if (typeof sourceId === 'string') FlowControl.for(sourceId).report(this.stageId, this.#waiting.get(sourceId) ?? 0);
  }

  /** On close: withdraws this stage's reports for the sources still counted. */
  forgetAll(): void {
    for (const sid of this.#waiting.keys()) FlowControl.for(sid).forget(this.stageId);
    this.#waiting.clear();
  }

  #count(sourceId: string | undefined, delta: 1 | -1): void {
    if (typeof sourceId !== 'string') return;
    const n = (this.#waiting.get(sourceId) ?? 0) + delta;
    if (n > 0) this.#waiting.set(sourceId, n);
    else this.#waiting.delete(sourceId);
  }
}
