/**
 * Training of the in-the-wild EmotionNet Nano models on FER2013 / FER+ (issue 6).
 *
 * One network, two heads on the same pooled features (one dense layer with 8 + 7 outputs):
 * - columns 0..7: FER+ (8 classes), trained with the crowd vote distribution as soft targets,
 *   loss weight `ferPlusWeight` (default 1);
 * - columns 8..14: FER2013's original 7 labels (label-smoothed one-hot), weight `aux7Weight`.
 * `select` says which PublicTest accuracy picks the exported epoch; `pretrained` starts a new
 * run (e.g. a second, FER2013-focused stage) from earlier training-form weights.
 * Exported as two ordinary models that share the trunk: `<name>` (8 classes) and `<name>-7`.
 * The extra head costs 7·C weights in training only.
 *
 * Built for long runs on a shared CPU:
 * - resumable at any step: the checkpoint holds parameters, BN statistics, optimiser state, the
 *   EMA weights, epoch, step, history and best-so-far; shuffling and augmentation draws are pure
 *   functions of (seed, epoch, step), so a resumed run replays exactly what it would have done;
 * - checkpoints every epoch and every `checkpointMinutes` minutes (atomic writes);
 * - evaluation and export use an exponential moving average (EMA) of the weights, which is
 *   much better than the raw weights while the learning rate is still high;
 * - the gradient step is split into `gradients()` (forward + backward on one batch) and
 *   `apply()` (optimiser + EMA), so data-parallel workers can compute gradients on parts of a batch.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { ArchSpec, resolveSpec, ResolvedSpec } from '../model/spec';
import { foldBatchNorm, initTrainWeights, mulberry32, randomPermutation, TensorMap, trainForward } from '../model/graph';
import { isMovingStat, isOptimizerState, NamedArrays, readModelDir, writeModelDir } from '../model/io';
import { augmentWildInto, WildAugmentOptions, WILD_AUGMENT } from './augment-wild';
import { applyMixup, MixPlan, mixupPlan } from './mixup';
import { registerWasmGradientKernels } from './kernels';
import { GradientWorkers } from './fer-workers';
import { SelfTest, selfTestLogits, selfTestRows, SELFTEST_VERSION } from '../model/selftest';
import { computeMetrics, Metrics } from './metrics';
import { createOptimizer, DEFAULT_SGD_MOMENTUM, lerp, OptimizerName, WeightEma } from './optim';
import { checkRunLength, foldWeightsSync, initFromPretrained, lrAt, Pretrained, predictProbabilities, toArrays, trainingFormWeights } from './trainer';
import { FER2013_CLASSES, FERPLUS_CLASSES, FerItem, loadFerPixels } from './fer';
import { mixTarget7 } from './fer-teacher';
import { checkpointMismatchError, COMMON_KEY_FIELDS, describeKeyDifferences, KeyField } from './config-key';

export const N8 = FERPLUS_CLASSES.length;
export const N7 = FER2013_CLASSES.length;
export const HEAD_OUTPUTS = N8 + N7;
/** Output names of the two-head training model (the classes of its checkpoints). */
export const HEAD_CLASSES = [...FERPLUS_CLASSES, ...FER2013_CLASSES.map((c) => `fer2013:${c}`)];

/** The PublicTest accuracy that decides "best so far" (what gets exported). */
export type FerSelect = 'ferplus' | 'fer2013';
export const FER_SELECT: readonly FerSelect[] = ['ferplus', 'fer2013'];

/** Loss weights of the two heads: FER+ soft-target cross-entropy and FER2013 label cross-entropy. */
export interface HeadWeights {
  w8: number;
  aux7: number;
}

export interface FerTrainConfig {
  variant: string;
  spec: ArchSpec;
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  warmupEpochs: number;
  minLrFraction: number;
  bnMomentum: number;
  seed: number;
  /** Weight of the FER2013 7-class head loss. */
  aux7Weight: number;
  /** Weight of the FER+ 8-class head loss. */
  ferPlusWeight: number;
  /** Which PublicTest accuracy picks the exported epoch. */
  select: FerSelect;
  labelSmoothing7: number;
  /** EMA decay per step (0 = no EMA: evaluate the raw weights). */
  emaDecay: number;
  augment: WildAugmentOptions | null;
  /**
   * Start a new run from pretrained training-form weights (`--export-init` snapshot or a FER
   * checkpoint) instead of a random init: trunk and the head outputs of the same name. Applied
   * only when the run starts; a resume continues from its checkpoint.
   */
  pretrained?: Pretrained | null;
  /**
   * Offline knowledge distillation (`--teacher <dir> --kd <alpha>`): the FER+ soft targets
   * were mixed as `(1 - alpha) · votes + alpha · teacher` (see fer-teacher.ts). The mixing
   * happens when the samples are built; here it names the teacher in the config key.
   */
  teacher?: { source: string; alpha: number } | null;
  /**
   * Distillation of the FER2013 head (`--teacher7 <dir> --kd7 <alpha>`): its target becomes
   * `(1 - alpha) · label-smoothed original label + alpha · teacher` for the samples that carry
   * a `teacher7` row (see {@link makeBatch}).
   */
  teacher7?: { source: string; alpha: number } | null;
  /** Mixup within each batch (`--mixup <alpha>`: λ ~ Beta(alpha, alpha)); 0 or absent = off. See mixup.ts. */
  mixup?: number;
  /**
   * `adamw` (absent: the default; `weightDecay` decoupled) or `sgd` (Nesterov momentum
   * `momentum`, default 0.9; `weightDecay` as classic L2 on the gradient). See optim.ts.
   */
  optimizer?: OptimizerName;
  momentum?: number;
  /**
   * Sharpness-aware minimisation (`--sam <rho>`; 0 or absent = off): each step's gradient is taken
   * at the weights moved by `rho` along the normalised first gradient. See {@link samGradients}.
   */
  sam?: number;
}

