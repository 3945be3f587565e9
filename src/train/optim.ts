/**
 * Optimiser state as small objects that can be saved in a checkpoint and restored:
 * {@link AdamW} (decoupled weight decay on the tensors `decays(name)` selects),
 * {@link SgdMomentum} (SGD with Nesterov or heavy-ball momentum, L2 weight decay) and
 * {@link WeightEma} (exponential moving average of weights, with the usual warm-up
 * `min(decay, (1+t)/(10+t))`). Each keeps its tensors as tf.Variables named like the
 * parameters, and serialises them under a prefix (`adam/m/`, `adam/v/`, `sgd/m/`, `ema/`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { NamedArrays } from '../model/io';
import { runOnArrays } from '../model/wasm-simd';

export const ADAMW_KERNEL = 'EmotionNetAdamW';
export const LERP_KERNEL = 'EmotionNetLerp';

export interface AdamWHyper {
  beta1: number;
  beta2: number;
  eps: number;
  /** Bias corrections 1 − β₁ᵗ and 1 − β₂ᵗ. */
  c1: number;
  c2: number;
  lr: number;
  /** Decoupled weight decay of this tensor (0 = none). */
  wd: number;
}

/**
 * One AdamW update of one tensor in one pass (the op form takes ~12 kernels per tensor):
 * m' = β₁m + (1−β₁)g, v' = β₂v + (1−β₂)g², p' = p − lr·((m'/c1)/(√(v'/c2) + ε) + wd·p).
 * Same maths as {@link AdamW.step}'s op form, up to float rounding (computed in float64, stored
 * as float32; m' and v' are used as stored).
 */
export function adamwArrays(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, po: Float32Array, mo: Float32Array, vo: Float32Array, h: AdamWHyper): void {
  const { beta1, beta2, eps, c1, c2, lr, wd } = h;
  const a1 = 1 - beta1;
  const a2 = 1 - beta2;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i];
    mo[i] = m[i] * beta1 + gi * a1;
    vo[i] = v[i] * beta2 + gi * gi * a2;
    const dir = mo[i] / c1 / (Math.sqrt(vo[i] / c2) + eps);
    po[i] = p[i] - (dir + wd * p[i]) * lr;
  }
}

let kernelsRegistered = false;

/** Registers the one-pass AdamW and lerp kernels on the cpu and wasm backends (idempotent). */
export function registerOptimizerKernels(): void {
  if (kernelsRegistered) return;
  for (const backendName of ['wasm', 'cpu']) {
    if (!tf.getKernel(ADAMW_KERNEL, backendName)) {
      tf.registerKernel({
        kernelName: ADAMW_KERNEL,
        backendName,
        kernelFunc: ({ inputs, attrs, backend }) => {
          const { p, g, m, v } = inputs as unknown as Record<string, tf.TensorInfo>;
          return runOnArrays(backend, [p, g, m, v], [p.shape, p.shape, p.shape], ([pa, ga, ma, va], [po, mo, vo]) => adamwArrays(pa, ga, ma, va, po, mo, vo, attrs as unknown as AdamWHyper), ADAMW_KERNEL);
        },
      });
    }
    if (!tf.getKernel(LERP_KERNEL, backendName)) {
      tf.registerKernel({
        kernelName: LERP_KERNEL,
        backendName,
        kernelFunc: ({ inputs, attrs, backend }) => {
          const { a, b } = inputs as unknown as Record<string, tf.TensorInfo>;
          const { wa, wb } = attrs as unknown as { wa: number; wb: number };
          return runOnArrays(backend, [a, b], [a.shape], ([x, y], [o]) => {
            for (let i = 0; i < x.length; i++) o[i] = x[i] * wa + y[i] * wb;
          }, LERP_KERNEL)[0];
        },
      });
    }
  }
  kernelsRegistered = true;
}

const fastOptim = () => process.env.EMOTIONNET_FUSED_OPTIM !== '0' && tf.getKernel(ADAMW_KERNEL, tf.getBackend()) !== undefined;

/**
 * AdamW update of one parameter and its moments (variables, assigned in place). One kernel
 * where registered (cpu, wasm), else the op form. Call inside tf.tidy.
 */
