/**
 * Training loop for EmotionNet Nano with plain tfjs-core (no tfjs-layers, no tfjs-node):
 * AdamW, linear warm-up + cosine decay, label smoothing, seeded augmentation and shuffling,
 * batch-norm with moving statistics, optionally an exponential moving average (EMA) of the
 * weights that is evaluated and exported instead of the raw ones, a checkpoint after every epoch
 * (resumable), and the final BN-folded inference weights.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { ArchSpec, resolveSpec, ResolvedSpec, weightLayout } from '../model/spec';
import { foldBatchNorm, inferForward, initTrainWeights, mulberry32, TensorMap, trainForward, trainNames } from '../model/graph';
import { isMovingStat, isOptimizerState, NamedArrays, readModelDir, trainingFormWeights, writeModelDir } from '../model/io';
import { augmentInto, AugmentOptions, DEFAULT_AUGMENT } from './augment';
import { Sample } from './data';
import { registerWasmGradientKernels } from './kernels';
import { AdamW, lerp, WeightEma } from './optim';
import { checkpointMismatchError, COMMON_KEY_FIELDS, KeyField } from './config-key';

export interface TrainConfig {
  /** Variant name recorded in the model (`nano-a` | `nano-b`). */
  variant: string;
  spec: ArchSpec;
  classes: string[];
  epochs: number;
  batchSize: number;
  /** Peak learning rate. */
  lr: number;
  /** Decoupled weight decay (AdamW), applied to conv and dense kernels only. */
  weightDecay: number;
  labelSmoothing: number;
  warmupEpochs: number;
  /** Final LR as a fraction of the peak (cosine floor). */
  minLrFraction: number;
  bnMomentum: number;
  /** Weight each sample's loss by N / (K · n_class) (rare classes count as much as common ones). */
  classBalance: boolean;
  /**
   * One random image per `group` (CK+: the near-identical frames of one sequence) per epoch,
   * so an epoch is one pass over the distinct sequences, not over every duplicate frame.
   */
  onePerGroup: boolean;
  seed: number;
  augment: AugmentOptions | null;
  /**
   * Start from pretrained weights instead of a random init (e.g. the in-the-wild FER+ model):
   * every body tensor is copied; the classifier's column of each class is copied from the
   * pretrained class of the same name, other classes start small and random.
   */
  pretrained?: Pretrained | null;
  /**
   * EMA decay per optimizer step (0 or absent = off: the raw weights are evaluated and
   * exported). When on, a shadow copy of the parameters and BN moving statistics follows them
   * after every step (the FER trainer's {@link WeightEma}, warm-up `min(decay, (1+t)/(10+t))`),
   * is kept in the checkpoints (`ema/…`), and is what the result's folded weights hold.
   */
  emaDecay?: number;
}

/** Training-form (unfolded) weights to start from; `source` names them in the run's config. */
export interface Pretrained {
  source: string;
  classes: string[];
  arrays: NamedArrays;
}

/**
 * Reads training-form weights to fine-tune from: a training checkpoint directory (ours or the
 * FER trainer's; their EMA weights are preferred when kept) or a model exported unfolded. BN-folded
 * inference models cannot be fine-tuned (their batch-norm is gone) and give a clear error.
 */
export function loadPretrained(dir: string, spec: ArchSpec): Pretrained {
  if (!fs.existsSync(path.join(dir, 'model.json'))) throw new Error(`No model.json in ${dir} (--init needs a training checkpoint directory)`);
  const ck = readModelDir(dir);
  if (ck.json.folded) throw new Error(`${dir} is a BN-folded inference model; --init needs training-form weights (a checkpoint such as checkpoints/fer-nano-b or checkpoints/pretrained/<name>)`);
  // Strides may differ (e.g. a stride-2 snapshot starting a full-resolution-stem run): the weights
  // keep their names and shapes; anything else is another architecture.
  if (ck.json.spec && weightLayout(ck.json.spec) !== weightLayout(spec)) {
    const hint = ck.json.variant && ck.json.spec.name !== spec.name ? ` (it holds ${ck.json.variant} weights: pass --variant ${ck.json.variant})` : '';
    throw new Error(`${dir} was trained with a different architecture (${ck.json.spec.name ?? 'unknown'}) than ${spec.name}${hint}`);
  }
  return { source: path.basename(path.resolve(dir)), classes: ck.json.classes ?? [], arrays: trainingFormWeights(ck.arrays) };
}

