/**
 * Model soups (`npm run train -- --soup K`): K trainings that differ only in their seed (data
 * order, augmentation draws, random init of new classifier columns), all fine-tuned from the same
 * pretrained snapshot, end in one basin; the uniform average of their weights is one model (same
 * inference cost as each) that usually generalises better and varies less than any of them
 * (Wortsman et al. 2022, "uniform soup"). What is averaged is what each member is evaluated
 * with: its training-form parameters and batch-norm moving statistics (the EMA shadow under
 * `--ema`), never the optimizer moments; the soup is then BN-folded like a single model.
 */
import * as path from 'path';
import { NamedArrays, readModelDir, trainingFormWeights } from '../model/io';
import { ArchSpec, ResolvedSpec } from '../model/spec';
import { Sample } from './data';
import { EpochStats, foldWeights, ProgressInfo, TrainConfig, TrainResult, trainModel } from './trainer';

/**
 * The element-wise mean of weight maps with the same tensor names and shapes (accumulated in
 * float64). Throws a clear error naming the first tensor that differs.
 */
export function averageWeights(maps: NamedArrays[]): NamedArrays {
  if (maps.length === 0) throw new Error('averageWeights: no weight maps to average');
  const names = Object.keys(maps[0]);
  maps.forEach((m, i) => {
    const missing = names.filter((n) => !(n in m));
    const extra = Object.keys(m).filter((n) => !(n in maps[0]));
    if (missing.length || extra.length) {
      const list = (l: string[]) => (l.length ? l.slice(0, 3).join(', ') + (l.length > 3 ? `, … (${l.length})` : '') : 'none');
      throw new Error(`averageWeights: map ${i} holds other tensors than map 0 (missing: ${list(missing)}; extra: ${list(extra)})`);
    }
    for (const n of names) {
      const [a, b] = [maps[0][n], m[n]];
      if (a.shape.join('x') !== b.shape.join('x') || a.data.length !== b.data.length) {
        throw new Error(`averageWeights: ${n} is ${b.shape.join('x')} (${b.data.length} values) in map ${i} but ${a.shape.join('x')} (${a.data.length} values) in map 0`);
      }
    }
  });
  const out: NamedArrays = {};
  for (const n of names) {
    const sum = new Float64Array(maps[0][n].data.length);
    for (const m of maps) {
      const d = m[n].data;
      for (let i = 0; i < d.length; i++) sum[i] += d[i];
    }
    out[n] = { shape: maps[0][n].shape.slice(), data: Float32Array.from(sum, (v) => v / maps.length) };
  }
  return out;
}

/** The seeds of a soup of `k` members: `seed, seed+1, …, seed+k-1`. */
export const soupSeeds = (seed: number, k: number): number[] => Array.from({ length: k }, (_, i) => seed + i);

/** `--soup` value: a whole number ≥ 1 (absent: 1, a single training); throws a clear error otherwise. */
export function soupSize(v: string | boolean | undefined): number {
  if (v === undefined) return 1;
  const k = Number(v);
  if (v === true || !Number.isInteger(k) || k < 1) throw new Error(`--soup must be a whole number >= 1 (the number of seeds to average; 1 = off), got "${String(v)}"`);
  return k;
}

/** A member's checkpoint directory: `<dir>/seed-<seed>` (e.g. `<work>/fold-3/seed-2`). */
export const memberDir = (dir: string, seed: number): string => path.join(dir, `seed-${seed}`);

export interface SoupMember {
  seed: number;
  result: TrainResult;
  /** Its checkpoint had finished every epoch already: loaded, not retrained. */
  reused: boolean;
}

export interface SoupResult {
  members: SoupMember[];
  /** The uniform average of the members' training-form weights. */
  weights: NamedArrays;
  /** `weights`, BN-folded (inference form). */
  folded: NamedArrays;
  resolved: ResolvedSpec;
  /** Per-epoch mean of the members' training statistics. */
  history: EpochStats[];
}

export interface SoupHooks {
  /** Parent of the members' checkpoint directories ({@link memberDir}). */
  checkpointDir: string;
  onProgress?: (seed: number) => ((p: ProgressInfo) => void) | undefined;
  onMember?: (m: SoupMember) => void;
}

/**
 * Trains (or resumes, or reuses when finished) one member per seed of {@link soupSeeds}`(cfg.seed, k)`,
 * each in its own checkpoint directory, then averages and folds them.
 */
export async function trainSoup(samples: Sample[], cfg: TrainConfig, k: number, hooks: SoupHooks): Promise<SoupResult> {
  const members: SoupMember[] = [];
  for (const seed of soupSeeds(cfg.seed, k)) {
    const result = await trainModel(samples, { ...cfg, seed }, { checkpointDir: memberDir(hooks.checkpointDir, seed), onProgress: hooks.onProgress?.(seed) });
    const m = { seed, result, reused: result.resumedFromEpoch >= cfg.epochs };
    members.push(m);
    hooks.onMember?.(m);
  }
  const weights = averageWeights(members.map((m) => m.result.weights));
  const resolved = members[0].result.resolved;
  return { members, weights, folded: await foldWeights(resolved, weights), resolved, history: meanHistory(members.map((m) => m.result.history)) };
}

/** Per-epoch mean of several runs' statistics (the epochs all runs have). */
export function meanHistory(runs: EpochStats[][]): EpochStats[] {
  const n = Math.min(...runs.map((h) => h.length));
  const mean = (e: number, f: (s: EpochStats) => number) => runs.reduce((a, h) => a + f(h[e]), 0) / runs.length;
  return Array.from({ length: n }, (_, e) => ({
    epoch: runs[0][e].epoch,
    loss: mean(e, (s) => s.loss),
    accuracy: mean(e, (s) => s.accuracy),
    lr: runs[0][e].lr,
    seconds: mean(e, (s) => s.seconds),
    imagesPerSec: mean(e, (s) => s.imagesPerSec),
  }));
}

/**
 * The soup of members' checkpoints already on disk (`--selftest-only` of a soup): their
 * training-form weights (EMA ones when kept) averaged. Throws if they are of different models.
 */
export function soupFromCheckpoints(dirs: string[]): { spec: ArchSpec; classes: string[]; weights: NamedArrays } {
  const cks = dirs.map((d) => readModelDir(d));
  for (const ck of cks.slice(1)) {
    if (JSON.stringify(ck.json.spec) !== JSON.stringify(cks[0].json.spec) || JSON.stringify(ck.json.classes) !== JSON.stringify(cks[0].json.classes)) {
      throw new Error(`Soup members ${cks[0].dir} and ${ck.dir} are of different architectures or classes`);
    }
  }
  return { spec: cks[0].json.spec, classes: cks[0].json.classes, weights: averageWeights(cks.map((ck) => trainingFormWeights(ck.arrays))) };
}