export function adamwUpdate(p: tf.Variable, g: tf.Tensor, m: tf.Variable, v: tf.Variable, h: AdamWHyper): void {
  if (fastOptim() && p.dtype === 'float32' && g.dtype === 'float32') {
    const [p1, m1, v1] = tf.engine().runKernel(ADAMW_KERNEL, { p, g, m, v } as unknown as tf.NamedTensorMap, h as unknown as tf.NamedAttrMap) as tf.Tensor[];
    m.assign(m1);
    v.assign(v1);
    p.assign(p1);
    return;
  }
  const m1 = tf.add(tf.mul(m, h.beta1), tf.mul(g, 1 - h.beta1));
  const v1 = tf.add(tf.mul(v, h.beta2), tf.mul(tf.square(g), 1 - h.beta2));
  m.assign(m1);
  v.assign(v1);
  const dir = tf.div(tf.div(m1, h.c1), tf.add(tf.sqrt(tf.div(v1, h.c2)), h.eps));
  const full = h.wd > 0 ? tf.add(dir, tf.mul(p, h.wd)) : dir;
  p.assign(tf.sub(p, tf.mul(full, h.lr)));
}

/** a·wa + b·wb in one kernel where registered (moving averages), else the op form. */
export function lerp(a: tf.Tensor, b: tf.Tensor, wa: number, wb: number): tf.Tensor {
  if (fastOptim() && a.dtype === 'float32' && b.dtype === 'float32' && a.size === b.size) {
    return tf.engine().runKernel(LERP_KERNEL, { a, b } as unknown as tf.NamedTensorMap, { wa, wb } as unknown as tf.NamedAttrMap) as tf.Tensor;
  }
  return tf.add(tf.mul(a, wa), tf.mul(b, wb));
}

function variablesFrom(names: Array<[string, tf.Tensor]>, saved: NamedArrays, prefix: string): Record<string, tf.Variable> {
  const out: Record<string, tf.Variable> = {};
  for (const [n, like] of names) {
    const a = saved[prefix + n];
    if (a && a.shape.join('x') !== like.shape.join('x')) throw new Error(`Checkpoint tensor ${prefix + n} has shape ${a.shape.join('x')}, expected ${like.shape.join('x')}`);
    // In tidy: the initial value is released once the variable holds its data.
    out[n] = tf.tidy(() => tf.variable(a ? tf.tensor(a.data, a.shape) : tf.zerosLike(like), false));
  }
  return out;
}

async function save(vars: Record<string, tf.Variable>, prefix: string): Promise<NamedArrays> {
  const out: NamedArrays = {};
  for (const [n, v] of Object.entries(vars)) out[prefix + n] = { shape: v.shape.slice(), data: (await v.data()) as Float32Array };
  return out;
}

/** What the trainers need of an optimiser: one update per step, state to save, disposal. */
export interface Optimizer {
  /** One update of every parameter (`t`: 1-based global step; grads keyed like `params`). */
  step(params: Record<string, tf.Variable>, grads: Record<string, tf.Tensor>, t: number, lr: number, weightDecay: number, decays: (name: string) => boolean): void;
  toArrays(): Promise<NamedArrays>;
  dispose(): void;
}

export const OPTIMIZERS = ['adamw', 'sgd'] as const;
/** SGD momentum when none is given (`--momentum`). */
export const DEFAULT_SGD_MOMENTUM = 0.9;
export type OptimizerName = (typeof OPTIMIZERS)[number];

export class AdamW implements Optimizer {
  readonly m: Record<string, tf.Variable>;
  readonly v: Record<string, tf.Variable>;

  constructor(
    params: Record<string, tf.Tensor>,
    saved: NamedArrays = {},
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly eps = 1e-7,
  ) {
    this.m = variablesFrom(Object.entries(params), saved, 'adam/m/');
    this.v = variablesFrom(Object.entries(params), saved, 'adam/v/');
  }