/**
 * Builds the initial weights of a fine-tuning run: `base` (a fresh init for `classes`) with every
 * tensor of `pre` that has the same name and shape, and the classifier columns of the classes
 * both share. Throws if the body does not match (different architecture).
 */
export function initFromPretrained(base: NamedArrays, classes: string[], pre: Pretrained): { init: NamedArrays; copiedClasses: string[] } {
  const init: NamedArrays = {};
  for (const [n, a] of Object.entries(base)) {
    if (n === 'dense/kernel' || n === 'dense/bias') {
      init[n] = { shape: a.shape.slice(), data: Float32Array.from(a.data) };
      continue;
    }
    const p = pre.arrays[n];
    if (!p || p.shape.join('x') !== a.shape.join('x')) {
      throw new Error(`Pretrained weights ${pre.source} do not fit this architecture: ${n} is ${p ? p.shape.join('x') : 'missing'}, expected ${a.shape.join('x')}`);
    }
    init[n] = { shape: a.shape.slice(), data: Float32Array.from(p.data) };
  }
  const pk = pre.arrays['dense/kernel'];
  const pb = pre.arrays['dense/bias'];
  const k = init['dense/kernel'];
  const b = init['dense/bias'];
  const copied: string[] = [];
  if (pk && pb && pk.shape[0] === k.shape[0]) {
    const inCh = k.shape[0];
    const nOut = k.shape[1];
    const pOut = pk.shape[1];
    classes.forEach((c, j) => {
      const src = pre.classes.indexOf(c);
      if (src < 0 || src >= pOut) return;
      for (let i = 0; i < inCh; i++) k.data[i * nOut + j] = pk.data[i * pOut + src];
      b.data[j] = pb.data[src];
      copied.push(c);
    });
  }
  return { init, copiedClasses: copied };
}

export const DEFAULT_TRAIN_CONFIG: Omit<TrainConfig, 'variant' | 'spec' | 'classes'> = {
  epochs: 30,
  batchSize: 16,
  lr: 3e-3,
  weightDecay: 0.02,
  labelSmoothing: 0.1,
  warmupEpochs: 1,
  minLrFraction: 0.02,
  bnMomentum: 0.9,
  classBalance: true,
  onePerGroup: true,
  seed: 1,
  augment: DEFAULT_AUGMENT,
  emaDecay: 0,
};

export interface EpochStats {
  epoch: number;
  loss: number;
  accuracy: number;
  lr: number;
  seconds: number;
  imagesPerSec: number;
}

export interface ProgressInfo {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
  accuracy: number;
  imagesPerSec: number;
  /** Estimated seconds left for the whole run. */
  etaSeconds: number;
}

export interface TrainHooks {
  /**
   * Directory for the per-epoch checkpoint, resumed from when present. A checkpoint written with
   * another configuration or data is refused with an error naming the differing options.
   */
  checkpointDir?: string;
  onProgress?: (p: ProgressInfo) => void;
  onEpoch?: (s: EpochStats) => void;
  /** Stop after this many epochs in this call (tests). */
  maxEpochs?: number;
}

export interface TrainResult {
  history: EpochStats[];
  /** Inference-form (folded) weights: of the EMA shadow when `cfg.emaDecay` > 0, else of the raw weights. */
  folded: NamedArrays;
  /**
   * The same weights before folding (training form: parameters and BN moving statistics, no
   * optimizer state): what a model soup averages (src/train/soup.ts).
   */
  weights: NamedArrays;
  resolved: ResolvedSpec;
  resumedFromEpoch: number;
}

