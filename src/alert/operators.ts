/**
 * RxJS face of the alert engine: {@link alertEvents}.
 */
import { asyncScheduler, Observable, OperatorFunction, SchedulerLike, Subscription } from 'rxjs';
import { checkFaces, TrackedFace } from '../smooth/faces';
import { AlertEngine } from './engine';
import { AlertEvent, AlertOptions, AlertRule, resolveAlertOptions, resolveRules } from './rules';
import { timerDelay } from '../timers';

/** One frame's faces for {@link alertEvents}. */
export interface AlertInput {
  faces: readonly TrackedFace[];
  /** `frame.sourceId`; per-face alerts of different sources are kept apart. */
  sourceId?: string;
}

export interface AlertHooks {
  /** Called with the engine once per subscription (e.g. to read `activeCount` for a status). */
  onEngine?: (engine: AlertEngine) => void;
}

/**
 * Turns a stream of per-frame faces into alert events (`start`, `update`, `end`).
 *
 * <span class="informal">Debounce (`minDurationMs`), cooldown and rate limit per rule and face,
 * plus timers, so "no face for N s" and face timeouts fire even when no frame arrives.</span>
 *
 * All times come from `scheduler.now()` (arrival time), so the operator is tested in virtual
 * time with `TestScheduler`. Invalid input (see {@link checkFaces}) errors the stream with a
 * `TypeError`; the timer is cleared on unsubscribe, error and complete.
 *
 * @example
 * ```ts
 * faces$.pipe(alertEvents([{ name: 'nobody', type: 'absence', minDurationMs: 30_000 }]))
 *   .subscribe((e) => console.log(e.event, e.rule, e.duration));
 * ```
 * @param rules The rules (validated here; an invalid rule throws a `TypeError`).
 * @param options Update interval, face timeout.
 * @param scheduler Clock and timers. @default asyncScheduler
 * @param hooks Optional callbacks.
 * @return An operator emitting zero or more {@link AlertEvent}s per input, and on timers.
 * @see AlertEngine
 */
export function alertEvents(
  rules: readonly AlertRule[],
  options: AlertOptions = {},
  scheduler: SchedulerLike = asyncScheduler,
  hooks: AlertHooks = {},
): OperatorFunction<AlertInput, AlertEvent> {
  const resolvedRules = resolveRules(rules);
  const resolved = resolveAlertOptions(options);
  return (source) =>
    new Observable<AlertEvent>((subscriber) => {
      const engine = new AlertEngine(resolvedRules, resolved);
      const t0 = scheduler.now();
      engine.start(t0);
      hooks.onEngine?.(engine);
      let timer: Subscription | null = null;
      let timerDue = Infinity;
      const emit = (events: AlertEvent[]) => {
        for (const e of events) subscriber.next(e);
      };
      // `at` is the time the engine was last evaluated: deadlines after it are still to do, even
      // when the clock has moved past them since (a timer may fire a millisecond early, and the
      // clock ticks on while `tick` runs), so those are scheduled at once, never skipped.
      const arm = (at: number) => {
        // Unsubscribed while emitting (take(1), first(), takeWhile…): the teardown has run, and a
        // timer armed now would tick on, unseen, for as long as the engine has deadlines.
        if (subscriber.closed) return;
        const due = engine.nextDeadline(at);
        if (due === null) {
          timer?.unsubscribe();
          timer = null;
          timerDue = Infinity;
          return;
        }
        if (timer && timerDue === due) return;
        timer?.unsubscribe();
        timerDue = due;
        timer = scheduler.schedule(() => {
          timer = null;
          timerDue = Infinity;
          const now = scheduler.now();
          engine.syncClock(now);
          emit(engine.tick(now));
          arm(now);
        }, timerDelay(due, scheduler.now()));
      };
      const sub = source.subscribe({
        next: (input) => {
          const problem = checkFaces(input?.faces, { requireEmotion: false });
          if (problem) {
            subscriber.error(new TypeError(problem));
            return;
          }
          const now = scheduler.now();
          engine.syncClock(now);
          emit(engine.observe(input.faces, now, input.sourceId));
          arm(now);
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      arm(t0);
      return () => {
        sub.unsubscribe();
        timer?.unsubscribe();
        timer = null;
      };
    });
}
