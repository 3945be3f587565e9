/**
 * The direct executor (src/model/direct.ts on src/kernel-program.ts) against the graph path
 * (inferForward, the reference), on the wasm backend; test/model/direct-cpu.test.ts runs the
 * same comparison on the cpu backend.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { kernelProgram, KernelStep, releasePlan } from '../../src/kernel-program';
import { EmotionClassifier, EXECUTOR_MODES, load, MAX_BATCH, modelsDir, readModelDir, resolveExecutor, resolveSpec } from '../../src/model';
import { compileDirectClassifier } from '../../src/model/direct';
import { normalizeInPlace, TensorMap } from '../../src/model/graph';
import { compareExecutors, grayImage, tmpDir, writeRandomModel } from './helpers';

const CLASSES7 = ['anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise'];
const dirs: Record<string, string> = {};
const opened: EmotionClassifier[] = [];

before(async () => {
  await selectBackend({ backend: 'wasm', logger: silentLogger });
  const tmp = tmpDir();
  // The shipped CK+ models (confident, varied outputs: a sharper comparison than random weights,
  // whose Nano-A outputs are almost uniform); random ones of the same architecture without them.
  for (const v of ['nano-a', 'nano-b']) {
    const shipped = path.join(modelsDir() ?? '', v);
    dirs[v] = fs.existsSync(path.join(shipped, 'model.json')) ? shipped : await writeRandomModel(path.join(tmp, `random-${v}`), v, CLASSES7, v === 'nano-a' ? 21 : 22);
  }
});

after(() => opened.forEach((c) => c.dispose()));

async function open(model: string, options: Parameters<typeof load>[0] = {}): Promise<EmotionClassifier> {
  const c = await load({ model, backend: 'wasm', logger: silentLogger, ...options });
  opened.push(c);
  return c;
}

test('executor option: direct by default on wasm, graph on request, exposed as clf.executor; bad values are a TypeError', async () => {
  assert.deepEqual(EXECUTOR_MODES, ['direct', 'graph']);
  assert.equal(resolveExecutor(undefined), 'direct');
  assert.equal((await open(dirs['nano-b'])).executor, 'direct');
  assert.equal((await open(dirs['nano-b'], { executor: 'direct' })).executor, 'direct');
  assert.equal((await open(dirs['nano-b'], { executor: 'graph' })).executor, 'graph');
  for (const bad of ['kernel', '', null, 3]) {
    assert.throws(() => resolveExecutor(bad), /Invalid executor option .*expected one of 'direct', 'graph'/);
    await assert.rejects(load({ model: dirs['nano-b'], logger: silentLogger, executor: bad as never }), (e: unknown) => e instanceof TypeError, String(bad));
  }
});

for (const variant of ['nano-a', 'nano-b']) {
  for (const tta of ['none', 'flip'] as const) {
    test(`${variant}${tta === 'flip' ? ', tta flip' : ''}: direct gives the graph's probabilities within 1e-5 for 1, 16 and ${MAX_BATCH + 44} faces (more than MAX_BATCH rows)`, async () => {
      const direct = await open(dirs[variant], { tta });
      const graph = await open(dirs[variant], { tta, executor: 'graph' });
      assert.equal(direct.executor, 'direct');
      assert.equal(graph.executor, 'graph');
      for (const n of [1, 16, MAX_BATCH + 44]) {
        const faces = Array.from({ length: n }, (_, i) => grayImage(1000 * n + i));
        const worst = await compareExecutors(direct, graph, faces, `${variant} ${tta} batch ${n}`);
        assert.ok(worst < 1e-5, `${variant} ${tta} batch ${n}: largest difference ${worst}`);
      }
    });
  }
}

test('no leak: 1000 direct calls leave tf.memory().numTensors and the backend buffers unchanged; dispose frees exactly the weights', async () => {
  const backend = tf.engine().backend;
  const tensors0 = tf.memory().numTensors;
  const clf = await load({ model: dirs['nano-a'], backend: 'wasm', logger: silentLogger });
  const weights = tf.memory().numTensors - tensors0;
  assert.equal(clf.executor, 'direct');
  const faces = Array.from({ length: 16 }, (_, i) => grayImage(300 + i));
  await clf.classify([faces[0]]);
  const tensors = tf.memory().numTensors;
  const buffers = backend.numDataIds();
  for (let i = 0; i < 1000; i++) await clf.classify(i % 100 === 0 ? faces : [faces[i % 16]]);
  await assert.rejects(clf.classify([faces[0], { width: 48, height: 48, data: new Uint8Array(10) }]), /face 1/);
  assert.equal(tf.memory().numTensors, tensors);
  assert.equal(backend.numDataIds(), buffers, 'no intermediate buffer left on the backend');
  clf.dispose();
  assert.equal(tf.memory().numTensors, tensors - weights);
  await assert.rejects(clf.classify([faces[0]]), /disposed/);
});

/** Folded weights of a model directory as tensors (the caller disposes them). */
function folded(dir: string): { r: ReturnType<typeof resolveSpec>; w: TensorMap } {
  const { json, arrays } = readModelDir(path.join(dir, 'model.json'));
  const w: TensorMap = {};
  for (const [n, a] of Object.entries(arrays)) w[n] = tf.tensor(a.data, a.shape);
  return { r: resolveSpec(json.spec), w };
}