export const DEFAULT_FER_CONFIG: Omit<FerTrainConfig, 'variant' | 'spec'> = {
  epochs: 40,
  batchSize: 64,
  lr: 3e-3,
  weightDecay: 0.05,
  warmupEpochs: 1,
  minLrFraction: 0.01,
  bnMomentum: 0.9,
  seed: 1,
  aux7Weight: 0.5,
  ferPlusWeight: 1,
  select: 'ferplus',
  labelSmoothing7: 0.1,
  emaDecay: 0.999,
  augment: WILD_AUGMENT,
};

export interface FerSample {
  data: Uint8Array;
  /** FER+ soft target over FERPLUS_CLASSES, or null (no FER+ supervision for this image). */
  soft8: Float32Array | null;
  /** Original FER2013 label, index into FER2013_CLASSES. */
  label7: number;
  /** FER2013 teacher probabilities over FER2013_CLASSES (used with `cfg.teacher7`). */
  teacher7?: Float32Array | null;
}

export interface FerValSet {
  /** Clean FER+ validation (majority label index into FERPLUS_CLASSES). */
  plus: { data: Uint8Array[]; label8: number[] };
  /** Clean FER2013 validation (original labels). */
  orig: { data: Uint8Array[]; label7: number[] };
}

/** The validation sets of `evaluateFer` from their items (pixels decoded from `root`). */
export function loadFerValSet(root: string, valPlus: FerItem[], val7: FerItem[]): FerValSet {
  return {
    plus: { data: loadFerPixels(root, valPlus), label8: valPlus.map((i) => i.label8) },
    orig: { data: loadFerPixels(root, val7), label7: val7.map((i) => i.label7) },
  };
}

export interface FerEval {
  ferPlus: Metrics;
  fer2013: Metrics;
  /** FER2013 7-label accuracy of the 8-class head (contempt excluded from the argmax). */
  fer2013From8Accuracy: number;
  seconds: number;
  imagesPerSec: number;
}

export interface FerEpochRecord {
  epoch: number;
  loss: number;
  /** Training accuracy of the FER+ head vs the majority of the soft target (augmented data). */
  trainAccuracy8: number;
  lr: number;
  seconds: number;
  imagesPerSec: number;
  valFerPlus?: number;
  valFer2013?: number;
  valFerPlusMacroF1?: number;
  valFer2013MacroF1?: number;
  finishedAt: string;
}

export interface FerTrainState {
  key: string;
  epoch: number;
  stepInEpoch: number;
  globalStep: number;
  history: FerEpochRecord[];
  best: { epoch: number; valFerPlus: number; valFer2013: number } | null;
  /** Running sums of the epoch in progress (so a mid-epoch resume reports the whole epoch). */
  partial: { lossSum: number; correct: number; seen: number; seconds: number } | null;
  /** Validations run when a run stopped mid-epoch (`validateOnStop`); `epoch` is fractional. */
  midEpochEvals?: Array<{ epoch: number; globalStep: number; valFerPlus: number; valFer2013: number; at: string }>;
}

export interface FerTrainHooks {
  checkpointDir: string;
  /** Checkpoint also every N minutes within an epoch. @default 10 */
  checkpointMinutes?: number;
  /** Stop (after a checkpoint) when this returns true; checked after every step. */
  shouldStop?: () => boolean;
  /** Stop after this many steps in this call (tests). */
  maxSteps?: number;
  onProgress?: (p: { epoch: number; epochs: number; step: number; steps: number; loss: number; accuracy: number; imagesPerSec: number; etaSeconds: number }) => void;
  onEpoch?: (r: FerEpochRecord, ev: FerEval | null, improved: boolean) => void | Promise<void>;
  /** Called with folded heads when the selected (`cfg.select`) validation accuracy improves. */
  onBest?: (m: { folded8: NamedArrays; folded7: NamedArrays; record: FerEpochRecord; ev: FerEval; history: FerEpochRecord[]; unfolded: NamedArrays }) => void | Promise<void>;
  onCheckpoint?: (state: FerTrainState) => void;
  /** Called once before the first step: `resumed` when the state came from the checkpoint. */
  onStart?: (state: FerTrainState, resumed: boolean) => void;
  /** Validate every N epochs (and after the last). @default 1 */
  validateEvery?: number;
  /**
   * When stopped mid-epoch, validate the EMA weights too (and export them through `onBest`
   * when they beat the best so far), so a session that ends mid-epoch still leaves numbers.
   */
  validateOnStop?: boolean;
  /**
   * Data-parallel gradient computation: the batch is split into this many shards, computed by
   * the main thread and `workers - 1` worker threads (each with its own wasm backend), and the
   * gradients are averaged (batch-norm uses per-shard statistics, "ghost" batch-norm; the
   * moving statistics combine the shards exactly). @default 1 (no workers)
   */
  workers?: number;
  /** Backend of the worker threads. @default 'wasm' */
  workerBackend?: string;
}

/**
 * A compatibility key: a checkpoint is resumed only with the same data size and config.
 * `epochs` is left out on purpose: a later run may extend or shorten the schedule (the cosine
 * decay then continues from the current step towards the new end). Options added later enter
 * the key only when they differ from their default, so older checkpoints keep resuming.
 */
