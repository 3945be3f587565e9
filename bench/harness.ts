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
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[rank];
}

/** Rounds to `digits` decimals for display and JSON. */
export function round(x: number, digits = 2): number {
  const k = 10 ** digits;
  return Math.round(x * k) / k;
}