test('a call that throws mid-network releases every intermediate (and the input) before rethrowing', () => {
  for (const variant of ['nano-a', 'nano-b']) {
    const { r, w } = folded(dirs[variant]);
    // a bias of the wrong length makes d2's FusedConv2D throw, after ~10 steps
    const bad = { ...w, 'd2/bias': tf.zeros([5]) };
    const clf = compileDirectClassifier(r, bad);
    const at = clf.steps.findIndex((s) => s.name === 'd2');
    assert.ok(at > 8, `d2 is step ${at}`);
    const buf = new Float32Array(4 * 48 * 48);
    for (let i = 0; i < 4; i++) {
      buf.set(grayImage(i).data, i * 2304);
      normalizeInPlace(buf, i * 2304, 2304);
    }
    const backend = tf.engine().backend;
    const buffers = backend.numDataIds();
    const tensors = tf.memory().numTensors;
    assert.throws(() => clf.run(buf, 4), /bias shape \(5\) does not match the number of output channels/);
    assert.equal(backend.numDataIds(), buffers, `${variant}: no buffer left behind`);
    assert.equal(tf.memory().numTensors, tensors);
    // the good weights run, and a disposed runner refuses
    const ok = compileDirectClassifier(r, w);
    assert.equal(ok.run(buf, 4).length, 4 * 7);
    assert.throws(() => ok.run(buf, 3), /expected 3 images of 48x48 values/);
    ok.dispose();
    assert.throws(() => ok.run(buf, 4), /disposed/);
    assert.equal(backend.numDataIds(), buffers);
    tf.dispose([...Object.values(w), bad['d2/bias']]);
  }
});

test('compiled steps: one kernel per conv, a shared merge computed once, pooling without transpose', () => {
  const { r, w } = folded(dirs['nano-a']);
  const steps = compileDirectClassifier(r, w).steps;
  const kernels = steps.map((s) => s.kernel);
  assert.equal(kernels.filter((k) => k === tf.FusedConv2D).length, 21);
  // c6 and p1 both read concat(c1, c3, c5): one concat feeds both
  const c6 = steps.find((s) => s.name === 'c6') as KernelStep;
  const p1 = steps.find((s) => s.name === 'p1') as KernelStep;
  assert.equal((c6.inputs as Record<string, unknown>).x, (p1.inputs as Record<string, unknown>).x);
  assert.equal(steps.filter((s) => s.kernel === 'EmotionNetConcat').length, 10); // the graph path concatenates 11 times
  assert.equal(steps.length, 35); // inferForward: 21 convs, 11 concats, mean (transpose + mean on wasm), matmul, softmax
  assert.deepEqual(kernels.slice(-4), [tf.AvgPool, tf.Reshape, tf._FusedMatMul, tf.Softmax]);
  assert.ok(!kernels.includes(tf.Mean) && !kernels.includes(tf.Transpose));
  tf.dispose(Object.values(w));
});

test('kernel programs: values are released right after their last use (unread values at once); bad programs are refused', () => {
  const c = tf.tensor1d([1, 2, 3, 4]);
  const steps: KernelStep[] = [
    { name: 'a', kernel: tf.Relu, inputs: { x: 'in' }, attrs: {} },
    { name: 'unused', kernel: tf.Neg, inputs: { x: 'a' }, attrs: {} },
    { name: 'b', kernel: tf.Add, inputs: { a: 'a', b: c }, attrs: {} },
    { name: 'sum', kernel: tf.AddN, inputs: ['a', 'b', 'in'], attrs: {} },
    { name: 'out', kernel: tf.Multiply, inputs: { a: 'sum', b: 'b' }, attrs: {} },
  ];
  assert.deepEqual(releasePlan('in', steps, ['out']), [[], ['unused'], [], ['a'], ['b', 'sum']]);
  assert.deepEqual(releasePlan('in', steps, ['out', 'b']), [[], ['unused'], [], ['a'], ['sum']]);
  assert.throws(() => releasePlan('in', [steps[2]], ['b']), /reads a before it is computed/);
  assert.throws(() => releasePlan('in', [steps[0], steps[0]], ['a']), /a is computed twice/);
  assert.throws(() => releasePlan('in', [steps[0]], ['zz']), /output zz is never computed/);
  assert.throws(() => kernelProgram('in', [{ name: 'y', kernel: 'NoSuchKernel', inputs: { x: 'in' }, attrs: {} }], ['y']), /has no NoSuchKernel kernel/);
  const backend = tf.engine().backend;
  const x = tf.tensor1d([-1, 2, -3, 4]);
  const buffers = backend.numDataIds();
  const p = kernelProgram('in', steps, ['out']);
  const [out] = p.run(x);
  // (relu(x) + (relu(x) + c) + x) · (relu(x) + c)
  assert.deepEqual(Array.from(backend.readSync(out.dataId) as Float32Array), [0, 32, 0, 128]);
  backend.disposeData(out.dataId);
  assert.equal(backend.numDataIds(), buffers);
  // a failing step (custom kernel) after several live values: all released, the error passes through
  const failing = kernelProgram('in', [...steps.slice(0, 4), { name: 'boom', kernel: 'Boom', inputs: { x: 'sum' }, attrs: {} }, steps[4]], ['out'], {
    Boom: () => () => {
      throw new Error('boom');
    },
  });
  assert.throws(() => failing.run(x), /boom/);
  assert.equal(backend.numDataIds(), buffers);
  assert.deepEqual(Array.from(x.dataSync()), [-1, 2, -3, 4], 'the input is left alone');
  tf.dispose([x, c]);
});
