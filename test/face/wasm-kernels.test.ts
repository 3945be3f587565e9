/**
 * The face detector's own WebAssembly kernels (src/face/wasm-*.ts): the depthwise 3x3 pass gives
 * bit-identical outputs to the backend's DepthwiseConv2dNative for every shape it takes (image
 * borders, 1- and 2-pixel images, batches), leaves every other call to the backend's kernel,
 * and releases every buffer; and each embedded module is exactly what its .wat source
 * assembles to.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { selectBackend, tf } from '../../src/backend';
import { DEPTHWISE3X3_WASM, depthwiseKernel } from '../../src/face/wasm-depthwise';
import { ADD_RELU_WASM } from '../../src/face/wasm-add-relu';

before(async () => {
  await selectBackend();
});

const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** depthwiseKernel built on a counting copy of the backend's own kernel: `calls` says how often the pass fell back to it. */
function countedKernel(allowFast = true) {
  const cfg = tf.getKernel(tf.DepthwiseConv2dNative, tf.getBackend())!;
  const own = cfg.kernelFunc;
  const counter = { calls: 0 };
  (cfg as { kernelFunc: tf.KernelFunc }).kernelFunc = (args) => {
    counter.calls++;
    return own(args);
  };
  try {
    return { ...depthwiseKernel(tf.getBackend(), tf.engine().backend, allowFast), counter };
  } finally {
    (cfg as { kernelFunc: tf.KernelFunc }).kernelFunc = own;
  }
}

const SAME = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined } as unknown as tf.NamedAttrMap;

test('depthwise 3x3: bit-identical to the backend kernel at every size, border and batch it takes; no buffer left', () => {
  const backend = tf.engine().backend;
  const { fn, fused, counter } = countedKernel();
  // The SIMD pass on wasm (WebAssembly SIMD is in every Node >= 16.4).
  assert.equal(fused, tf.getBackend() === 'wasm');
  const shapes: Array<[number, number, number, number]> = [
    [1, 72, 96, 24], // BlazeFace's largest blocks
    [1, 9, 12, 96],
    [2, 5, 7, 8], // a batch
    [1, 1, 1, 4],
    [1, 1, 6, 4],
    [1, 6, 1, 4],
    [1, 2, 2, 4],
    [1, 2, 3, 12],
    [1, 3, 2, 8],
  ];
  const ids = backend.numDataIds();
  for (const shape of shapes) {
    const c = shape[3];
    const x = tf.randomNormal(shape);
    const filter = tf.randomNormal([3, 3, c, 1]);
    for (let round = 0; round < 2; round++) { // the second time with the packed filter from the first
      const got = tf.engine().makeTensorFromTensorInfo(fn(x, filter, SAME));
      const want = tf.depthwiseConv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 1, 'same');
      assert.deepEqual(got.shape, want.shape);
      assert.ok(bytes(got.dataSync()).equals(bytes(want.dataSync())), `bit-identical at ${shape.join('x')}`);
      tf.dispose([got, want]);
    }
    tf.dispose([x, filter]);
  }
  if (fused) assert.equal(counter.calls, 0, 'every call above ran the SIMD pass');
  assert.equal(backend.numDataIds(), ids, 'every buffer released');
});