export function ferConfigKey(cfg: FerTrainConfig, n: number): string {
  const key: Record<string, unknown> = { v: cfg.variant, s: cfg.spec, b: cfg.batchSize, lr: cfg.lr, wd: cfg.weightDecay, w: cfg.warmupEpochs, mf: cfg.minLrFraction, seed: cfg.seed, a7: cfg.aux7Weight, ls: cfg.labelSmoothing7, ema: cfg.emaDecay, a: cfg.augment, n };
  if (cfg.ferPlusWeight !== 1) key.w8 = cfg.ferPlusWeight;
  if (cfg.select !== 'ferplus') key.sel = cfg.select;
  if (cfg.pretrained) key.pre = cfg.pretrained.source;
  if (cfg.teacher) {
    key.kdt = cfg.teacher.source;
    key.kd = cfg.teacher.alpha;
  }
  if (cfg.teacher7) {
    key.kdt7 = cfg.teacher7.source;
    key.kd7 = cfg.teacher7.alpha;
  }
  if (cfg.mixup) key.mix = cfg.mixup;
  if (cfg.optimizer && cfg.optimizer !== 'adamw') {
    key.opt = cfg.optimizer;
    key.mom = cfg.momentum ?? DEFAULT_SGD_MOMENTUM;
  }
  if (cfg.sam) key.sam = cfg.sam;
  return JSON.stringify(key);
}

const FER_KEY_FIELDS: Record<string, KeyField> = {
  ...COMMON_KEY_FIELDS,
  w: { option: '--warmup' },
  mf: { option: 'LR floor' },
  a7: { option: '--aux7' },
  w8: { option: '--w8' },
  sel: { option: '--select' },
  kdt: { option: '--teacher', absent: 'none' },
  kd: { option: '--kd', absent: 'none' },
  kdt7: { option: '--teacher7', absent: 'none' },
  kd7: { option: '--kd7', absent: 'none' },
  mix: { option: '--mixup', absent: 'none' },
  opt: { option: '--optimizer', absent: 'adamw' },
  mom: { option: '--momentum', absent: 'none' },
  sam: { option: '--sam', absent: 'none' },
};

/** The options in which two FER config keys differ, e.g. `--init (checkpoint: x, now: none)`. */
export function keyDifferences(saved: string, now: string): string[] {
  return describeKeyDifferences(saved, now, FER_KEY_FIELDS);
}

/** The accuracy that `select` ranks epochs by. */
export function selectedAccuracy(select: FerSelect, r: { valFerPlus: number; valFer2013: number }): number {
  return select === 'fer2013' ? r.valFer2013 : r.valFerPlus;
}

/** Deterministic shuffle of 0..n-1 for an epoch. */
export function epochOrder(n: number, seed: number, epoch: number): Int32Array {
  return randomPermutation(n, mulberry32((seed * 100003 + epoch * 7919) >>> 0));
}

/** Augmentation RNG of one step: a pure function of (seed, epoch, step). */
export function stepRandom(seed: number, epoch: number, step: number): () => number {
  return mulberry32(((seed * 2654435761) ^ (epoch * 40503) ^ (step * 2246822519)) >>> 0);
}

/** Inputs and targets of one batch as plain arrays (what a worker needs). */
export interface BatchArrays {
  pixels: Float32Array;
  n: number;
  soft8: Float32Array; // n x 8 (zeros when masked)
  mask8: Float32Array; // n
  target7: Float32Array; // n x 7 (smoothed one-hot, mixed with the FER2013 teacher when there is one)
  majority8: Int32Array; // n (-1 when masked)
}

export function makeBatch(samples: FerSample[], idx: ArrayLike<number>, size: number, rand: () => number, cfg: FerTrainConfig): BatchArrays {
  const n = idx.length;
  const px = size * size;
  const b: BatchArrays = { pixels: new Float32Array(n * px), n, soft8: new Float32Array(n * N8), mask8: new Float32Array(n), target7: new Float32Array(n * N7), majority8: new Int32Array(n) };
  const ls = cfg.labelSmoothing7;
  for (let i = 0; i < n; i++) {
    const s = samples[idx[i]];
    if (cfg.augment) augmentWildInto(s.data, size, b.pixels, i * px, rand, cfg.augment);
    else for (let p = 0; p < px; p++) b.pixels[i * px + p] = s.data[p];
    if (s.soft8) {
      b.soft8.set(s.soft8, i * N8);
      b.mask8[i] = 1;
      let best = 0;
      for (let c = 1; c < N8; c++) if (s.soft8[c] > s.soft8[best]) best = c;
      b.majority8[i] = best;
    } else b.majority8[i] = -1;
    mixTarget7(s.label7, ls, cfg.teacher7 ? (s.teacher7 ?? null) : null, cfg.teacher7?.alpha ?? 0, b.target7, i * N7);
  }
  if (cfg.mixup) mixBatch(b, px, mixupPlan(n, cfg.mixup, rand));
  return b;
}

/**
 * Mixup of a built batch: pixels and both heads' targets. The FER+ mask mixes too (the share of
 * the row that carries FER+ supervision) and the FER+ target is renormalised to a distribution,
 * so a row mixed with an image without FER+ votes keeps its own target at a lower weight.
 */
function mixBatch(b: BatchArrays, px: number, plan: MixPlan): void {
  applyMixup(plan, [
    { data: b.pixels, width: px },
    { data: b.soft8, width: N8 },
    { data: b.mask8, width: 1 },
    { data: b.target7, width: N7 },
  ]);
  for (let i = 0; i < b.n; i++) {
    if (b.mask8[i] <= 0) {
      b.majority8[i] = -1;
      continue;
    }
    let sum = 0;
    let best = 0;
    for (let c = 0; c < N8; c++) {
      sum += b.soft8[i * N8 + c];
      if (b.soft8[i * N8 + c] > b.soft8[i * N8 + best]) best = c;
    }
    for (let c = 0; c < N8; c++) b.soft8[i * N8 + c] /= sum;
    b.majority8[i] = best;
  }
}