/** Learning rate at a global step: linear warm-up, then cosine decay to lr·minLrFraction. */
export function lrAt(cfg: Pick<TrainConfig, 'lr' | 'epochs' | 'warmupEpochs' | 'minLrFraction'>, step: number, stepsPerEpoch: number): number {
  const total = cfg.epochs * stepsPerEpoch;
  const warm = Math.max(1, Math.round(cfg.warmupEpochs * stepsPerEpoch));
  if (step < warm) return cfg.lr * (0.1 + (0.9 * (step + 1)) / warm);
  const t = Math.min(1, (step - warm) / Math.max(1, total - warm));
  const floor = cfg.lr * cfg.minLrFraction;
  return floor + (cfg.lr - floor) * 0.5 * (1 + Math.cos(Math.PI * t));
}

export async function toArrays(m: Record<string, tf.Tensor>): Promise<NamedArrays> {
  const out: NamedArrays = {};
  for (const [k, t] of Object.entries(m)) out[k] = { shape: t.shape.slice(), data: (await t.data()) as Float32Array };
  return out;
}

/** BN-folded inference weights of training-form arrays (the same folding trainModel applies to its result). */
export async function foldWeights(r: ResolvedSpec, weights: NamedArrays): Promise<NamedArrays> {
  return foldWeightsSync(r, weights);
}

/** {@link foldWeights} for synchronous callers (the weights are read back with dataSync). */
export function foldWeightsSync(r: ResolvedSpec, weights: NamedArrays): NamedArrays {
  const w: TensorMap = {};
  for (const [n, a] of Object.entries(weights)) w[n] = tf.tensor(a.data, a.shape);
  try {
    const foldedT = foldBatchNorm(r, w);
    const folded: NamedArrays = {};
    for (const [n, t] of Object.entries(foldedT)) folded[n] = { shape: t.shape.slice(), data: t.dataSync() as Float32Array };
    tf.dispose(Object.values(foldedT));
    return folded;
  } finally {
    tf.dispose(Object.values(w));
  }
}

/**
 * The checkpoint compatibility key (a checkpoint is resumed only when it matches). Options added
 * later enter it only when they differ from their default (EMA off), so older checkpoints keep
 * resuming.
 */
export function configKey(cfg: TrainConfig, n: number): string {
  const key: Record<string, unknown> = { v: cfg.variant, s: cfg.spec, c: cfg.classes, e: cfg.epochs, b: cfg.batchSize, lr: cfg.lr, wd: cfg.weightDecay, ls: cfg.labelSmoothing, cb: cfg.classBalance, g: cfg.onePerGroup, seed: cfg.seed, a: cfg.augment, n };
  if (cfg.pretrained) key.pre = cfg.pretrained.source;
  if (emaDecayOf(cfg) > 0) key.ema = emaDecayOf(cfg);
  return JSON.stringify(key);
}

/**
 * Fingerprint of the training images (pixels, labels and grouping, in order): recorded in every
 * checkpoint beside the config key, so that a checkpoint is not resumed (or, when finished,
 * re-exported) for other images of the same count, e.g. after relabelling or replacing files.
 * A separate field, not part of the key: checkpoints written before it existed keep resuming.
 */
export function dataFingerprint(samples: Sample[]): string {
  const h = crypto.createHash('sha256');
  for (const s of samples) {
    h.update(`${s.label}|${s.group ?? ''}|${s.data.length}|`);
    h.update(s.data);
  }
  return h.digest('hex').slice(0, 16);
}

/** The EMA decay of a config (absent = 0 = off); throws unless 0 ≤ decay < 1. */
export function emaDecayOf(cfg: Pick<TrainConfig, 'emaDecay'>): number {
  const d = cfg.emaDecay ?? 0;
  if (!(d >= 0 && d < 1)) throw new Error(`EMA decay must be >= 0 and < 1 (0 = off), got ${String(cfg.emaDecay)}`);
  return d;
}

/**
 * tfjs-core ships its gradient definitions only as ES modules with extensionless imports, which
 * plain Node cannot load from compiled CommonJS; tsx can. So training runs from the TypeScript
 * sources through tsx (`npm run train` does), and this says so clearly otherwise.
 */
