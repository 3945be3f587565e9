/**
 * Input gating while a node's model (classifier, face detector) loads asynchronously.
 *
 * Until the load settles, messages are held in a small bounded queue; beyond `limit` the oldest
 * one is dropped (its `done()` is called, the drop is counted). On success `open(work, accept)`
 * runs the held messages in order, then lets new input through (see `open`); on failure
 * `fail(err)` rejects every held message with that error, and `error` tells the node to reject
 * later input.
 */
import type { Node } from 'node-red';
import type { OverloadPolicy } from '../../src/overload';
import type { Done } from './node';

/** Messages held while the model loads, by default; older ones are dropped beyond this. */
export const LOADING_QUEUE = 4;

export class LoadGate<T extends { done: Done }> {
  #pending: T[] = [];
  #limit: number;
  #ready = false;
  #closed = false;
  #error: Error | null = null;
  #dropped = 0;

  constructor(limit = LOADING_QUEUE) {
    this.#limit = limit;
  }

  /** True once the load succeeded and the held messages have been processed. */
  get ready(): boolean {
    return this.#ready;
  }

  /** The load error (set by `fail`); later input should be rejected with it. */
  get error(): Error | null {
    return this.#error;
  }

  /** Messages dropped (oldest first) because more than `limit` arrived while loading. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Holds `item` while the gate is not open yet and returns true; returns false when the
   * caller should process it now. Once closed, it completes `item` (done()) and returns true:
   * Node-RED still delivers messages to a node until its close has finished (a frame sent
   * during a redeploy), and the node's queue is closed by then.
   */
  hold(item: T): boolean {
    if (this.#closed) {
      item.done();
      return true;
    }
    if (this.#ready) return false;
    this.#pending.push(item);
    if (this.#pending.length > this.#limit) {
      this.#dropped++;
      this.#pending.shift()?.done();
    }
    return true;
  }

  /**
   * The load succeeded: processes the messages held while loading with `work`, in order, then
   * opens the gate and hands what arrived during that drain (held, bounded like the rest) to
   * `accept` (the node's normal path, with its overload policy). Resolves when done.
   *
   * The drain is bounded by the messages held when the load finished: draining until nothing
   * was held, with input faster than `work` (a worker-thread detector yields on every frame),
   * never ended — the gate stayed shut and every frame past the limit was dropped uncounted.
   */
  async open(work: (item: T) => Promise<void>, accept: (item: T) => void): Promise<void> {
    for (const item of this.#pending.splice(0)) {
      if (this.#closed) item.done();
      else await work(item);
    }
    this.#ready = true;
    for (const item of this.#pending.splice(0)) accept(item);
  }

  /** The load failed: remembers `err` and rejects every held message with it. */
  fail(err: Error): void {
    this.#error = err;
    this.#pending.splice(0).forEach((p) => p.done(err));
  }

  /** The node closes: releases every held message (done() without error). */
  close(): void {
    this.#closed = true;
    this.#pending.splice(0).forEach((p) => p.done());
  }
}

/**
 * Once the gate is open: reports the messages the gate dropped, in one line (`text` gets the
 * count). Under `latest` dropping is the policy (a live source), so it goes to the log; under
 * `queue` (nothing should be lost) it is a warning.
 */
export function reportLoadingDrops(node: Pick<Node, 'log' | 'warn'>, gate: LoadGate<{ done: Done }>, policy: OverloadPolicy, text: (count: number) => string): void {
  if (!gate.dropped) return;
  if (policy === 'queue') node.warn(text(gate.dropped));
  else node.log(text(gate.dropped));
}