/** Gradients, BN statistics, loss and FER+ predictions of one batch, as plain arrays. */
export interface GradResult {
  n: number;
  grads: NamedArrays;
  stats: Array<{ id: string; mean: Float32Array; variance: Float32Array }>;
  /** Mean loss over the batch. */
  loss: number;
  /** Argmax of the FER+ head per image. */
  pred8: Int32Array;
}

/** Maps tf variable names to our weight names. */
export function variableKeys(params: Record<string, tf.Variable>): Map<string, string> {
  return new Map(Object.entries(params).map(([n, v]) => [v.name, n]));
}

/**
 * Forward + backward of the two-head loss on one batch (training-mode batch-norm):
 * `heads.w8` times the FER+ cross-entropy against the soft targets (masked where there is none)
 * plus `heads.aux7` times the FER2013 cross-entropy. `model` holds the parameters (trainable
 * variables, keyed by `keyOf`) and the moving statistics.
 */
export async function batchGradients(r: ResolvedSpec, model: TensorMap, keyOf: Map<string, string>, batch: BatchArrays, heads: HeadWeights): Promise<GradResult> {
  const size = r.spec.inputSize;
  const x = tf.tensor4d(batch.pixels, [batch.n, size, size, 1]);
  const soft8 = tf.tensor2d(batch.soft8, [batch.n, N8]);
  const mask8 = tf.tensor1d(batch.mask8);
  const t7 = tf.tensor2d(batch.target7, [batch.n, N7]);
  const trainable = [...keyOf.keys()].map((vn) => model[keyOf.get(vn) as string] as tf.Variable);
  const kept: { logits?: tf.Tensor; stats?: Array<{ id: string; mean: tf.Tensor; variance: tf.Tensor }> } = {};
  const { value, grads } = tf.variableGrads(() => {
    const out = trainForward(r, model, x, true);
    kept.logits = tf.keep(tf.argMax(tf.slice(out.logits, [0, 0], [-1, N8]), 1));
    kept.stats = out.stats.map((q) => ({ id: q.id, mean: tf.keep(q.mean), variance: tf.keep(q.variance) }));
    const l8 = tf.slice(out.logits, [0, 0], [-1, N8]);
    const l7 = tf.slice(out.logits, [0, N8], [-1, N7]);
    const ce8 = tf.mul(tf.neg(tf.sum(tf.mul(soft8, tf.logSoftmax(l8)), 1)), mask8);
    const ce7 = tf.neg(tf.sum(tf.mul(t7, tf.logSoftmax(l7)), 1));
    return tf.mean(tf.add(tf.mul(ce8, heads.w8), tf.mul(ce7, heads.aux7))) as tf.Scalar;
  }, trainable);
  try {
    const out: GradResult = { n: batch.n, grads: {}, stats: [], loss: (await value.data())[0], pred8: new Int32Array(await (kept.logits as tf.Tensor).data()) };
    for (const [vn, g] of Object.entries(grads)) out.grads[keyOf.get(vn) as string] = { shape: g.shape.slice(), data: (await g.data()) as Float32Array };
    for (const q of kept.stats ?? []) out.stats.push({ id: q.id, mean: (await q.mean.data()) as Float32Array, variance: (await q.variance.data()) as Float32Array });
    return out;
  } finally {
    tf.dispose([x, soft8, mask8, t7, value, kept.logits as tf.Tensor, ...(kept.stats ?? []).flatMap((q) => [q.mean, q.variance]), ...Object.values(grads)]);
  }
}

/**
 * Sharpness-aware minimisation (Foret et al. 2021, "SAM"): given `first`, the gradient g at the
 * current weights w, moves every trainable parameter to w + rho · g / ‖g‖₂ (one L2 norm over all
 * of them), lets `compute` take the gradient there, and puts the exact old weights back. Returns
 * that second gradient with the loss, predictions and batch-norm statistics of the first pass
 * (the moving statistics follow the unperturbed weights). A zero gradient leaves w unmoved.
 */
export async function samGradients(params: Record<string, tf.Variable>, first: GradResult, rho: number, compute: () => Promise<GradResult>): Promise<GradResult> {
  if (!(rho > 0)) throw new Error(`SAM radius must be > 0 (got ${rho})`);
  let sq = 0;
  for (const g of Object.values(first.grads)) for (const v of g.data) sq += v * v;
  const norm = Math.sqrt(sq);
  if (!Number.isFinite(norm)) throw new Error(`SAM: gradient norm is ${norm}`);
  if (norm === 0) return first;
  const scale = rho / norm;
  const saved: Record<string, tf.Tensor> = {};
  try {
    for (const [n, g] of Object.entries(first.grads)) {
      const v = params[n];
      if (!v) throw new Error(`SAM: no trainable parameter "${n}"`);
      saved[n] = tf.clone(v);
      tf.tidy(() => v.assign(tf.add(v, tf.mul(tf.tensor(g.data, g.shape), scale))));
    }
    const second = await compute();
    return { ...first, grads: second.grads };
  } finally {
    for (const [n, t] of Object.entries(saved)) params[n].assign(t);
    tf.dispose(Object.values(saved));
  }
}

