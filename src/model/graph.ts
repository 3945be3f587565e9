/**
 * The forward pass of an {@link ArchSpec}, in two forms built from the same node list:
 * - `trainForward`: conv (no bias) → batch-norm with batch statistics → ReLU (proj: no ReLU);
 * - `inferForward`: fused conv + bias (+ ReLU), batch-norm already folded into the weights.
 * Both start with {@link normalizePixels}, so training and inference see identical inputs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ResolvedNode, ResolvedSpec } from './spec';
import { batchNormTrain, fusedBatchNormAvailable } from './fused-bn';

export const BN_EPSILON = 1e-3;
/** Floor of the per-image standard deviation (pixel scale 0..1), so flat images do not explode. */
export const PIXEL_STD_FLOOR = 1 / 64;

/**
 * Per-image standardisation of a [N, H, W, 1] batch of 0..255 pixels: x/255, minus the image's
 * mean, divided by max(image std, 1/64).
 */
export function normalizePixels(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const s = tf.div(x, 255);
    const { mean, variance } = tf.moments(s, [1, 2, 3], true);
    const std = tf.maximum(tf.sqrt(variance), PIXEL_STD_FLOOR);
    return tf.div(tf.sub(s, mean), std) as tf.Tensor4D;
  });
}

/**
 * The same standardisation as {@link normalizePixels}, in plain JS, in place on one image of
 * `n` pixels at `offset` (0..255 in, standardised out). Used to pack inference batches: ~10 fewer
 * kernel launches per call, which is most of a single face's overhead on wasm.
 */
export function normalizeInPlace(buf: Float32Array, offset: number, n: number): void {
  let sum = 0;
  for (let i = offset; i < offset + n; i++) sum += buf[i];
  const mean = sum / n / 255;
  let ss = 0;
  for (let i = offset; i < offset + n; i++) {
    const d = buf[i] / 255 - mean;
    ss += d * d;
  }
  const std = Math.max(Math.sqrt(ss / n), PIXEL_STD_FLOOR);
  for (let i = offset; i < offset + n; i++) buf[i] = (buf[i] / 255 - mean) / std;
}

function mergeInputs(ids: string[], acts: Map<string, tf.Tensor4D>, op: 'add' | 'concat'): tf.Tensor4D {
  const ts = ids.map((id) => acts.get(id) as tf.Tensor4D);
  if (ts.length === 1) return ts[0];
  return op === 'add' ? (tf.addN(ts) as tf.Tensor4D) : tf.concat(ts, 3);
}

/** Names of the trainable tensors of a node in training form. */
export const trainNames = (n: ResolvedNode) => ({
  kernel: `${n.id}/kernel`,
  gamma: `${n.id}/gamma`,
  beta: `${n.id}/beta`,
  mean: `${n.id}/moving_mean`,
  variance: `${n.id}/moving_variance`,
});

export type TensorMap = Record<string, tf.Tensor>;

export interface TrainForwardResult {
  logits: tf.Tensor2D;
  /** Batch mean and variance of every node (for the moving averages), in node order. */
  stats: Array<{ id: string; mean: tf.Tensor1D; variance: tf.Tensor1D }>;
}

/** Training-form forward pass (batch statistics). Call inside tf.tidy/variableGrads. */
export function trainForward(r: ResolvedSpec, w: TensorMap, images: tf.Tensor4D, training: boolean): TrainForwardResult {
  const acts = new Map<string, tf.Tensor4D>();
  acts.set('input', normalizePixels(images));
  const stats: TrainForwardResult['stats'] = [];
  // One fused kernel per batch-norm (+ReLU) where the backend has it (cpu, wasm; see fused-bn).
  const fused = training && fusedBatchNormAvailable();
  for (const n of r.nodes) {
    const nm = trainNames(n);
    const x = mergeInputs(n.inputs, acts, r.spec.merge);
    const y = tf.conv2d(x, w[nm.kernel] as tf.Tensor4D, n.stride, 'same');
    if (training && fused) {
      const bn = batchNormTrain(y, w[nm.gamma] as tf.Tensor1D, w[nm.beta] as tf.Tensor1D, n.kind === 'conv', BN_EPSILON);
      stats.push({ id: n.id, mean: bn.mean, variance: bn.variance });
      acts.set(n.id, bn.out);
      continue;
    }
    let mean: tf.Tensor1D;
    let variance: tf.Tensor1D;
    if (training) {
      const m = tf.moments(y, [0, 1, 2]);
      mean = m.mean as tf.Tensor1D;
      variance = m.variance as tf.Tensor1D;
      stats.push({ id: n.id, mean, variance });
    } else {
      mean = w[nm.mean] as tf.Tensor1D;
      variance = w[nm.variance] as tf.Tensor1D;
    }
    const scale = tf.mul(w[nm.gamma], tf.rsqrt(tf.add(variance, BN_EPSILON)));
    const shift = tf.sub(w[nm.beta], tf.mul(mean, scale));
    const bn = tf.add(tf.mul(y, scale), shift) as tf.Tensor4D;
    acts.set(n.id, n.kind === 'conv' ? tf.relu(bn) : bn);
  }
  const h = mergeInputs(r.spec.head, acts, r.spec.merge);
  const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D;
  const logits = tf.add(tf.matMul(pooled, w['dense/kernel'] as tf.Tensor2D), w['dense/bias']) as tf.Tensor2D;
  return { logits, stats };
}