  /**
   * One update of every parameter; `t` is the 1-based global step (bias correction).
   * grads are keyed like `params`.
   */
  step(params: Record<string, tf.Variable>, grads: Record<string, tf.Tensor>, t: number, lr: number, weightDecay: number, decays: (name: string) => boolean): void {
    const c1 = 1 - Math.pow(this.beta1, t);
    const c2 = 1 - Math.pow(this.beta2, t);
    tf.tidy(() => {
      for (const [n, p] of Object.entries(params)) {
        const g = grads[n];
        if (!g) throw new Error(`AdamW: no gradient for ${n}`);
        adamwUpdate(p, g, this.m[n], this.v[n], { beta1: this.beta1, beta2: this.beta2, eps: this.eps, c1, c2, lr, wd: weightDecay > 0 && decays(n) ? weightDecay : 0 });
      }
    });
  }

  async toArrays(): Promise<NamedArrays> {
    return { ...(await save(this.m, 'adam/m/')), ...(await save(this.v, 'adam/v/')) };
  }

  dispose(): void {
    tf.dispose([...Object.values(this.m), ...Object.values(this.v)]);
  }
}

/**
 * SGD with momentum, as in PyTorch's `SGD(momentum, nesterov)` without dampening:
 * g' = g + wd·p (classic L2 decay, on the tensors `decays(name)` selects), b' = μ·b + g',
 * p' = p − lr·(g' + μ·b') with Nesterov momentum, p − lr·b' without. The momentum buffers are
 * saved as `sgd/m/<name>`, so a run resumes exactly.
 */
export class SgdMomentum implements Optimizer {
  readonly buf: Record<string, tf.Variable>;

  constructor(
    params: Record<string, tf.Tensor>,
    saved: NamedArrays = {},
    readonly momentum = DEFAULT_SGD_MOMENTUM,
    readonly nesterov = true,
  ) {
    if (!(momentum >= 0 && momentum < 1)) throw new Error(`SGD momentum must be in [0, 1) (got ${momentum})`);
    this.buf = variablesFrom(Object.entries(params), saved, 'sgd/m/');
  }

  step(params: Record<string, tf.Variable>, grads: Record<string, tf.Tensor>, _t: number, lr: number, weightDecay: number, decays: (name: string) => boolean): void {
    const mu = this.momentum;
    tf.tidy(() => {
      for (const [n, p] of Object.entries(params)) {
        const g0 = grads[n];
        if (!g0) throw new Error(`SGD: no gradient for ${n}`);
        const g = weightDecay > 0 && decays(n) ? tf.add(g0, tf.mul(p, weightDecay)) : g0;
        const b = this.buf[n];
        const b1 = lerp(b, g, mu, 1);
        b.assign(b1);
        const dir = this.nesterov ? lerp(g, b1, 1, mu) : b1;
        p.assign(lerp(p, dir, 1, -lr));
      }
    });
  }

  async toArrays(): Promise<NamedArrays> {
    return save(this.buf, 'sgd/m/');
  }

  dispose(): void {
    tf.dispose(Object.values(this.buf));
  }
}

/** The optimiser `name` over `params`, restored from `saved` (a checkpoint's arrays) where present. */
export function createOptimizer(name: OptimizerName, params: Record<string, tf.Tensor>, saved: NamedArrays = {}, momentum = DEFAULT_SGD_MOMENTUM): Optimizer {
  if (name === 'sgd') return new SgdMomentum(params, saved, momentum, true);
  return new AdamW(params, saved);
}

export class WeightEma {
  readonly shadow: Record<string, tf.Variable>;

  /** Starts from the saved averages (`ema/<name>`) or a copy of the current values. */
  constructor(
    values: Record<string, tf.Tensor>,
    saved: NamedArrays = {},
    readonly decay = 0.999,
  ) {
    this.shadow = {};
    for (const [n, t] of Object.entries(values)) {
      const a = saved[`ema/${n}`];
      this.shadow[n] = tf.tidy(() => tf.variable(a ? tf.tensor(a.data, a.shape) : t.clone(), false));
    }
  }

  /** Moves the averages towards `values` after step `t` (1-based). */
  update(values: Record<string, tf.Tensor>, t: number): void {
    if (this.decay <= 0) return;
    const d = Math.min(this.decay, (1 + t) / (10 + t));
    tf.tidy(() => {
      for (const [n, s] of Object.entries(this.shadow)) s.assign(lerp(s, values[n], d, 1 - d));
    });
  }

  async toArrays(): Promise<NamedArrays> {
    return save(this.shadow, 'ema/');
  }

  dispose(): void {
    tf.dispose(Object.values(this.shadow));
  }
}