/** Splits a batch into `k` contiguous shards (sizes differ by at most one). */
export function splitBatch(b: BatchArrays, k: number): BatchArrays[] {
  const px = b.pixels.length / b.n;
  const out: BatchArrays[] = [];
  for (let i = 0; i < k; i++) {
    const s = Math.floor((i * b.n) / k);
    const e = Math.floor(((i + 1) * b.n) / k);
    if (e <= s) continue;
    out.push({ n: e - s, pixels: b.pixels.slice(s * px, e * px), soft8: b.soft8.slice(s * N8, e * N8), mask8: b.mask8.slice(s, e), target7: b.target7.slice(s * N7, e * N7), majority8: b.majority8.slice(s, e) });
  }
  return out;
}

/**
 * Combines shard results into the result of the whole batch: size-weighted mean of gradients
 * and losses; BN statistics combined exactly (mean of means; E[variance] + variance of means,
 * weighted by the shards' pixel counts, which are proportional to their sizes).
 */
export function combineGradients(parts: GradResult[]): GradResult {
  if (parts.length === 1) return parts[0];
  const n = parts.reduce((a, p) => a + p.n, 0);
  const w = parts.map((p) => p.n / n);
  const grads: NamedArrays = {};
  for (const name of Object.keys(parts[0].grads)) {
    const d = new Float32Array(parts[0].grads[name].data.length);
    parts.forEach((p, i) => p.grads[name].data.forEach((v, j) => (d[j] += w[i] * v)));
    grads[name] = { shape: parts[0].grads[name].shape, data: d };
  }
  const stats = parts[0].stats.map((st, k) => {
    const mean = new Float32Array(st.mean.length);
    const variance = new Float32Array(st.mean.length);
    parts.forEach((p, i) => p.stats[k].mean.forEach((v, j) => (mean[j] += w[i] * v)));
    parts.forEach((p, i) => p.stats[k].variance.forEach((v, j) => (variance[j] += w[i] * (v + (p.stats[k].mean[j] - mean[j]) ** 2))));
    return { id: st.id, mean, variance };
  });
  const pred8 = new Int32Array(n);
  let off = 0;
  for (const p of parts) {
    pred8.set(p.pred8, off);
    off += p.n;
  }
  return { n, grads, stats, loss: parts.reduce((a, p, i) => a + w[i] * p.loss, 0), pred8 };
}

/** Splits folded 15-output weights into the 8-class and 7-class models. */
export function splitHeads(folded: NamedArrays): { folded8: NamedArrays; folded7: NamedArrays } {
  const k = folded['dense/kernel'];
  const b = folded['dense/bias'];
  const [c, o] = k.shape;
  if (o !== HEAD_OUTPUTS) throw new Error(`splitHeads: dense has ${o} outputs, expected ${HEAD_OUTPUTS}`);
  const cols = (from: number, cnt: number) => {
    const kk = new Float32Array(c * cnt);
    for (let i = 0; i < c; i++) for (let j = 0; j < cnt; j++) kk[i * cnt + j] = k.data[i * o + from + j];
    return { kernel: { shape: [c, cnt], data: kk }, bias: { shape: [cnt], data: b.data.slice(from, from + cnt) } };
  };
  const h8 = cols(0, N8);
  const h7 = cols(N8, N7);
  const trunk: NamedArrays = {};
  for (const [n, a] of Object.entries(folded)) if (!n.startsWith('dense/')) trunk[n] = a;
  return {
    folded8: { ...trunk, 'dense/kernel': h8.kernel, 'dense/bias': h8.bias },
    folded7: { ...trunk, 'dense/kernel': h7.kernel, 'dense/bias': h7.bias },
  };
}

/** Argmax over columns [from, from+count) of each row (optionally skipping some columns). */
export function argmaxRows(rows: Float32Array[], from: number, count: number, skip: number[] = []): number[] {
  return rows.map((row) => {
    let best = -1;
    for (let c = 0; c < count; c++) {
      if (skip.includes(c)) continue;
      if (best < 0 || row[from + c] > row[from + best]) best = c;
    }
    return best;
  });
}

/** Evaluates folded 15-output weights on the clean validation sets. */
export async function evaluateFer(r: ResolvedSpec, folded: NamedArrays, val: FerValSet): Promise<FerEval> {
  const t0 = Date.now();
  // Softmax over all 15 outputs keeps the order within each head, so argmax per head is exact.
  const a = await predictProbabilities(r, folded, val.plus.data, 128);
  const b = await predictProbabilities(r, folded, val.orig.data, 128);
  const seconds = (Date.now() - t0) / 1000;
  const pred8 = argmaxRows(a, 0, N8);
  const pred7 = argmaxRows(b, N8, N7);
  // 8-class head on the 7 original labels: argmax without contempt, mapped by name.
  const contempt = FERPLUS_CLASSES.indexOf('contempt');
  const pred8on7 = argmaxRows(b, 0, N8, [contempt]).map((c) => FER2013_CLASSES.indexOf(FERPLUS_CLASSES[c]));
  const acc = (p: number[], t: number[]) => p.reduce((s, v, i) => s + (v === t[i] ? 1 : 0), 0) / Math.max(1, t.length);
  return {
    ferPlus: computeMetrics(FERPLUS_CLASSES, val.plus.label8, pred8),
    fer2013: computeMetrics(FER2013_CLASSES, val.orig.label7, pred7),
    fer2013From8Accuracy: acc(pred8on7, val.orig.label7),
    seconds,
    imagesPerSec: (val.plus.data.length + val.orig.data.length) / Math.max(seconds, 1e-3),
  };
}

