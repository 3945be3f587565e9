/**
 * Time-based estimators of one track's emotion: exponential moving average, sliding-window mean
 * and majority vote. Time is in milliseconds of the observations' own timestamps, never in
 * frames, because frame rates vary (a Pi may classify at 5 fps, a server at 30).
 */

export type SmoothMethod = 'ema' | 'mean' | 'majority';

/*
 * Labels are whatever class names a model has, so they are never used as keys of plain `{}`
 * objects inside these estimators: a label such as `constructor`, `toString` or `__proto__`
 * would read or write an `Object.prototype` member. Accumulators are `Map`s; the objects handed
 * out are plain objects built with `Object.fromEntries` (own properties, even for `__proto__`),
 * and are read back only through {@link ownValue}.
 */

/** `obj[key]` when `key` is an own property of `obj`, else `undefined` (never an inherited member). */
export function ownValue<T>(obj: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** A plain object with the entries of `map`, safe for any key (including `__proto__`). */
function toRecord(map: ReadonlyMap<string, number>): Record<string, number> {
  return Object.fromEntries(map) as Record<string, number>;
}

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
  #num = new Map<string, number>();
  #den = 0;
  #lastT: number | null = null;
  constructor(readonly halfLifeMs: number) {}

  add(t: number, probabilities: Record<string, number>): void {
    if (this.#lastT !== null) {
      const decay = Math.pow(2, -Math.max(0, t - this.#lastT) / this.halfLifeMs);
      for (const [k, v] of this.#num) this.#num.set(k, v * decay);
      this.#den *= decay;
    }
    for (const [k, v] of Object.entries(probabilities)) this.#num.set(k, (this.#num.get(k) ?? 0) + v);
    this.#den += 1;
    this.#lastT = Math.max(this.#lastT ?? t, t);
  }

  probabilities(): Record<string, number> {
    const out = new Map<string, number>();
    for (const [k, v] of this.#num) out.set(k, this.#den > 0 ? v / this.#den : 0);
    return toRecord(out);
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
  #mean: Map<string, number> | null = null;

  add(t: number, probabilities: Record<string, number>): void {
    this.#mean = null;
    // A copy: the caller's object goes on in the message, where a later node may change it.
    this.samples.push({ t, p: { ...probabilities }, top: argmax(probabilities) });
    const from = t - this.windowMs;
    let drop = 0;
    while (drop < this.samples.length - 1 && this.samples[drop].t <= from) drop++;
    drop = Math.max(drop, this.samples.length - this.maxSamples);
    if (drop > 0) this.samples.splice(0, drop);
  }

  /** Arithmetic mean of the window's probability vectors (each observation weighs the same). */
  probabilities(): Record<string, number> {
    if (!this.#mean) {
      const sum = new Map<string, number>();
      for (const s of this.samples) for (const [k, v] of Object.entries(s.p)) sum.set(k, (sum.get(k) ?? 0) + v);
      const n = this.samples.length || 1;
      for (const [k, v] of sum) sum.set(k, v / n);
      this.#mean = sum;
    }
    return toRecord(this.#mean);
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
    const votes = new Map<string, number>();
    for (const k of Object.keys(this.probabilities())) votes.set(k, 0);
    for (const s of this.samples) votes.set(s.top, (votes.get(s.top) ?? 0) + 1);
    const n = this.samples.length || 1;
    for (const [k, v] of votes) votes.set(k, v / n);
    return toRecord(votes);
  }
}

/** Index of the highest score; ties go to the label that sorts first, so results are stable. */
export function argmax(scores: Record<string, number>, tieBreak?: Record<string, number>): string {
  let best = '';
  let bestV = -Infinity;
  for (const k of Object.keys(scores).sort()) {
    const v = scores[k]; // an own key (from Object.keys)
    if (v > bestV || (v === bestV && tieBreak && (ownValue(tieBreak, k) ?? 0) > (ownValue(tieBreak, best) ?? 0))) {
      best = k;
      bestV = v;
    }
  }
  return best;
}