test('depthwise: every other call goes to the backend kernel, with the same result', () => {
  const { fn, fused, counter } = countedKernel();
  const cases: Array<{ what: string; x: number[]; f: number[]; stride?: number; pad?: 'same' | 'valid' }> = [
    { what: 'channels not a multiple of 4', x: [1, 6, 6, 3], f: [3, 3, 3, 1] },
    { what: 'stride 2', x: [1, 8, 8, 8], f: [3, 3, 8, 1], stride: 2 },
    { what: 'valid padding', x: [1, 8, 8, 8], f: [3, 3, 8, 1], pad: 'valid' },
    { what: '5x5 filter', x: [1, 8, 8, 8], f: [5, 5, 8, 1] },
    { what: 'channel multiplier 2', x: [1, 8, 8, 4], f: [3, 3, 4, 2] },
  ];
  for (const k of cases) {
    const x = tf.randomNormal(k.x);
    const filter = tf.randomNormal(k.f);
    const stride = k.stride ?? 1;
    const pad = k.pad ?? 'same';
    const before = counter.calls;
    const got = tf.engine().makeTensorFromTensorInfo(fn(x, filter, { ...SAME, strides: [stride, stride], pad }));
    const want = tf.depthwiseConv2d(x as tf.Tensor4D, filter as tf.Tensor4D, stride, pad);
    assert.equal(counter.calls, before + 1, `${k.what}: the backend's kernel`);
    assert.deepEqual(got.shape, want.shape);
    assert.ok(bytes(got.dataSync()).equals(bytes(want.dataSync())), k.what);
    tf.dispose([got, want, x, filter]);
  }
  // Turned off: the backend's kernel for everything.
  const off = countedKernel(false);
  assert.equal(off.fused, false);
  const x = tf.randomNormal([1, 4, 4, 8]);
  const filter = tf.randomNormal([3, 3, 8, 1]);
  tf.engine().makeTensorFromTensorInfo(off.fn(x, filter, SAME)).dispose();
  assert.equal(off.counter.calls, 1);
  tf.dispose([x, filter]);
  assert.ok(fused || tf.getBackend() !== 'wasm');
});

test('depthwise: no channels (0, a multiple of 4) is the backend kernel\'s, not the SIMD pass (which stores one v128 per pixel, out of an empty output)', () => {
  const { fn, counter } = countedKernel();
  const x = tf.zeros([1, 4, 4, 0]);
  const filter = tf.zeros([3, 3, 0, 1]);
  try {
    // tfjs' wasm kernel itself fails here (divide by zero); what matters is that ours does not run.
    tf.engine().makeTensorFromTensorInfo(fn(x, filter, SAME)).dispose();
  } catch {
    /* the backend's error */
  }
  assert.equal(counter.calls, 1, "the backend's kernel");
  tf.dispose([x, filter]);
});

test('depthwise: the cpu backend gets its own kernel', async () => {
  const was = tf.getBackend();
  await import('@tensorflow/tfjs-backend-cpu'); // registers it (src/backend loads it only as the fallback)
  try {
    assert.ok(await tf.setBackend('cpu'));
    const { fn, fused } = depthwiseKernel('cpu', tf.engine().backend);
    assert.equal(fused, false);
    const x = tf.randomNormal([1, 4, 4, 8]);
    const filter = tf.randomNormal([3, 3, 8, 1]);
    const got = tf.engine().makeTensorFromTensorInfo(fn(x, filter, SAME));
    const want = tf.depthwiseConv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 1, 'same');
    assert.ok(bytes(got.dataSync()).equals(bytes(want.dataSync())));
    tf.dispose([got, want, x, filter]);
  } finally {
    await tf.setBackend(was);
  }
});

test('the embedded WebAssembly modules are what their .wat sources assemble to', async (t) => {
  let wabt: typeof import('wabt').default;
  try {
    wabt = (await import('wabt')).default;
  } catch {
    t.skip('wabt (devDependency) is not installed');
    return;
  }
  const w = await wabt();
  const dir = path.join(__dirname, '..', '..', 'src', 'face', 'wasm');
  for (const [file, embedded] of [['depthwise3x3.wat', DEPTHWISE3X3_WASM], ['add-relu.wat', ADD_RELU_WASM]] as const) {
    const mod = w.parseWat(file, fs.readFileSync(path.join(dir, file), 'utf8'), { simd: true });
    try {
      const { buffer } = mod.toBinary({});
      assert.equal(Buffer.from(buffer).toString('base64'), embedded, `${file} assembles to the embedded bytes`);
    } finally {
      mod.destroy();
    }
  }
});
