/**
 * RxJS face of the smoother: {@link smoothFaces}.
 */
import { asyncScheduler, Observable, OperatorFunction, SchedulerLike, Subscription } from 'rxjs';
import { checkFaces, EmotionFace, SmoothedEmotion } from './faces';
import { EmotionSmoother, LostTrack, resolveSmoothOptions, SmoothOptions } from './smoother';
import { timerDelay } from '../timers';

/** One frame's faces for {@link smoothFaces}. */
export interface SmoothInput<F extends EmotionFace = EmotionFace> {
  faces: readonly F[];
  /** Capture time in ms (`frame.timestamp`); when absent, the scheduler's `now()` is used. */
  timestamp?: number;
  /** `frame.sourceId`; tracks of different sources are kept apart. */
  sourceId?: string;
}

/** One output per input, in order. */
export interface SmoothOutput<F extends EmotionFace = EmotionFace> {
  faces: Array<F & { smoothed: SmoothedEmotion }>;
  /** The time the faces were smoothed at (ms). */
  timestamp: number;
  /** Tracks forgotten since the previous output (each reported once, never again). */
  lost: LostTrack[];
  /** Tracks remembered after this frame. */
  tracks: number;
  /** Stable label → number of remembered tracks showing it. */
  labels: Record<string, number>;
}

export interface SmoothHooks {
  /** Called after the timeout sweep forgot tracks while no frames arrived (e.g. to update a status). */
  onSweep?: (forgotten: number, remaining: number, labels: Record<string, number>) => void;
}

/**
 * Smooths each tracked face's emotion over time and adds `face.smoothed`
 * `{label, confidence, probabilities, since}` with a hysteresis-stable label.
 *
 * <span class="informal">Like `scan` with one EMA/window per track id, plus a timer that forgets
 * tracks nobody has seen for `trackTimeoutMs` — even when frames stop.</span>
 *
 * Time comes from each input's `timestamp` (so dt is the real gap between frames) or, when
 * absent, from `scheduler.now()`. Invalid faces (see {@link checkFaces}) error the stream with a
 * `TypeError`; validate first if the stream must survive bad input.
 *
 * @example
 * ```ts
 * faces$.pipe(smoothFaces({ method: 'ema', halfLifeMs: 500, minDwellMs: 300 }))
 *   .subscribe(({ faces }) => faces.forEach((f) => console.log(f.id, f.smoothed.label)));
 * ```
 * @param options Method, time constants, hysteresis and timeout (see {@link SmoothOptions}).
 * @param scheduler Clock and timer for the timeout sweep. @default asyncScheduler
 * @param hooks Optional callbacks.
 * @return An operator emitting one {@link SmoothOutput} per input.
 * @see EmotionSmoother
 */
export function smoothFaces<F extends EmotionFace>(
  options: SmoothOptions = {},
  scheduler: SchedulerLike = asyncScheduler,
  hooks: SmoothHooks = {},
): OperatorFunction<SmoothInput<F>, SmoothOutput<F>> {
  const resolved = resolveSmoothOptions(options); // invalid options throw here, not per frame
  return (source) =>
    new Observable<SmoothOutput<F>>((subscriber) => {
      const smoother = new EmotionSmoother(resolved);
      let sweep: Subscription | null = null;
      const armSweep = () => {
        if (sweep && !sweep.closed) return;
        const due = smoother.nextExpiry();
        if (due === null) return;
        sweep = scheduler.schedule(() => {
          sweep = null;
          const n = smoother.sweep(scheduler.now());
          if (n > 0) hooks.onSweep?.(n, smoother.size, smoother.labelCounts());
          armSweep();
        }, timerDelay(due, scheduler.now()));
      };
      const sub = source.subscribe({
        next: (input) => {
          const problem = checkFaces(input?.faces);
          if (problem) {
            subscriber.error(new TypeError(problem));
            return;
          }
          const clock = scheduler.now();
          const t = typeof input.timestamp === 'number' && Number.isFinite(input.timestamp) ? input.timestamp : clock;
          const r = smoother.observe(input.faces, t, { sourceId: input.sourceId, clock });
          subscriber.next({ faces: r.faces, timestamp: t, lost: r.lost, tracks: smoother.size, labels: smoother.labelCounts() });
          armSweep();
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        sub.unsubscribe();
        sweep?.unsubscribe();
        sweep = null;
        smoother.reset();
      };
    });
}
