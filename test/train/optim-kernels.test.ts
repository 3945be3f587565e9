import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { adamwUpdate, lerp, registerOptimizerKernels, AdamW, WeightEma } from '../../src/train/optim';
import { mulberry32 } from '../../src/model/graph';

function arr(n: number, seed: number, scale = 1): Float32Array {
  const r = mulberry32(seed);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = (r() * 2 - 1) * scale;
  return d;
}

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 1e-12;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]));
  return e / scale;
}

/** Three AdamW steps (and an EMA update) with the fused kernels or the op form. */
async function run(fused: boolean, wd: number) {
  const prev = process.env.EMOTIONNET_FUSED_OPTIM;
  if (!fused) process.env.EMOTIONNET_FUSED_OPTIM = '0';
  try {
    const shape = [3, 3, 5, 7];
    const n = 3 * 3 * 5 * 7;
    const p = tf.variable(tf.tensor(arr(n, 1), shape));
    const m = tf.variable(tf.tensor(arr(n, 2, 0.01), shape));
    const v = tf.variable(tf.tensor(arr(n, 3, 1e-4).map(Math.abs), shape));
    const ema = new WeightEma({ p }, {}, 0.99);
    for (let t = 1; t <= 3; t++) {
      const g = tf.tensor(arr(n, 10 + t, 0.1), shape);
      tf.tidy(() => adamwUpdate(p, g, m, v, { beta1: 0.9, beta2: 0.999, eps: 1e-7, c1: 1 - 0.9 ** t, c2: 1 - 0.999 ** t, lr: 3e-3, wd }));
      ema.update({ p }, t);
      g.dispose();
    }
    const l = lerp(tf.tensor([1, 2, 3]), tf.tensor([4, 5, 6]), 0.9, 0.1);
    const out = { p: await p.data(), m: await m.data(), v: await v.data(), ema: await ema.shadow.p.data(), lerp: await l.data() };
    tf.dispose([p, m, v, l]);
    ema.dispose();
    return out;
  } finally {
    if (prev === undefined) delete process.env.EMOTIONNET_FUSED_OPTIM;
    else process.env.EMOTIONNET_FUSED_OPTIM = prev;
  }
}

before(async () => {
  await selectBackend({ backend: 'wasm', logger: silentLogger });
  registerOptimizerKernels();
});

for (const backend of ['cpu', 'wasm']) {
  test(`one-pass AdamW / lerp kernels match the op form on ${backend}`, async () => {
    await tf.setBackend(backend);
    for (const wd of [0, 0.05]) {
      const a = await run(true, wd);
      const b = await run(false, wd);
      for (const k of ['p', 'm', 'v', 'ema', 'lerp'] as const) {
        const e = maxRelErr(a[k], b[k]);
        assert.ok(e < 1e-5, `${k} (wd ${wd}) on ${backend}: rel err ${e}`);
      }
    }
  });
}

test('AdamW.step with the fused kernel leaks no tensors', async () => {
  await tf.setBackend('wasm');
  const params = { w: tf.variable(tf.tensor(arr(20, 5), [4, 5])) };
  const adam = new AdamW(params);
  const before = tf.memory().numTensors;
  for (let t = 1; t <= 2; t++) {
    const g = { w: tf.tensor(arr(20, 6 + t), [4, 5]) };
    adam.step(params, g, t, 1e-3, 0.01, () => true);
    g.w.dispose();
  }
  assert.equal(tf.memory().numTensors, before);
  adam.dispose();
  params.w.dispose();
});