/**
 * Trains (or resumes) on FER samples. Returns when the configured epochs are done, or when
 * `hooks.shouldStop()` / `hooks.maxSteps` stops it (after writing a checkpoint).
 */
export async function trainFer(samples: FerSample[], val: FerValSet | null, cfg: FerTrainConfig, hooks: FerTrainHooks): Promise<FerTrainState> {
  if (samples.length === 0) throw new Error('No training samples');
  // --batch 0 or a fraction would crash in the wasm kernels (or train on overlapping batches).
  checkRunLength(cfg);
  registerWasmGradientKernels();
  const r = resolveSpec(cfg.spec);
  const size = cfg.spec.inputSize;
  for (const s of samples) {
    if (s.data.length !== size * size) throw new Error(`FER sample has ${s.data.length} pixels, expected ${size}x${size}`);
    if (!(s.label7 >= 0 && s.label7 < N7)) throw new Error(`FER sample label7 ${s.label7} outside 0..${N7 - 1}`);
    if (s.soft8 && s.soft8.length !== N8) throw new Error(`FER sample soft target has ${s.soft8.length} values, expected ${N8}`);
    if (s.teacher7 && s.teacher7.length !== N7) throw new Error(`FER sample FER2013 teacher row has ${s.teacher7.length} values, expected ${N7}`);
  }
  if (!(cfg.aux7Weight >= 0 && cfg.ferPlusWeight >= 0 && cfg.aux7Weight + cfg.ferPlusWeight > 0)) throw new Error(`Head loss weights must be >= 0 and not both 0 (FER+ ${cfg.ferPlusWeight}, FER2013 ${cfg.aux7Weight})`);
  if (cfg.teacher7) {
    if (!(cfg.teacher7.alpha >= 0 && cfg.teacher7.alpha <= 1)) throw new Error(`--kd7 must be in [0, 1] (got ${cfg.teacher7.alpha})`);
    if (!samples.some((s) => s.teacher7)) throw new Error(`FER2013 distillation (teacher ${cfg.teacher7.source}) but no sample carries a teacher row`);
  }
  if (cfg.sam !== undefined && !(cfg.sam >= 0 && Number.isFinite(cfg.sam))) throw new Error(`SAM radius (--sam) must be a number >= 0 (got ${cfg.sam})`);
  if (!FER_SELECT.includes(cfg.select)) throw new Error(`select must be one of ${FER_SELECT.join(', ')} (got ${String(cfg.select)})`);
  const key = ferConfigKey(cfg, samples.length);
  const ckptDir = hooks.checkpointDir;

  let init: NamedArrays;
  let resumed = false;
  let state: FerTrainState = { key, epoch: 0, stepInEpoch: 0, globalStep: 0, history: [], best: null, partial: null };
  if (fs.existsSync(path.join(ckptDir, 'model.json'))) {
    // A resume continues from the checkpoint: the init weights (cfg.pretrained) are not re-applied.
    const ck = readModelDir(ckptDir);
    const t = ck.json.training as unknown as FerTrainState | undefined;
    if (t && t.key === key) {
      init = ck.arrays;
      state = t;
      resumed = true;
    } else {
      throw checkpointMismatchError(ckptDir, t?.key, key, FER_KEY_FIELDS);
    }
  } else {
    init = initTrainWeights(r, HEAD_OUTPUTS, cfg.seed);
    if (cfg.pretrained) init = initFromPretrained(init, HEAD_CLASSES, cfg.pretrained).init;
  }

  // Model tensors (parameters + BN moving statistics), then the optimiser state around them.
  const params: Record<string, tf.Variable> = {};
  const moving: Record<string, tf.Variable> = {};
  for (const [n, a] of Object.entries(init)) {
    if (isOptimizerState(n) || n.startsWith('ema/')) continue;
    const target = isMovingStat(n) ? moving : params;
    target[n] = tf.tidy(() => tf.variable(tf.tensor(a.data, a.shape), !isMovingStat(n)));
  }
  const all: TensorMap = { ...params, ...moving };
  const keyOf = variableKeys(params);
  const workers = (hooks.workers ?? 1) > 1 ? await GradientWorkers.start((hooks.workers as number) - 1, cfg.spec, hooks.workerBackend ?? 'wasm') : null;
  const optimizer = createOptimizer(cfg.optimizer ?? 'adamw', params, init, cfg.momentum);
  const ema = new WeightEma(all, init, cfg.emaDecay);

  hooks.onStart?.(state, resumed);
  const heads: HeadWeights = { w8: cfg.ferPlusWeight, aux7: cfg.aux7Weight };
  const improves = (ev: FerEval) => !state.best || selectedAccuracy(cfg.select, { valFerPlus: ev.ferPlus.accuracy, valFer2013: ev.fer2013.accuracy }) > selectedAccuracy(cfg.select, state.best);
  const bs = Math.min(cfg.batchSize, samples.length);
  const stepsPerEpoch = Math.max(1, Math.floor(samples.length / bs));
  const ckptEveryMs = (hooks.checkpointMinutes ?? 10) * 60000;
  const validateEvery = Math.max(1, hooks.validateEvery ?? 1);
  let lastCkpt = Date.now();
  const runStart = Date.now();
  let imagesDone = 0;
  let stepsThisCall = 0;

  const saveCheckpoint = async () => {
    // The EMA shadow only when it is on: with `emaDecay` 0 it never moves from the starting
    // weights, and readers of a checkpoint (trainingFormWeights: --export-init, --init,
    // --selftest-only, fer:soup) take `ema/…` over the trained weights whenever it is there.
    const arrays = { ...(await toArrays(all)), ...(await optimizer.toArrays()), ...(cfg.emaDecay > 0 ? await ema.toArrays() : {}) };
    writeModelDir(ckptDir, { name: 'checkpoint', variant: cfg.variant, classes: HEAD_CLASSES, spec: cfg.spec, folded: false, training: state as unknown as Record<string, unknown> }, arrays);
    lastCkpt = Date.now();
    hooks.onCheckpoint?.(state);
  };

  /** Training-form weights that evaluation and export use (EMA when enabled). */
  const evalWeights = async (): Promise<NamedArrays> => toArrays(cfg.emaDecay > 0 ? ema.shadow : all);

  const foldedEma = async (): Promise<NamedArrays> => {
    const f = foldBatchNorm(r, cfg.emaDecay > 0 ? ema.shadow : all);
    const a = await toArrays(f);
    tf.dispose(Object.values(f));
    return a;
  };

  try {
    while (state.epoch < cfg.epochs) {
      const epoch = state.epoch;
      const order = epochOrder(samples.length, cfg.seed, epoch);
      const part = state.partial ?? { lossSum: 0, correct: 0, seen: 0, seconds: 0 };
      let t0 = Date.now();
      for (let s = state.stepInEpoch; s < stepsPerEpoch; s++) {
        const idx = order.subarray(s * bs, (s + 1) * bs);
        const batch = makeBatch(samples, idx, size, stepRandom(cfg.seed, epoch, s), cfg);
        const lr = lrAt(cfg, state.globalStep, stepsPerEpoch);
        const local = (b: BatchArrays) => batchGradients(r, all, keyOf, b, heads);
        const grad = async () => (workers ? combineGradients(await workers.compute(await toArrays(all), splitBatch(batch, workers.size), heads, local)) : local(batch));
        const g = cfg.sam ? await samGradients(params, await grad(), cfg.sam, grad) : await grad();
        state.globalStep++;
        const gs = state.globalStep;
        const gradT: Record<string, tf.Tensor> = {};
        for (const [n, a] of Object.entries(g.grads)) gradT[n] = tf.tensor(a.data, a.shape);
        optimizer.step(params, gradT, gs, lr, cfg.weightDecay, (n) => n.endsWith('/kernel'));
        tf.dispose(Object.values(gradT));
        tf.tidy(() => {
          for (const st of g.stats) {
            const mm = moving[`${st.id}/moving_mean`];
            const mv = moving[`${st.id}/moving_variance`];
            mm.assign(lerp(mm, tf.tensor1d(st.mean), cfg.bnMomentum, 1 - cfg.bnMomentum));
            mv.assign(lerp(mv, tf.tensor1d(st.variance), cfg.bnMomentum, 1 - cfg.bnMomentum));
          }
        });
        ema.update(all, gs);
        const lossV = [g.loss];
        const predV = g.pred8;
        if (!Number.isFinite(lossV[0])) throw new Error(`Training diverged (loss ${lossV[0]}) at epoch ${epoch + 1}, step ${s + 1}; try a lower --lr`);
        for (let i = 0; i < batch.n; i++) if (batch.majority8[i] >= 0 && predV[i] === batch.majority8[i]) part.correct++;
        part.lossSum += lossV[0] * batch.n;
        part.seen += batch.n;
        imagesDone += batch.n;
        stepsThisCall++;
        state.stepInEpoch = s + 1;
        if (hooks.onProgress) {
          const elapsed = (Date.now() - runStart) / 1000;
          const ips = imagesDone / Math.max(elapsed, 1e-3);
          const left = (cfg.epochs - epoch - 1) * stepsPerEpoch * bs + (stepsPerEpoch - s - 1) * bs;
          hooks.onProgress({ epoch: epoch + 1, epochs: cfg.epochs, step: s + 1, steps: stepsPerEpoch, loss: part.lossSum / part.seen, accuracy: part.correct / part.seen, imagesPerSec: ips, etaSeconds: left / Math.max(ips, 1e-3) });
        }
        // Yield to the event loop once per step: tfjs' data() resolves through microtasks only,
        // so without this, timers and signal handlers (SIGINT/SIGTERM → shouldStop) never run.
        await new Promise<void>((resolve) => setImmediate(resolve));
        const stopNow = (hooks.maxSteps !== undefined && stepsThisCall >= hooks.maxSteps) || (hooks.shouldStop?.() ?? false);
        if (stopNow || (Date.now() - lastCkpt > ckptEveryMs && s + 1 < stepsPerEpoch)) {
          part.seconds += (Date.now() - t0) / 1000;
          t0 = Date.now();
          state.partial = part;
          if (stopNow && val && hooks.validateOnStop) {
            const folded = await foldedEma();
            const ev = await evaluateFer(r, folded, val);
            const at = new Date().toISOString();
            const fracEpoch = Math.round((epoch + (s + 1) / stepsPerEpoch) * 1000) / 1000;
            (state.midEpochEvals ??= []).push({ epoch: fracEpoch, globalStep: state.globalStep, valFerPlus: ev.ferPlus.accuracy, valFer2013: ev.fer2013.accuracy, at });
            const rec: FerEpochRecord = {
              epoch: fracEpoch,
              loss: part.lossSum / Math.max(1, part.seen),
              trainAccuracy8: part.correct / Math.max(1, part.seen),
              lr,
              seconds: Math.round(part.seconds),
              imagesPerSec: part.seen / Math.max(part.seconds, 1e-3),
              valFerPlus: ev.ferPlus.accuracy,
              valFer2013: ev.fer2013.accuracy,
              valFerPlusMacroF1: ev.ferPlus.macroF1,
              valFer2013MacroF1: ev.fer2013.macroF1,
              finishedAt: at,
            };
            const improved = improves(ev);
            if (improved) {
              state.best = { epoch: fracEpoch, valFerPlus: ev.ferPlus.accuracy, valFer2013: ev.fer2013.accuracy };
              await hooks.onBest?.({ ...splitHeads(folded), record: rec, ev, history: state.history, unfolded: await evalWeights() });
            }
            await hooks.onEpoch?.(rec, ev, improved);
          }
          await saveCheckpoint();
          if (stopNow) return state;
        }
      }
      part.seconds += (Date.now() - t0) / 1000;
      const rec: FerEpochRecord = {
        epoch: epoch + 1,
        loss: part.lossSum / Math.max(1, part.seen),
        trainAccuracy8: part.correct / Math.max(1, part.seen),
        lr: lrAt(cfg, state.globalStep - 1, stepsPerEpoch),
        seconds: Math.round(part.seconds),
        imagesPerSec: part.seen / Math.max(part.seconds, 1e-3),
        finishedAt: new Date().toISOString(),
      };
      let ev: FerEval | null = null;
      let improved = false;
      let folded: NamedArrays | null = null;
      if (val && ((epoch + 1) % validateEvery === 0 || epoch + 1 === cfg.epochs)) {
        folded = await foldedEma();
        ev = await evaluateFer(r, folded, val);
        rec.valFerPlus = ev.ferPlus.accuracy;
        rec.valFer2013 = ev.fer2013.accuracy;
        rec.valFerPlusMacroF1 = ev.ferPlus.macroF1;
        rec.valFer2013MacroF1 = ev.fer2013.macroF1;
        improved = improves(ev);
        if (improved) state.best = { epoch: epoch + 1, valFerPlus: ev.ferPlus.accuracy, valFer2013: ev.fer2013.accuracy };
      }
      state.history.push(rec);
      state.epoch = epoch + 1;
      state.stepInEpoch = 0;
      state.partial = null;
      if (improved && folded && ev && hooks.onBest) await hooks.onBest({ ...splitHeads(folded), record: rec, ev, history: state.history, unfolded: await evalWeights() });
      await hooks.onEpoch?.(rec, ev, improved);
      await saveCheckpoint();
      if (hooks.shouldStop?.()) return state;
    }
    return state;
  } finally {
    tf.dispose([...Object.values(params), ...Object.values(moving)]);
    await workers?.terminate();
    optimizer.dispose();
    ema.dispose();
  }
}

