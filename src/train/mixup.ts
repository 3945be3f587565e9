/**
 * Mixup (Zhang et al., *mixup: Beyond Empirical Risk Minimization*, ICLR 2018) for a batch held
 * as flat rows: every image becomes `λ · itself + (1 − λ) · a partner from the same batch`, and
 * so do its targets. `λ ~ Beta(α, α)`, folded to `max(λ, 1 − λ)` so that each row stays mostly
 * itself (its own label still dominates). Pure: all draws come from the given `rand`, so a
 * seeded batch mixes the same way on every run and on resume.
 */
import { gaussian, randomPermutation } from '../model/graph';

/** Gamma(shape, 1) draw (Marsaglia–Tsang; shape < 1 through the `U^(1/shape)` boost). */
export function sampleGamma(shape: number, rand: () => number): number {
  if (!(shape > 0)) throw new RangeError(`gamma shape must be > 0, got ${shape}`);
  if (shape < 1) return sampleGamma(shape + 1, rand) * Math.pow(Math.max(rand(), 1e-12), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = gaussian(rand);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rand();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(Math.max(u, 1e-300)) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Beta(α, α) draw. */
export function sampleSymmetricBeta(alpha: number, rand: () => number): number {
  const a = sampleGamma(alpha, rand);
  const b = sampleGamma(alpha, rand);
  return a + b > 0 ? a / (a + b) : 0.5;
}

/** One row-major block of a batch: `width` values per image. */
export interface MixRows {
  data: Float32Array;
  width: number;
}

export interface MixPlan {
  /** Partner of each row. */
  partner: Int32Array;
  /** Weight of the row itself, in [0.5, 1]. */
  lambda: Float32Array;
}

/** Draws the partners (a random permutation of the batch) and the weights. */
export function mixupPlan(n: number, alpha: number, rand: () => number): MixPlan {
  if (!(alpha > 0)) throw new RangeError(`mixup alpha must be > 0, got ${alpha}`);
  const partner = randomPermutation(n, rand);
  const lambda = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const l = sampleSymmetricBeta(alpha, rand);
    lambda[i] = Math.max(l, 1 - l);
  }
  return { partner, lambda };
}

/**
 * Mixes each block in place by the plan: `row_i = λ_i · row_i + (1 − λ_i) · row_partner(i)`,
 * reading from a copy so that rows mix their partners' original values.
 */
export function applyMixup(plan: MixPlan, blocks: MixRows[]): void {
  const n = plan.partner.length;
  for (const { data, width } of blocks) {
    if (data.length !== n * width) throw new RangeError(`mixup block has ${data.length} values, expected ${n} x ${width}`);
    const src = data.slice();
    for (let i = 0; i < n; i++) {
      const l = plan.lambda[i];
      const j = plan.partner[i];
      for (let k = 0; k < width; k++) data[i * width + k] = l * src[i * width + k] + (1 - l) * src[j * width + k];
    }
  }
}
