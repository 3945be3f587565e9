import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { batchNormTrain, registerFusedBatchNorm, fusedBatchNormAvailable } from '../../src/model/fused-bn';
import { BN_EPSILON, initTrainWeights, mulberry32, trainForward } from '../../src/model/graph';
import { registerWasmGradientKernels } from '../../src/train/kernels';
import { resolveSpec, variantSpec } from '../../src/model/spec';

function rnd(shape: number[], seed: number, lo = -1, hi = 1): tf.Tensor {
  const r = mulberry32(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = lo + (hi - lo) * r();
  return tf.tensor(d, shape);
}

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 1e-6;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]));
  return e / scale;
}

/** The op-by-op form that trainForward used before (the reference). */
function opForm(y: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, relu: boolean) {
  const m = tf.moments(y, [0, 1, 2]);
  const scale = tf.mul(gamma, tf.rsqrt(tf.add(m.variance, BN_EPSILON)));
  const shift = tf.sub(beta, tf.mul(m.mean, scale));
  const bn = tf.add(tf.mul(y, scale), shift);
  return { out: relu ? tf.relu(bn) : bn, mean: m.mean, variance: m.variance };
}

/** Output, statistics and gradients (w.r.t. y, γ, β of sum(out · dout)) of one form. */
async function run(form: 'op' | 'fused', shape: number[], relu: boolean, seed: number) {
  const c = shape[shape.length - 1];
  const y = rnd(shape, seed, -2, 3);
  const gamma = rnd([c], seed + 1, 0.5, 1.5);
  const beta = rnd([c], seed + 2);
  const dout = rnd(shape, seed + 3);
  const f = (yy: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => (form === 'op' ? opForm(yy, g, b, relu) : batchNormTrain(yy, g as tf.Tensor1D, b as tf.Tensor1D, relu, BN_EPSILON));
  const fwd = tf.tidy(() => f(y, gamma, beta));
  const [gy, gg, gb] = tf.grads((yy: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(yy, g, b).out, dout)))([y, gamma, beta]);
  const out = { out: await fwd.out.data(), mean: await fwd.mean.data(), variance: await fwd.variance.data(), dy: await gy.data(), dgamma: await gg.data(), dbeta: await gb.data() };
  tf.dispose([y, gamma, beta, dout, fwd.out, fwd.mean, fwd.variance, gy, gg, gb]);
  return out;
}

const SHAPES = [
  [4, 6, 6, 11],
  [3, 5, 7, 4],
  [2, 3, 3, 64],
  [5, 1, 1, 3],
  [64, 12, 12, 27],
];

before(async () => {
  await selectBackend({ backend: 'wasm', logger: silentLogger });
  registerWasmGradientKernels();
  registerFusedBatchNorm();
});

for (const backend of ['cpu', 'wasm']) {
  test(`fused batch-norm (+ReLU) matches the op form on ${backend}: outputs, statistics and gradients`, async () => {
    await tf.setBackend(backend);
    assert.ok(fusedBatchNormAvailable());
    for (const shape of SHAPES) {
      for (const relu of [true, false]) {
        // Reference: the op form on the cpu backend.
        await tf.setBackend('cpu');
        const ref = await run('op', shape, relu, 11);
        await tf.setBackend(backend);
        const got = await run('fused', shape, relu, 11);
        for (const k of ['out', 'mean', 'variance', 'dy', 'dgamma', 'dbeta'] as const) {
          const e = maxRelErr(got[k], ref[k]);
          assert.ok(e < 2e-5, `${k} ${shape.join('x')} relu=${relu} on ${backend}: rel err ${e}`);
        }
      }
    }
  });
}

for (const variant of ['nano-a', 'nano-b']) {
  test(`${variant} training step: wasm with every training kernel of ours matches the cpu backend's op form (loss and gradients)`, async () => {
    const r = resolveSpec(variantSpec(variant));
    const init = initTrainWeights(r, 7, 3);
    const step = async (backend: string, fused: boolean) => {
      await tf.setBackend(backend);
      const prev = process.env.EMOTIONNET_FUSED_BN;
      if (!fused) process.env.EMOTIONNET_FUSED_BN = '0';
      try {
        assert.equal(fusedBatchNormAvailable(), fused);
        const vars: Record<string, tf.Variable> = {};
        for (const [n, a] of Object.entries(init)) vars[n] = tf.variable(tf.tensor(a.data, a.shape), !n.includes('moving'));
        const x = rnd([6, 48, 48, 1], 5, 0, 255) as tf.Tensor4D;
        const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5], 'int32'), 7);
        const trainable = Object.values(vars).filter((v) => v.trainable);
        const before = tf.memory().numTensors;
        const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, trainForward(r, vars, x, true).logits) as tf.Scalar, trainable);
        const out = { loss: (await value.data())[0], grads: {} as Record<string, Float32Array> };
        for (const [n, g] of Object.entries(grads)) out.grads[n.replace(/_\d+$/, '')] = (await g.data()) as Float32Array;
        tf.dispose([value, ...Object.values(grads)]);
        assert.equal(tf.memory().numTensors, before, `${backend} step leaks tensors`);
        tf.dispose([x, labels, ...Object.values(vars)]);
        return out;
      } finally {
        if (prev === undefined) delete process.env.EMOTIONNET_FUSED_BN;
        else process.env.EMOTIONNET_FUSED_BN = prev;
      }
    };
    const ref = await step('cpu', false); // tfjs' own kernels and gradients, op-by-op batch-norm
    const got = await step('wasm', true); // fused BN, SIMD dW, polyphase dx, copy kernels
    assert.ok(Math.abs(got.loss - ref.loss) < 1e-5 * Math.abs(ref.loss), `loss ${got.loss} vs ${ref.loss}`);
    const names = Object.keys(ref.grads);
    assert.equal(Object.keys(got.grads).length, names.length);
    const trainNames = Object.keys(init).filter((n) => !n.includes('moving'));
    Object.values(got.grads).forEach((g, i) => {
      const name = trainNames[i];
      const e = maxRelErr(g, Object.values(ref.grads)[i]);
      // The stem (c1: 1 input channel, its dW by the unchanged dilated-conv form) differs from
      // the cpu backend by up to ~2 % of its largest gradient in the ORIGINAL code as well
      // (measured on main before this change: c1/beta 1.9e-2, c1/kernel 6.4e-3 for nano-b):
      // its gradient is a sum over 36 k near-cancelling terms. Every other tensor: < 2e-5.
      const tol = name.startsWith('c1/') ? 5e-2 : 1e-4;
      assert.ok(e < tol, `gradient of ${name}: ${e} (relative to its largest gradient), tolerance ${tol}`);
    });
  });
}
