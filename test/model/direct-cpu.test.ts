/**
 * The direct executor on the cpu backend (the fallback where wasm does not load): the backend's
 * own Concat, AddN, AvgPool, _FusedMatMul and Softmax kernels instead of wasm's, same results as
 * the graph path. (One backend per process: this file runs in its own.)
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { load, modelsDir } from '../../src/model';
import { compareExecutors, grayImage, tmpDir, writeRandomModel } from './helpers';

const CLASSES7 = ['anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise'];
const dirs: Record<string, string> = {};

before(async () => {
  const b = await selectBackend({ backend: 'cpu', logger: silentLogger });
  assert.equal(b.name, 'cpu');
  const tmp = tmpDir();
  for (const v of ['nano-a', 'nano-b']) {
    const shipped = path.join(modelsDir() ?? '', v);
    dirs[v] = fs.existsSync(path.join(shipped, 'model.json')) ? shipped : await writeRandomModel(path.join(tmp, `random-${v}`), v, CLASSES7, 5);
  }
});

for (const variant of ['nano-a', 'nano-b']) {
  test(`cpu, ${variant}: direct by default, the graph's probabilities within 1e-5 (1 and 16 faces, and with tta flip), no leak`, async () => {
    const direct = await load({ model: dirs[variant], logger: silentLogger });
    const graph = await load({ model: dirs[variant], logger: silentLogger, executor: 'graph' });
    const flipDirect = await load({ model: dirs[variant], logger: silentLogger, tta: 'flip' });
    const flipGraph = await load({ model: dirs[variant], logger: silentLogger, tta: 'flip', executor: 'graph' });
    try {
      assert.equal(direct.backend.name, 'cpu');
      assert.deepEqual([direct.executor, graph.executor, flipDirect.executor, flipGraph.executor], ['direct', 'graph', 'direct', 'graph']);
      for (const n of [1, 16]) {
        const faces = Array.from({ length: n }, (_, i) => grayImage(500 + 20 * n + i));
        assert.ok((await compareExecutors(direct, graph, faces, `${variant} batch ${n}`)) < 1e-5);
        assert.ok((await compareExecutors(flipDirect, flipGraph, faces, `${variant} flip batch ${n}`)) < 1e-5);
      }
      const backend = tf.engine().backend;
      const tensors = tf.memory().numTensors;
      const buffers = backend.numDataIds();
      for (let i = 0; i < 50; i++) await direct.classify([grayImage(i)]);
      assert.equal(tf.memory().numTensors, tensors);
      assert.equal(backend.numDataIds(), buffers);
    } finally {
      [direct, graph, flipDirect, flipGraph].forEach((c) => c.dispose());
    }
  });
}
