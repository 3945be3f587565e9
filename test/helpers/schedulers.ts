/**
 * Hand-driven RxJS schedulers for timer edge cases that TestScheduler cannot show: Node's timers
 * run on elapsed (monotonic) time while `now()` reads the wall clock, which may be stepped (NTP,
 * a manual change), may read a little before a timer's due time (libuv's cached loop time), and
 * moves on while a timer's work runs.
 */
import type { SchedulerLike } from 'rxjs';

export interface ManualSchedulerOptions {
  /** Wall-clock time at elapsed 0. @default 0 */
  clock?: number;
  /**
   * A timer's work first reads the wall clock this many ms before its due time (never before a
   * reading an earlier timer's work made). @default 0
   */
  early?: number;
  /** Each later read of `now()` inside a timer's work is 1 ms later (time passes). @default false */
  clockMovesDuringWork?: boolean;
  /** Throw instead of hanging when more timers than this run (one re-armed for the same time). @default 1000 */
  maxRuns?: number;
}

interface Pending {
  at: number;
  work: () => void;
  closed: boolean;
}

export class ManualScheduler {
  /** Elapsed time (ms): timers fall due on it. */
  elapsed = 0;
  /** Timers run so far. */
  runs = 0;
  #offset: number;
  #read: (() => number) | null = null;
  /** The latest reading inside a timer's work: the clock reads no earlier after it (until stepped). */
  #floor = -Infinity;
  #pending: Pending[] = [];
  readonly #options: Required<ManualSchedulerOptions>;

  constructor(options: ManualSchedulerOptions = {}) {
    this.#options = { clock: 0, early: 0, clockMovesDuringWork: false, maxRuns: 1000, ...options };
    this.#offset = this.#options.clock;
  }

  /** The wall clock. */
  get clock(): number {
    return this.elapsed + this.#offset;
  }

  /** Steps the wall clock by `ms` (negative: back) without any time passing. */
  stepClock(ms: number): void {
    this.#offset += ms;
    this.#floor = -Infinity;
  }

  now = (): number => (this.#read ? this.#read() : this.clock);

  /** Every delay asked of {@link schedule}, in order. */
  readonly delays: number[] = [];

  schedule(work: () => void, delay = 0): { unsubscribe(): void; readonly closed: boolean } {
    this.delays.push(delay);
    const entry: Pending = { at: this.elapsed + Math.max(0, delay), work, closed: false };
    this.#pending.push(entry);
    return {
      unsubscribe: () => void (entry.closed = true),
      get closed() {
        return entry.closed;
      },
    };
  }

  /** As an RxJS scheduler (the operators only call `now` and `schedule`). */
  get rx(): SchedulerLike {
    return this as unknown as SchedulerLike;
  }

  /** Lets `ms` of elapsed time pass, running the timers due meanwhile in due order. */
  advance(ms: number): void {
    const end = this.elapsed + ms;
    for (;;) {
      this.#pending = this.#pending.filter((p) => !p.closed);
      this.#pending.sort((a, b) => a.at - b.at);
      const next = this.#pending[0];
      if (!next || next.at > end) break;
      this.#pending.shift();
      if (++this.runs > this.#options.maxRuns) throw new Error(`a timer spins at ${this.clock} (re-armed for the same time)`);
      this.elapsed = Math.max(this.elapsed, next.at);
      next.closed = true;
      this.#runWork(next.work);
    }
    this.elapsed = Math.max(this.elapsed, end);
  }

  #runWork(work: () => void): void {
    const { early, clockMovesDuringWork } = this.#options;
    let reading = Math.max(this.#floor, this.clock - early);
    let first = true;
    this.#read = () => {
      if (!first && clockMovesDuringWork) reading++;
      first = false;
      return reading;
    };
    try {
      work();
    } finally {
      this.#read = null;
      this.#floor = reading;
      // The time that passed during the work stays passed.
      this.elapsed = Math.max(this.elapsed, reading - this.#offset);
    }
  }
}
