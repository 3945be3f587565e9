import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { conv2dBackpropFilterAsConv, conv2dBackpropInputAsConv, conv2dBackpropFilterIm2col, registerWasmGradientKernels } from '../../src/train/kernels';
import { mulberry32 } from '../../src/model/graph';

// Shapes of every convolution in Nano-A/B (stride-2 3x3 and 1x1 projections included) plus odd sizes.
const CASES: Array<[number, number, number, number, 1 | 2]> = [
  [48, 1, 11, 3, 1],
  [48, 11, 9, 3, 1],
  [48, 11, 27, 3, 2],
  [48, 11, 27, 1, 2],
  [24, 27, 36, 3, 2],
  [24, 27, 64, 1, 2],
  [12, 64, 39, 3, 1],
  [7, 3, 5, 3, 2],
  [9, 4, 6, 1, 2],
  [5, 2, 3, 3, 1],
  [11, 5, 4, 1, 1],
  [13, 6, 7, 3, 2],
];

// Batch > 1 (the batch is the channel axis of the filter-gradient convolution), non-square.
const BATCH_CASES: Array<[number, number, number, number, number, number, 1 | 2]> = [
  [3, 7, 10, 4, 5, 3, 1],
  [4, 9, 6, 3, 8, 3, 2],
  [2, 10, 7, 5, 3, 1, 2],
  [5, 12, 12, 27, 19, 3, 1],
  [3, 11, 11, 33, 7, 3, 2],
  // even sizes with stride 2: the polyphase input gradient (3x3 and 1x1), non-square
  [3, 8, 10, 5, 6, 3, 2],
  [2, 6, 4, 7, 3, 1, 2],
  [4, 12, 12, 27, 36, 3, 2],
];

function rnd(shape: number[], seed: number): { shape: number[]; data: Float32Array } {
  const r = mulberry32(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = r() * 2 - 1;
  return { shape, data };
}

/** dW and dx of sum(conv2d(x, w) * dy) through tf.grads on the active backend. */
async function grads(x: { shape: number[]; data: Float32Array }, w: { shape: number[]; data: Float32Array }, dy: { shape: number[]; data: Float32Array }, stride: number) {
  const [xt, wt, dyt] = [tf.tensor(x.data, x.shape) as tf.Tensor4D, tf.tensor(w.data, w.shape) as tf.Tensor4D, tf.tensor(dy.data, dy.shape)];
  const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, 'same'), dyt)))([xt, wt]);
  const out = { dx: await gx.data(), dw: await gw.data() };
  tf.dispose([xt, wt, dyt, gx, gw]);
  return out;
}

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 1e-6;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]));
  return e / scale;
}

before(async () => {
  await selectBackend({ backend: 'wasm', logger: silentLogger });
  registerWasmGradientKernels();
});

test('wasm Conv2DBackpropFilter / Conv2DBackpropInput (ours) match the cpu backend numerically', async () => {
  for (const [h, ci, co, k, s] of CASES) {
    const oh = Math.ceil(h / s);
    const x = rnd([1, h, h, ci], 1);
    const w = rnd([k, k, ci, co], 2);
    const dy = rnd([1, oh, oh, co], 3);
    await tf.setBackend('cpu');
    const ref = await grads(x, w, dy, s);
    await tf.setBackend('wasm');
    const got = await grads(x, w, dy, s);
    const ew = maxRelErr(got.dw, ref.dw);
    const ex = maxRelErr(got.dx, ref.dx);
    assert.ok(ew < 1e-5, `dW ${h}x${h}x${ci}->${co} k${k} s${s}: rel err ${ew}`);
    assert.ok(ex < 1e-5, `dx ${h}x${h}x${ci}->${co} k${k} s${s}: rel err ${ex}`);
  }
  assert.equal(tf.getBackend(), 'wasm');
});

test('wasm gradient kernels match the cpu backend with batch > 1 and non-square inputs', async () => {
  for (const [n, h, w, ci, co, k, s] of BATCH_CASES) {
    const x = rnd([n, h, w, ci], 21);
    const wt = rnd([k, k, ci, co], 22);
    const dy = rnd([n, Math.ceil(h / s), Math.ceil(w / s), co], 23);
    await tf.setBackend('cpu');
    const ref = await grads(x, wt, dy, s);
    await tf.setBackend('wasm');
    const got = await grads(x, wt, dy, s);
    const ew = maxRelErr(got.dw, ref.dw);
    const ex = maxRelErr(got.dx, ref.dx);
    const tag = `${n}x${h}x${w}x${ci}->${co} k${k} s${s}`;
    assert.ok(ew < 1e-5, `dW ${tag}: rel err ${ew}`);
    assert.ok(ex < 1e-5, `dx ${tag}: rel err ${ex}`);
  }
});

test('the reference im2col filter gradient agrees with the conv form', async () => {
  const x = tf.tensor(rnd([2, 12, 12, 5], 4).data, [2, 12, 12, 5]) as tf.Tensor4D;
  const dy = tf.tensor(rnd([2, 6, 6, 7], 5).data, [2, 6, 6, 7]) as tf.Tensor4D;
  const a = conv2dBackpropFilterAsConv(x, dy, [3, 3, 5, 7], 2, 'same');
  const b = conv2dBackpropFilterIm2col(x, dy, [3, 3, 5, 7], 2, 'same');
  assert.ok(maxRelErr(await a.data(), await b.data()) < 1e-5);
  const wt = tf.tensor(rnd([3, 3, 5, 7], 6).data, [3, 3, 5, 7]) as tf.Tensor4D;
  const dx = conv2dBackpropInputAsConv(dy, wt, [2, 12, 12, 5], 2, 'same');
  assert.deepEqual(dx.shape, [2, 12, 12, 5]);
  tf.dispose([x, dy, a, b, wt, dx]);
});

test('gradient kernels do not leak tensors', async () => {
  const x = tf.tensor(rnd([2, 16, 16, 3], 7).data, [2, 16, 16, 3]) as tf.Tensor4D;
  const w = tf.variable(tf.tensor(rnd([3, 3, 3, 4], 8).data, [3, 3, 3, 4]));
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) {
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.conv2d(x, w as unknown as tf.Tensor4D, 2, 'same')) as tf.Scalar, [w]);
    tf.dispose([value, ...Object.values(grads)]);
  }
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, w]);
});