/** Training-form 15-output weights (the EMA ones when present) of a FER checkpoint directory. */
export function unfoldedFromCheckpoint(dir: string): { spec: ArchSpec; unfolded: NamedArrays; state: FerTrainState } {
  const ck = readModelDir(dir);
  return { spec: ck.json.spec, unfolded: trainingFormWeights(ck.arrays), state: ck.json.training as unknown as FerTrainState };
}

/**
 * `--export-init <dir>`: a frozen copy of the checkpoint's EMA weights in training form (BN kept,
 * no optimizer state, both heads) for `npm run train -- --init <dir>`: the snapshot the CK+
 * models are fine-tuned from, so that run stays reproducible while FER training goes on.
 */
export function exportPretrained(work: string, dir: string): void {
  const ck = readModelDir(work);
  const state = (ck.json.training ?? {}) as { epoch?: number; history?: unknown[] };
  const hist = state.history ?? [];
  writeModelDir(
    dir,
    {
      name: path.basename(dir),
      variant: ck.json.variant,
      classes: ck.json.classes,
      spec: ck.json.spec,
      folded: false,
      training: { pretrainedFrom: path.relative(process.cwd(), work) || work, epoch: state.epoch, lastEpoch: hist[hist.length - 1] ?? null, exportedAt: new Date().toISOString() },
    },
    trainingFormWeights(ck.arrays),
  );
}

