/**
 * A node that refuses every message for a while (its model did not load, or all its worker
 * threads stopped) must not flood the log and Catch nodes at 30 fps: one error per interval goes
 * to `done(err)`, the other messages complete without output, and every refused message is
 * counted in a red status (`model load failed (12)`).
 */
import type { Done } from './node';
import type { Status } from './status';

/** At most one error per this interval. */
export const REFUSAL_ERROR_INTERVAL_MS = 5000;

export class Refusals {
  #count = 0;
  #lastErrorAt = -Infinity;

  constructor(
    private readonly status: Status,
    private readonly intervalMs = REFUSAL_ERROR_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Messages refused so far. */
  get count(): number {
    return this.#count;
  }

  /** The red status `statusText (N)` (just `statusText` before the first refusal), e.g. to restore it after another status. */
  show(statusText: string): void {
    this.status.set('failed', this.#count > 0 ? `${statusText} (${this.#count})` : statusText, { throttle: true });
  }

  /** Refuses one message: counted in the status as `statusText (N)`; `error()` goes to done at most once per interval. */
  refuse(done: Done, statusText: string, error: () => Error): void {
    this.#count++;
    this.show(statusText); // counts every message
    const t = this.now();
    if (t - this.#lastErrorAt < this.intervalMs) return done();
    this.#lastErrorAt = t;
    done(error());
  }
}
