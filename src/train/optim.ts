/**
 * Optimiser state as small objects that can be saved in a checkpoint and restored:
 * {@link AdamW} (decoupled weight decay on the tensors `decays(name)` selects) and
 * {@link WeightEma} (exponential moving average of weights, with the usual warm-up
 * `min(decay, (1+t)/(10+t))`). Both keep their tensors as tf.Variables named like the
 * parameters, and serialise under a prefix (`adam/m/`, `adam/v/`, `ema/`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { NamedArrays } from '../model/io';

function variablesFrom(names: Array<[string, tf.Tensor]>, saved: NamedArrays, prefix: string): Record<string, tf.Variable> {
  const out: Record<string, tf.Variable> = {};
  for (const [n, like] of names) {
    const a = saved[prefix + n];
    if (a && a.shape.join('x') !== like.shape.join('x')) throw new Error(`Checkpoint tensor ${prefix + n} has shape ${a.shape.join('x')}, expected ${like.shape.join('x')}`);
    out[n] = tf.variable(a ? tf.tensor(a.data, a.shape) : tf.zerosLike(like), false);
  }
  return out;
}

async function save(vars: Record<string, tf.Variable>, prefix: string): Promise<NamedArrays> {
  const out: NamedArrays = {};
  for (const [n, v] of Object.entries(vars)) out[prefix + n] = { shape: v.shape.slice(), data: (await v.data()) as Float32Array };
  return out;
}

export class AdamW {
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
        const m1 = tf.add(tf.mul(this.m[n], this.beta1), tf.mul(g, 1 - this.beta1));
        const v1 = tf.add(tf.mul(this.v[n], this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        this.m[n].assign(m1);
        this.v[n].assign(v1);
        const dir = tf.div(tf.div(m1, c1), tf.add(tf.sqrt(tf.div(v1, c2)), this.eps));
        const full = weightDecay > 0 && decays(n) ? tf.add(dir, tf.mul(p, weightDecay)) : dir;
        p.assign(tf.sub(p, tf.mul(full, lr)));
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
      this.shadow[n] = tf.variable(a ? tf.tensor(a.data, a.shape) : t.clone(), false);
    }
  }

  /** Moves the averages towards `values` after step `t` (1-based). */
  update(values: Record<string, tf.Tensor>, t: number): void {
    if (this.decay <= 0) return;
    const d = Math.min(this.decay, (1 + t) / (10 + t));
    tf.tidy(() => {
      for (const [n, s] of Object.entries(this.shadow)) s.assign(tf.add(tf.mul(s, d), tf.mul(values[n], 1 - d)));
    });
  }

  async toArrays(): Promise<NamedArrays> {
    return save(this.shadow, 'ema/');
  }

  dispose(): void {
    tf.dispose(Object.values(this.shadow));
  }
}
