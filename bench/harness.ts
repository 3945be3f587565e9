/**
 * Shared plumbing for `npm run bench`: stage registry, progress line, table and JSON output.
 * Each stage lives in bench/stages/<name>.ts and exports a {@link BenchStage}.
 */
export interface BenchContext {
  /** Print a transient progress line (stderr; suppressed in --json mode). */
  progress(text: string): void;
  /** Scratch directory for generated clips and images (created on demand). */
  workDir: string;
  /** `--quick`: fewer iterations (for smoke tests of the harness itself). */
  quick: boolean;
}

export type BenchResult = Record<string, unknown>;

export interface BenchStage {
  /** Top-level key in the JSON output (`decode`, `detect`, `classify`, `pipeline`). */
  name: string;
  /** One line for the table header. */
  title: string;
  run(ctx: BenchContext): Promise<BenchResult>;
}

/** Median of a list of numbers (0 for an empty list). */
export function median(xs: number[]): number {
  return percentile(xs, 50);
}

/** Nearest-rank percentile (p in 0..100) of a list of numbers (0 for an empty list). */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  // p * n first: (p / 100) * n carries a rounding error (0.07 * 100 = 7.000000000000001) that
  // ceil would turn into the next rank.
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p * s.length) / 100) - 1));
  return s[rank];
}

/**
 * Bytes in the megabyte of every "MB" the benchmarks print: 2^20 (a MiB), as the pipeline bench
 * and the soak have always printed, so the README's figures stay comparable. bench:live printed
 * 10^6 until session 26; the README says which of its figures are in that unit.
 */
export const MB = 2 ** 20;

/** Bytes as MB (2^20 bytes), unrounded. */
export function toMB(bytes: number): number {
  return bytes / MB;
}

/** Rounds to `digits` decimals for display and JSON. */
export function round(x: number, digits = 2): number {
  const k = 10 ** digits;
  return Math.round(x * k) / k;
}

/**
 * Counts of whole numbers (latencies in ms): a bounded record of any number of samples whose
 * nearest-rank percentiles equal {@link percentile}'s over the same (rounded) values. A long
 * benchmark (an hour of several cameras) keeps one count per distinct millisecond, not one number
 * per frame, so its own memory does not grow with the frames it has seen.
 */
export class Histogram {
  private readonly counts = new Map<number, number>();
  private n = 0;

  add(x: number): void {
    const k = Math.round(x);
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
    this.n++;
  }

  get count(): number {
    return this.n;
  }

  /** Nearest-rank percentile (p in 0..100); 0 when empty, as {@link percentile}. */
  percentile(p: number): number {
    if (this.n === 0) return 0;
    const rank = Math.min(this.n - 1, Math.max(0, Math.ceil((p * this.n) / 100) - 1));
    let seen = 0;
    for (const k of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(k)!;
      if (seen > rank) return k;
    }
    return 0; // not reached: the counts sum to n
  }
}
