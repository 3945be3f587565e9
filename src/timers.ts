/**
 * Longest timer delay: Node's timers take at most 2^31 - 1 ms (24.8 days) and run a longer one
 * after 1 ms (with a TimeoutOverflowWarning), so a month-long deadline re-armed its timer every
 * millisecond. A deadline further away is reached in steps of this length.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** The delay to schedule for a deadline `due` at time `now`: never negative, never above {@link MAX_TIMER_DELAY_MS}. */
export function timerDelay(due: number, now: number): number {
  return Math.min(MAX_TIMER_DELAY_MS, Math.max(0, due - now));
}

/** A timer of any length (see {@link longTimeout}). */
export interface LongTimeout {
  /** Stops it; it never runs after this. */
  cancel(): void;
  /** Starts its whole delay afresh from now (also after it ran, as a Node timer's `refresh`). */
  refresh(): void;
}

/**
 * `setTimeout` for a delay of any length: one above {@link MAX_TIMER_DELAY_MS} is waited in
 * steps of at most that (a single Node timer would run it after 1 ms); Infinity never runs.
 * Up to the maximum it is one plain timer (and `refresh` the timer's own). `unref`: the wait does
 * not keep the process alive.
 */
export function longTimeout(fn: () => void, ms: number, unref = false): LongTimeout {
  let timer: NodeJS.Timeout | undefined;
  let left = 0;
  const step = () => {
    const delay = Math.min(left, MAX_TIMER_DELAY_MS);
    left -= delay;
    timer = setTimeout(left > 0 ? step : fn, delay);
    if (unref) timer.unref?.();
  };
  const start = () => {
    left = Math.max(0, ms);
    step();
  };
  start();
  return {
    cancel: () => clearTimeout(timer),
    refresh: () => {
      if (ms <= MAX_TIMER_DELAY_MS) timer?.refresh();
      else {
        clearTimeout(timer);
        start();
      }
    },
  };
}