/**
 * Reference outputs (see src/model/selftest.ts) of both heads, computed with the UNFOLDED
 * training-form graph (BN in inference mode) on selfTestInputs(); load() of the exported,
 * BN-folded models must reproduce them.
 */
export async function ferSelfTests(spec: ArchSpec, unfolded: NamedArrays): Promise<{ st8: SelfTest; st7: SelfTest }> {
  const logits = selfTestLogits(spec, unfolded);
  const p8 = tf.tidy(() => tf.softmax(tf.slice(logits, [0, 0], [-1, N8])));
  const p7 = tf.tidy(() => tf.softmax(tf.slice(logits, [0, N8], [-1, N7])));
  const [d8, d7] = [Array.from(await p8.data()), Array.from(await p7.data())];
  const n = logits.shape[0];
  tf.dispose([logits, p8, p7]);
  const note = 'Probabilities of the unfolded training-form graph (BN in inference mode, EMA weights of the exported checkpoint) for selfTestInputs(); load() must reproduce them.';
  return {
    st8: { version: SELFTEST_VERSION, note, classes: FERPLUS_CLASSES, probabilities: selfTestRows(d8, n, N8) },
    st7: { version: SELFTEST_VERSION, note, classes: FER2013_CLASSES, probabilities: selfTestRows(d7, n, N7) },
  };
}

/** Folded 15-output weights (EMA if present) from a FER checkpoint directory. */
export function foldedFromCheckpoint(dir: string): { resolved: ResolvedSpec; folded: NamedArrays; state: FerTrainState } {
  const { spec, unfolded, state } = unfoldedFromCheckpoint(dir);
  const r = resolveSpec(spec);
  return { resolved: r, folded: foldWeightsSync(r, unfolded), state };
}
