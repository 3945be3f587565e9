/**
 * Time-based estimators of one track's emotion: exponential moving average, sliding-window mean
 * and majority vote. Time is in milliseconds of the observations' own timestamps, never in
 * frames, because frame rates vary (a Pi may classify at 5 fps, a server at 30).
 */

export type SmoothMethod = 'ema' | 'mean' | 'majority';

/** One track's running estimate. */
export interface Estimator {
  /** Adds an observation at time `t` (ms). Times never go backwards (the caller clamps). */
  add(t: number, probabilities: Record<string, number>): void;
  /** Smoothed probabilities per label (an average of the inputs, so they sum to 1 when those do). */
  probabilities(): Record<string, number>;
  /** The score each label competes with for the stable label (probability, or vote share). */
  scores(): Record<string, number>;
}

/**
 * The weight a new observation gets in a standard EMA when it arrives `dtMs` after the previous
 * one: `alpha = 1 − 2^(−dt / halfLife)`. After one half-life without change, the old estimate
 * keeps half its weight — whatever the frame rate in between.
 */
export function emaAlpha(dtMs: number, halfLifeMs: number): number {
  if (dtMs <= 0) return 0;
  if (halfLifeMs <= 0) return 1;
  return 1 - Math.pow(2, -dtMs / halfLifeMs);
}

/**
 * Exponential moving average with a half-life in ms and the real dt between observations: the
 * weighted mean of all observations, each weighing `2^(−age / halfLife)`.
 *
 * Normalising by the total weight (the "bias correction" of Adam) makes it equal to a standard
 * EMA with {@link emaAlpha} once a track has been seen for a few half-lives, while a new track's
 * estimate is the mean of what has been seen so far — a misread first frame does not dominate
 * for a whole half-life.
 */
export class EmaEstimator implements Estimator {
  #num: Record<string, number> = {};
  #den = 0;
  #lastT: number | null = null;
  constructor(readonly halfLifeMs: number) {}

  add(t: number, probabilities: Record<string, number>): void {
    if (this.#lastT !== null) {
      const decay = Math.pow(2, -Math.max(0, t - this.#lastT) / this.halfLifeMs);
      for (const k of Object.keys(this.#num)) this.#num[k] *= decay;
      this.#den *= decay;
    }
    for (const [k, v] of Object.entries(probabilities)) this.#num[k] = (this.#num[k] ?? 0) + v;
    this.#den += 1;
    this.#lastT = Math.max(this.#lastT ?? t, t);
  }

  probabilities(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.#num)) out[k] = this.#den > 0 ? v / this.#den : 0;
    return out;
  }

  scores(): Record<string, number> {
    return this.probabilities();
  }
}

interface Sample {
  t: number;
  p: Record<string, number>;
  top: string;
}

/**
 * The observations of the last `windowMs` (those with `t > now − windowMs`, never fewer than the
 * newest one), bounded to `maxSamples` so a runaway frame rate cannot grow memory.
 */
abstract class WindowEstimator implements Estimator {
  protected samples: Sample[] = [];
  constructor(
    readonly windowMs: number,
    readonly maxSamples: number,
  ) {}

  /** The mean of the current window, computed once per `add`. */
  #mean: Record<string, number> | null = null;

  add(t: number, probabilities: Record<string, number>): void {
    this.#mean = null;
    this.samples.push({ t, p: probabilities, top: argmax(probabilities) });
    const from = t - this.windowMs;
    let drop = 0;
    while (drop < this.samples.length - 1 && this.samples[drop].t <= from) drop++;
    drop = Math.max(drop, this.samples.length - this.maxSamples);
    if (drop > 0) this.samples.splice(0, drop);
  }

  /** Arithmetic mean of the window's probability vectors (each observation weighs the same). */
  probabilities(): Record<string, number> {
    if (!this.#mean) {
      const sum: Record<string, number> = {};
      for (const s of this.samples) for (const k in s.p) sum[k] = (sum[k] ?? 0) + s.p[k];
      const n = this.samples.length || 1;
      for (const k in sum) sum[k] /= n;
      this.#mean = sum;
    }
    return { ...this.#mean };
  }

  abstract scores(): Record<string, number>;
}

/** Sliding-window mean of the probabilities over the last `windowMs`. */
export class MeanEstimator extends WindowEstimator {
  scores(): Record<string, number> {
    return this.probabilities();
  }
}

/**
 * Majority vote over the last `windowMs`: each observation votes for its top label; a label's
 * score is its share of the votes. Probabilities are still the window mean (for display).
 */
export class MajorityEstimator extends WindowEstimator {
  scores(): Record<string, number> {
    const votes: Record<string, number> = {};
    for (const k of Object.keys(this.probabilities())) votes[k] = 0;
    for (const s of this.samples) votes[s.top] = (votes[s.top] ?? 0) + 1;
    const n = this.samples.length || 1;
    for (const k of Object.keys(votes)) votes[k] /= n;
    return votes;
  }
}

/** Index of the highest score; ties go to the label that sorts first, so results are stable. */
export function argmax(scores: Record<string, number>, tieBreak?: Record<string, number>): string {
  let best = '';
  let bestV = -Infinity;
  for (const k of Object.keys(scores).sort()) {
    const v = scores[k];
    if (v > bestV || (v === bestV && tieBreak && (tieBreak[k] ?? 0) > (tieBreak[best] ?? 0))) {
      best = k;
      bestV = v;
    }
  }
  return best;
}