/**
 * Inference-form forward pass (folded weights: `<id>/kernel`, `<id>/bias`). Returns logits.
 * `prenormalized`: the images were already standardised with {@link normalizeInPlace}.
 */
export function inferForward(r: ResolvedSpec, w: TensorMap, images: tf.Tensor4D, prenormalized = false): tf.Tensor2D {
  return tf.tidy(() => {
    const acts = new Map<string, tf.Tensor4D>();
    acts.set('input', prenormalized ? images : normalizePixels(images));
    for (const n of r.nodes) {
      const x = mergeInputs(n.inputs, acts, r.spec.merge);
      const y = tf.fused.conv2d({
        x,
        filter: w[`${n.id}/kernel`] as tf.Tensor4D,
        strides: n.stride,
        pad: 'same',
        bias: w[`${n.id}/bias`],
        activation: n.kind === 'conv' ? 'relu' : 'linear',
      });
      acts.set(n.id, y);
    }
    const h = mergeInputs(r.spec.head, acts, r.spec.merge);
    const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D;
    return tf.fused.matMul({ a: pooled, b: w['dense/kernel'] as tf.Tensor2D, bias: w['dense/bias'] }) as tf.Tensor2D;
  });
}

/**
 * Folds batch-norm into the convolutions: kernel' = kernel·γ/√(σ²+ε), bias' = β − μ·γ/√(σ²+ε).
 * Input: training-form tensors (not disposed). Output: new tensors in inference form.
 */
export function foldBatchNorm(r: ResolvedSpec, w: TensorMap): TensorMap {
  const out: TensorMap = {};
  for (const n of r.nodes) {
    const nm = trainNames(n);
    const [k, b] = tf.tidy(() => {
      const scale = tf.mul(w[nm.gamma], tf.rsqrt(tf.add(w[nm.variance], BN_EPSILON)));
      const kernel = tf.mul(w[nm.kernel], scale); // broadcasts over the last (output) axis
      const bias = tf.sub(w[nm.beta], tf.mul(w[nm.mean], scale));
      return [kernel, bias];
    });
    out[`${n.id}/kernel`] = k;
    out[`${n.id}/bias`] = b;
  }
  out['dense/kernel'] = tf.clone(w['dense/kernel']);
  out['dense/bias'] = tf.clone(w['dense/bias']);
  return out;
}

/** Deterministic PRNG (mulberry32) for weight init, shuffling and augmentation. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 0..n-1 in a random order (Fisher–Yates, drawing from `rand` from the last position down). */
export function randomPermutation(n: number, rand: () => number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/** Standard normal draw (Box–Muller). */
export function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** Training-form initial values (He-normal kernels, γ=1, β=0, dense Glorot), seeded, as Float32Arrays. */
export function initTrainWeights(r: ResolvedSpec, numClasses: number, seed: number): Record<string, { shape: number[]; data: Float32Array }> {
  const rand = mulberry32(seed);
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  const normal = (shape: number[], std: number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = gaussian(rand) * std;
    return { shape, data: d };
  };
  const fill = (shape: number[], v: number) => ({ shape, data: new Float32Array(shape[0]).fill(v) });
  for (const n of r.nodes) {
    const nm = trainNames(n);
    const fanIn = n.kernel * n.kernel * n.inChannels;
    out[nm.kernel] = normal([n.kernel, n.kernel, n.inChannels, n.outChannels], Math.sqrt(2 / fanIn));
    out[nm.gamma] = fill([n.outChannels], 1);
    out[nm.beta] = fill([n.outChannels], 0);
    out[nm.mean] = fill([n.outChannels], 0);
    out[nm.variance] = fill([n.outChannels], 1);
  }
  // Small classifier init: the head sums several BN+ReLU maps, so Glorot-sized weights would
  // start with large logits (initial loss ~3.4 instead of ln K) and waste the first epochs.
  out['dense/kernel'] = normal([r.headChannels, numClasses], 0.01);
  out['dense/bias'] = fill([numClasses], 0);
  return out;
}
