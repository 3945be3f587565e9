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