export function ensureGradients(): void {
  if (tf.getGradient('Conv2D')) return;
  try {
    require('@tensorflow/tfjs-core/dist/register_all_gradients');
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    throw new Error(`Training needs tfjs-core's gradient definitions, which only load through tsx: run \`npm run train\` or \`node --import tsx src/cli/train.ts\` (${why})`);
  }
}

/** Names of the config-key fields of {@link configKey} (for messages naming differing options). */
export const CK_KEY_FIELDS: Record<string, KeyField> = {
  ...COMMON_KEY_FIELDS,
  c: { option: 'classes' },
  e: { option: '--epochs' },
  cb: { option: 'class balance' },
  g: { option: 'one frame per sequence' },
};

/**
 * `--epochs` and `--batch` must be integers >= 1: 0 or a fraction would train nothing (or crash in
 * the wasm kernels, batch 0). Checked by {@link trainModel} before any work, and by the CLI before
 * it reads the data.
 */
export function checkRunLength(cfg: Pick<TrainConfig, 'epochs' | 'batchSize'>): void {
  for (const [option, v] of [['--epochs', cfg.epochs], ['--batch', cfg.batchSize]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${option} must be an integer >= 1, got ${String(v)}`);
  }
}

/**
 * Trains on `samples` (48x48 gray, labels index `cfg.classes`). Works on any backend; on wasm
 * it registers the gradient kernels wasm lacks. Seeded: same data + config → same weights.
 */
export async function trainModel(samples: Sample[], cfg: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  if (samples.length === 0) throw new Error('No training samples');
  checkRunLength(cfg);
  ensureGradients();
  registerWasmGradientKernels();
  const r = resolveSpec(cfg.spec);
  const size = cfg.spec.inputSize;
  const nc = cfg.classes.length;
  for (const s of samples) {
    if (s.data.length !== size * size) throw new Error(`Sample ${s.file} has ${s.data.length} pixels, expected ${size}x${size}`);
    if (s.label < 0 || s.label >= nc) throw new Error(`Sample ${s.file} has label ${s.label} outside 0..${nc - 1}`);
  }
  // A classifier needs at least two classes with samples (else tf fails later in oneHot).
  const perClass = cfg.classes.map((c, i) => ({ c, n: samples.filter((s) => s.label === i).length }));
  if (perClass.filter((x) => x.n > 0).length < 2) {
    throw new Error(
      `Training needs samples of at least two classes; got ${perClass.map((x) => `${x.c} (${x.n})`).join(', ')}` +
        (nc < 2 ? ` (cfg.classes has ${nc} class${nc === 1 ? '' : 'es'})` : ''),
    );
  }
  const key = configKey(cfg, samples.length);
  const data = dataFingerprint(samples);
  const emaDecay = emaDecayOf(cfg);
  // Groups of near-identical images (sampled one per epoch when cfg.onePerGroup).
  const groupMap = new Map<string, number[]>();
  samples.forEach((s, i) => {
    const g = cfg.onePerGroup ? (s.group ?? `#${i}`) : `#${i}`;
    const l = groupMap.get(g) ?? [];
    l.push(i);
    groupMap.set(g, l);
  });
  const groups = [...groupMap.values()];
  const counts = new Array<number>(nc).fill(0);
  for (const g of groups) counts[samples[g[0]].label]++;
  const classWeight = counts.map((n) => (cfg.classBalance && n > 0 ? groups.length / (nc * n) : 1));

  // ---- state: parameters, BN moving stats, AdamW moments, EMA shadow ----
  let init: NamedArrays = initTrainWeights(r, nc, cfg.seed);
  if (cfg.pretrained) init = initFromPretrained(init, cfg.classes, cfg.pretrained).init;
  let startEpoch = 0;
  let step = 0;
  let history: EpochStats[] = [];
  const ckptDir = hooks.checkpointDir;
  if (ckptDir && fs.existsSync(path.join(ckptDir, 'model.json'))) {
    const ck = readModelDir(ckptDir);
    const t = ck.json.training as { key?: string; data?: string; epoch?: number; step?: number; history?: EpochStats[] } | undefined;
    if (!(t && t.key === key && typeof t.epoch === 'number')) throw checkpointMismatchError(ckptDir, t?.key, key, CK_KEY_FIELDS);
    if (t.data !== undefined && t.data !== data) {
      throw new Error(
        `Checkpoint in ${ckptDir} was written with other training images (the same options and number of images, but other pixels, labels or files); ` +
          'move it away or pass a new --work directory to train on these images',
      );
    }
    init = ck.arrays;
    startEpoch = t.epoch;
    step = t.step ?? 0;
    history = t.history ?? [];
  }
  const params: Record<string, tf.Variable> = {};
  const moving: Record<string, tf.Variable> = {};
  const decays = (n: string) => n.endsWith('/kernel');
  for (const [n, a] of Object.entries(init)) {
    if (isOptimizerState(n) || n.startsWith('ema/')) continue;
    const t = tf.tensor(a.data, a.shape);
    if (isMovingStat(n)) moving[n] = tf.variable(t, false);
    else params[n] = tf.variable(t, true);
    t.dispose();
  }
  // AdamW moments restored from `adam/m|v/…` on resume, else zeros (the FER trainer's optimiser class).
  const optimizer = new AdamW(params, init);
  const all: TensorMap = { ...params, ...moving };
  const trainable = Object.values(params);
  // Like the FER trainer: the shadow averages parameters and BN moving statistics alike
  // (restored from `ema/…` on resume, else a copy of the starting weights).
  const ema = emaDecay > 0 ? new WeightEma(all, init, emaDecay) : null;

  const bs = Math.min(cfg.batchSize, groups.length);
  const stepsPerEpoch = Math.max(1, Math.floor(groups.length / bs));
  const lastEpoch = Math.min(cfg.epochs, hooks.maxEpochs !== undefined ? startEpoch + hooks.maxEpochs : cfg.epochs);
  const runStart = Date.now();
  let imagesDone = 0;
  const batchPixels = new Float32Array(bs * size * size);

  try {
    for (let epoch = startEpoch; epoch < lastEpoch; epoch++) {
      const t0 = Date.now();
      const rand = mulberry32((cfg.seed * 100003 + epoch * 7919) >>> 0);
      const order = groups.map((g) => (g.length === 1 ? g[0] : g[Math.floor(rand() * g.length)]));
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      for (let s = 0; s < stepsPerEpoch; s++) {
        const idx = order.slice(s * bs, (s + 1) * bs);
        const labels = new Int32Array(idx.length);
        idx.forEach((k, b) => {
          const smp = samples[k];
          labels[b] = smp.label;
          if (cfg.augment) augmentInto(smp.data, size, batchPixels, b * size * size, rand, cfg.augment);
          else for (let p = 0; p < size * size; p++) batchPixels[b * size * size + p] = smp.data[p];
        });
        const lr = lrAt(cfg, step, stepsPerEpoch);
        const x = tf.tensor4d(batchPixels, [idx.length, size, size, 1]);
        const y = tf.tidy(() => {
          const oh = tf.oneHot(tf.tensor1d(labels, 'int32'), nc);
          return tf.add(tf.mul(oh, 1 - cfg.labelSmoothing), cfg.labelSmoothing / nc);
        });
        const sw = tf.tensor1d(Array.from(labels, (l) => classWeight[l]));
        type Kept = { logits: tf.Tensor; stats: Array<{ id: string; mean: tf.Tensor; variance: tf.Tensor }> };
        const holder: { kept?: Kept } = {};
        const { value, grads } = tf.variableGrads(() => {
          const out = trainForward(r, all, x, true);
          holder.kept = { logits: tf.keep(out.logits), stats: out.stats.map((q) => ({ id: q.id, mean: tf.keep(q.mean), variance: tf.keep(q.variance) })) };
          return tf.losses.softmaxCrossEntropy(y, out.logits, sw, 0, tf.Reduction.MEAN) as tf.Scalar;
        }, trainable);
        const k = holder.kept as Kept;
        step++;
        // variableGrads keys the gradients by the variables' own (generated) names
        optimizer.step(params, Object.fromEntries(Object.entries(params).map(([n, p]) => [n, grads[p.name]])), step, lr, cfg.weightDecay, decays);
        tf.tidy(() => {
          for (const st of k.stats) {
            const nm = { mean: `${st.id}/moving_mean`, variance: `${st.id}/moving_variance` };
            moving[nm.mean].assign(lerp(moving[nm.mean], st.mean, cfg.bnMomentum, 1 - cfg.bnMomentum));
            moving[nm.variance].assign(lerp(moving[nm.variance], st.variance, cfg.bnMomentum, 1 - cfg.bnMomentum));
          }
        });
        ema?.update(all, step);
        const pred = tf.argMax(k.logits, 1);
        const [lossV, predV] = await Promise.all([value.data(), pred.data()]);
        for (let b = 0; b < labels.length; b++) if (predV[b] === labels[b]) correct++;
        lossSum += lossV[0] * labels.length;
        seen += labels.length;
        imagesDone += labels.length;
        tf.dispose([x, y, sw, value, pred, k.logits, ...k.stats.flatMap((q) => [q.mean, q.variance]), ...Object.values(grads)]);
        if (!Number.isFinite(lossV[0])) throw new Error(`Training diverged (loss ${lossV[0]}) at epoch ${epoch + 1}, step ${s + 1}; try a lower --lr`);
        if (hooks.onProgress) {
          const elapsed = (Date.now() - runStart) / 1000;
          const ips = imagesDone / Math.max(elapsed, 1e-3);
          const left = (lastEpoch - epoch - 1) * stepsPerEpoch * bs + (stepsPerEpoch - s - 1) * bs;
          hooks.onProgress({ epoch: epoch + 1, epochs: cfg.epochs, step: s + 1, steps: stepsPerEpoch, loss: lossSum / seen, accuracy: correct / seen, imagesPerSec: ips, etaSeconds: left / Math.max(ips, 1e-3) });
        }
      }
      const seconds = (Date.now() - t0) / 1000;
      const st: EpochStats = { epoch: epoch + 1, loss: lossSum / seen, accuracy: correct / seen, lr: lrAt(cfg, step - 1, stepsPerEpoch), seconds, imagesPerSec: seen / seconds };
      history.push(st);
      hooks.onEpoch?.(st);
      if (ckptDir) {
        const arrays = { ...(await toArrays(all)), ...(await optimizer.toArrays()) };
        if (ema) Object.assign(arrays, await ema.toArrays());
        writeModelDir(ckptDir, { name: 'checkpoint', variant: cfg.variant, classes: cfg.classes, spec: cfg.spec, folded: false, training: { key, data, epoch: epoch + 1, step, history } }, arrays);
      }
    }
    const weights = await toArrays(ema ? ema.shadow : all);
    return { history, folded: await foldWeights(r, weights), weights, resolved: r, resumedFromEpoch: startEpoch };
  } finally {
    tf.dispose([...Object.values(params), ...Object.values(moving)]);
    optimizer.dispose();
    ema?.dispose();
  }
}

/** Class probabilities of folded weights on samples (batched), as rows of a Float32Array. */
export async function predictProbabilities(r: ResolvedSpec, folded: NamedArrays, images: Uint8Array[], batch = 64): Promise<Float32Array[]> {
  const w: TensorMap = {};
  for (const [n, a] of Object.entries(folded)) w[n] = tf.tensor(a.data, a.shape);
  const size = r.spec.inputSize;
  const out: Float32Array[] = [];
  try {
    for (let i = 0; i < images.length; i += batch) {
      const chunk = images.slice(i, i + batch);
      const px = new Float32Array(chunk.length * size * size);
      chunk.forEach((d, b) => px.set(d, b * size * size));
      const x = tf.tensor4d(px, [chunk.length, size, size, 1]);
      const p = tf.tidy(() => tf.softmax(inferForward(r, w, x)));
      const data = (await p.data()) as Float32Array;
      tf.dispose([x, p]);
      const nc = data.length / chunk.length;
      for (let b = 0; b < chunk.length; b++) out.push(data.slice(b * nc, (b + 1) * nc));
    }
  } finally {
    tf.dispose(Object.values(w));
  }
  return out;
}

export { trainNames, trainingFormWeights };
