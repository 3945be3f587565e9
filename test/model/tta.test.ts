/**
 * Flip test-time augmentation (`load({ tta: 'flip' })`): each face and its mirror image run in
 * one batch and their probabilities are averaged.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { Classification, EmotionClassifier, flipHorizontal, load, MAX_BATCH, mirrorInto, resolveTta, TTA_MODES } from '../../src/model';
import { grayImage, tmpDir, writeRandomModel } from './helpers';

const CLASSES7 = ['anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise'];
let modelDir = '';
let plain: EmotionClassifier;
let flip: EmotionClassifier;

before(async () => {
  await selectBackend({ backend: 'wasm', logger: silentLogger });
  modelDir = await writeRandomModel(path.join(tmpDir(), 'random-b'), 'nano-b', CLASSES7, 11);
  plain = await load({ model: modelDir, backend: 'wasm', logger: silentLogger });
  flip = await load({ model: modelDir, backend: 'wasm', logger: silentLogger, tta: 'flip' });
});

after(() => {
  plain?.dispose();
  flip?.dispose();
});

/** The mean of two classifications' probabilities, with label and confidence of the mean. */
function meanOf(a: Classification, b: Classification) {
  const probabilities = Object.fromEntries(CLASSES7.map((c) => [c, (a.probabilities[c] + b.probabilities[c]) / 2]));
  const label = CLASSES7.reduce((x, y) => (probabilities[y] > probabilities[x] ? y : x));
  return { label, confidence: probabilities[label], probabilities };
}

function assertClose(got: Classification, want: ReturnType<typeof meanOf> | Classification, what: string, tol = 1e-5): void {
  for (const c of CLASSES7) assert.ok(Math.abs(got.probabilities[c] - want.probabilities[c]) < tol, `${what} ${c}: ${got.probabilities[c]} vs ${want.probabilities[c]}`);
  assert.equal(got.label, want.label, what);
  assert.ok(Math.abs(got.confidence - want.confidence) < tol, what);
  assert.equal(got.probabilities[got.label], got.confidence, `${what}: confidence is the label's probability`);
}

test('tta option: default none, flip exposed as readonly tta, bad values are a TypeError naming the allowed values', async () => {
  assert.equal(plain.tta, 'none');
  assert.equal(flip.tta, 'flip');
  assert.deepEqual([...TTA_MODES], ['none', 'flip']);
  assert.equal(resolveTta(undefined), 'none');
  assert.equal(resolveTta('flip'), 'flip');
  for (const bad of ['Flip', 'mirror', '', true, 2, null]) {
    await assert.rejects(load({ model: modelDir, logger: silentLogger, tta: bad as never }), (e: unknown) => e instanceof TypeError && /Invalid tta option .*expected one of 'none', 'flip'/.test(e.message), String(bad));
  }
  await assert.rejects(load({ model: modelDir, logger: silentLogger, tta: 'zoom' as never }), /Invalid tta option "zoom": expected one of 'none', 'flip'/);
});

test('mirrorInto / flipHorizontal reverse every row', () => {
  const img = { width: 3, height: 2, data: Uint8Array.from([1, 2, 3, 4, 5, 6]) };
  assert.deepEqual([...flipHorizontal(img).data], [3, 2, 1, 6, 5, 4]);
  const buf = new Float32Array(12);
  buf.set([1, 2, 3, 4, 5, 6]);
  mirrorInto(buf, 0, buf, 6, 3, 2);
  assert.deepEqual([...buf], [1, 2, 3, 4, 5, 6, 3, 2, 1, 6, 5, 4]);
  assert.throws(() => flipHorizontal({ width: 3, height: 3, data: new Uint8Array(6) }), TypeError);
});

test('flip: each face gets the mean of classify(face) and classify(mirror) (within 1e-5), label and confidence from the mean', async () => {
  const faces = Array.from({ length: 6 }, (_, i) => grayImage(200 + i));
  const got = await flip.classify(faces);
  const orig = await plain.classify(faces);
  const mirr = await plain.classify(faces.map(flipHorizontal));
  assert.equal(got.length, faces.length);
  let differs = 0;
  for (let i = 0; i < faces.length; i++) {
    const want = meanOf(orig[i], mirr[i]);
    assertClose(got[i], want, `face ${i}`);
    const sum = Object.values(got[i].probabilities).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-4, `face ${i} sums to ${sum}`);
    if (Math.abs(got[i].confidence - orig[i].confidence) > 1e-4) differs++;
  }
  assert.ok(differs > 0, 'the mirror changes the result of asymmetric random faces');
  // One face alone gives the same as inside a batch; Buffers work as in plain mode.
  const [single] = await flip.classify([{ width: 48, height: 48, data: Buffer.from(faces[3].data) }]);
  assertClose(single, got[3], 'single face');
});

test('flip: a left-right symmetric face gives the plain result', async () => {
  const half = grayImage(31).data;
  const sym = new Uint8Array(48 * 48);
  for (let y = 0; y < 48; y++) for (let x = 0; x < 24; x++) sym[y * 48 + x] = sym[y * 48 + 47 - x] = half[y * 48 + x];
  const face = { width: 48, height: 48, data: sym };
  assert.deepEqual([...flipHorizontal(face).data], [...sym]);
  const [a] = await plain.classify([face]);
  const [b] = await flip.classify([face]);
  assertClose(b, a, 'symmetric face', 1e-6);
});

test(`flip: more faces than MAX_BATCH/2 are split into runs of at most ${MAX_BATCH} rows, results in order (both executors)`, async () => {
  const n = MAX_BATCH + 4; // 260 faces → 520 rows → runs of 256, 256, 8
  const faces = Array.from({ length: n }, (_, i) => grayImage(1000 + i));
  const orig = await plain.classify(faces);
  const mirr = await plain.classify(faces.map(flipHorizontal));
  const flipGraph = await load({ model: modelDir, backend: 'wasm', logger: silentLogger, tta: 'flip', executor: 'graph' });
  try {
    for (const clf of [flip, flipGraph]) {
      // Every run's input reaches the backend through write() (with either executor).
      const backend = tf.engine().backend;
      const write = backend.write;
      const batches: number[] = [];
      backend.write = function (values, shape, dtype) {
        if (shape.length === 4 && shape[1] === 48) batches.push(shape[0]);
        return write.call(this, values, shape, dtype);
      };
      let got: Classification[] = [];
      try {
        got = await clf.classify(faces);
      } finally {
        backend.write = write;
      }
      assert.deepEqual(batches, [256, 256, 8], clf.executor);
      assert.equal(got.length, n);
      for (const i of [0, 1, 127, 128, 129, 255, 256, 257, n - 1]) assertClose(got[i], meanOf(orig[i], mirr[i]), `${clf.executor}: face ${i}`);
    }
  } finally {
    flipGraph.dispose();
  }
});

test('flip: errors name the face as in plain mode, and no tensor leaks', async () => {
  const faces = Array.from({ length: 5 }, (_, i) => grayImage(300 + i));
  await flip.classify([faces[0]]);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 40; i++) await flip.classify([faces[i % 5]]);
  for (let i = 0; i < 10; i++) await flip.classify(faces);
  await assert.rejects(flip.classify([faces[0], { width: 40, height: 48, data: new Uint8Array(40 * 48) }]), /face 1: expected a 48x48 grayscale crop/);
  await assert.rejects(flip.classify([]), /empty batch/);
  assert.equal(tf.memory().numTensors, before);
});
