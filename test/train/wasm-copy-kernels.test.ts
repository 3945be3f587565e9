import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { registerWasmGradientKernels } from '../../src/train/kernels';
import { simdKernelsFor } from '../../src/model/wasm-simd';
import { mulberry32 } from '../../src/model/graph';

function rnd(shape: number[], seed: number): { shape: number[]; data: Float32Array } {
  const r = mulberry32(seed);
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = r() * 2 - 1;
  return { shape, data };
}

/** Runs `f` on cpu and on wasm with the same inputs; the results must be bit-identical. */
async function same(label: string, inputs: Array<{ shape: number[]; data: Float32Array }>, f: (...ts: tf.Tensor[]) => tf.Tensor | tf.Tensor[]) {
  const results: Float32Array[][] = [];
  for (const backend of ['cpu', 'wasm']) {
    await tf.setBackend(backend);
    const ts = inputs.map((a) => tf.tensor(a.data, a.shape));
    const out = f(...ts);
    const outs = Array.isArray(out) ? out : [out];
    results.push(await Promise.all(outs.map(async (o) => (await o.data()) as Float32Array)));
    tf.dispose([...ts, ...outs]);
  }
  const [ref, got] = results;
  assert.equal(got.length, ref.length, label);
  ref.forEach((r, i) => assert.deepEqual(Array.from(got[i]), Array.from(r), `${label}: output ${i} differs from cpu`));
}

before(async () => {
  await selectBackend({ backend: 'wasm', logger: silentLogger });
  registerWasmGradientKernels();
});

test('the SIMD module loads on the wasm backend', async () => {
  await tf.setBackend('wasm');
  assert.ok(simdKernelsFor(tf.backend()), 'simd-kernels module did not instantiate');
});

test('wasm Concat (ours) matches cpu on every axis, odd widths, 2-4 inputs', async () => {
  await same('concat channels', [rnd([3, 5, 7, 11], 1), rnd([3, 5, 7, 9], 2), rnd([3, 5, 7, 1], 3)], (a, b, c) => tf.concat([a, b, c], 3));
  await same('concat channels x4', [rnd([2, 4, 4, 4], 1), rnd([2, 4, 4, 8], 2), rnd([2, 4, 4, 3], 3), rnd([2, 4, 4, 27], 4)], (a, b, c, d) => tf.concat([a, b, c, d], -1));
  await same('concat axis 1', [rnd([2, 3, 5, 6], 1), rnd([2, 4, 5, 6], 2)], (a, b) => tf.concat([a, b], 1));
  await same('concat axis 0', [rnd([2, 3], 1), rnd([5, 3], 2)], (a, b) => tf.concat([a, b], 0));
  await same('concat 1-D', [rnd([7], 1), rnd([2], 2)], (a, b) => tf.concat([a, b]));
});

test('wasm SplitV (ours) matches cpu, and concat gradients match', async () => {
  await same('split channels', [rnd([3, 5, 7, 27], 5)], (x) => tf.split(x, [11, 9, 7], 3));
  await same('split even', [rnd([2, 6, 4, 8], 6)], (x) => tf.split(x, 4, 3));
  await same('split axis 1', [rnd([2, 6, 4, 3], 7)], (x) => tf.split(x, [1, 5], 1));
  await same('concat grad', [rnd([4, 6, 6, 11], 8), rnd([4, 6, 6, 7], 9), rnd([4, 6, 6, 18], 10)], (a, b, w) => tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.concat([p, q], 3), w)))([a, b]));
});

test('wasm Slice (ours) matches cpu: contiguous, inner, middle and mixed slices', async () => {
  const x = rnd([4, 7, 9, 5], 11);
  const cases: Array<[number[], number[]]> = [
    [[1, 0, 0, 0], [2, -1, -1, -1]],
    [[0, 0, 0, 0], [-1, 6, 8, -1]],
    [[1, 2, 3, 1], [2, 3, 4, 3]],
    [[0, 0, 0, 2], [-1, -1, -1, 1]],
    [[3, 6, 8, 4], [1, 1, 1, 1]],
    [[0, 1, 0, 0], [-1, 5, -1, -1]],
  ];
  for (const [b, s] of cases) await same(`slice ${b}/${s}`, [x], (t) => tf.slice(t, b, s));
  await same('slice 2-D', [rnd([6, 10], 12)], (t) => tf.slice(t, [1, 2], [3, 5]));
  await same('slice 1-D', [rnd([10], 13)], (t) => tf.slice(t, [2], [5]));
});

test('wasm PadV2 (ours) matches cpu: spatial, channel, mixed, constant value', async () => {
  const x = rnd([3, 5, 7, 6], 18);
  await same('pad spatial', [x], (t) => tf.pad(t, [[0, 0], [1, 1], [1, 1], [0, 0]]));
  await same('pad channels', [x], (t) => tf.pad(t, [[0, 0], [0, 0], [0, 0], [0, 2]]));
  await same('pad mixed', [x], (t) => tf.pad(t, [[1, 0], [0, 2], [3, 1], [1, 1]]));
  await same('pad const', [x], (t) => tf.pad(t, [[0, 0], [2, 0], [0, 0], [0, 0]], 1.5));
  await same('pad 6-D', [rnd([2, 3, 1, 4, 1, 5], 19)], (t) => tf.pad(t, [[0, 0], [0, 0], [0, 1], [0, 0], [0, 1], [0, 0]]));
  await same('pad 1-D', [rnd([5], 20)], (t) => tf.pad(t, [[2, 3]]));
});

test('wasm DepthToSpace (ours) matches cpu', async () => {
  await same('d2s 2', [rnd([3, 4, 5, 12], 15)], (t) => tf.depthToSpace(t as tf.Tensor4D, 2));
  await same('d2s 3', [rnd([2, 3, 2, 18], 16)], (t) => tf.depthToSpace(t as tf.Tensor4D, 3));
  await same('d2s 2 c=1', [rnd([2, 5, 3, 4], 17)], (t) => tf.depthToSpace(t as tf.Tensor4D, 2));
});

test('copy kernels do not leak tensors', async () => {
  await tf.setBackend('wasm');
  const x = tf.tensor(rnd([2, 4, 4, 6], 14).data, [2, 4, 4, 6]);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) tf.dispose([tf.concat([x, x], 3), ...tf.split(x, [2, 4], 3), tf.slice(x, [0, 1, 1, 0], [-1, 2, 2, -1])]);
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
});
