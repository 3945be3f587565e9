import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import nodeFs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { load, ModelLoadError, listModels, readModelDir, resolveModelPath, writeModelDir } from '../../src/model';
import { foldBatchNorm, inferForward, normalizeInPlace, normalizePixels, trainForward } from '../../src/model/graph';
import { countCost, resolveSpec, variantSpec, ArchSpec, REFERENCE_FULL_RES, weightLayout, withStemStride, withWidth } from '../../src/model/spec';
import { compareExecutors, grayImage, randomTrainWeights, tmpDir, toTensors, writeRandomModel } from './helpers';

const CLASSES7 = ['anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise'];
let modelDir = '';

before(async () => {
  await selectBackend({ backend: 'wasm', logger: silentLogger });
  modelDir = await writeRandomModel(path.join(tmpDir(), 'random-b'), 'nano-b', CLASSES7);
});

test('parameter counts and MACs: stride-2 stem; Nano-A concatenates, Nano-B adds; both <= 250 k parameters', () => {
  const ref = countCost(REFERENCE_FULL_RES, 7);
  assert.equal(ref.params, 141098); // the reference reconstruction with additions (~141 k, ~44 M MACs)
  assert.equal(ref.macs, 44209600);
  const a = countCost(variantSpec('nano-a'), 7);
  const b = countCost(variantSpec('nano-b'), 7);
  assert.equal(b.params, 141098);
  assert.equal(b.macs, 11052736); // every block at half resolution: ~1/4 of the reference's MACs
  assert.equal(a.params, 243035); // concatenation: each layer sees all merged maps
  assert.equal(a.macs, 17674048);
  assert.ok(a.params <= 250_000 && b.params <= 250_000);
  const a8 = countCost(variantSpec('nano-a-8'), 8);
  assert.equal(a8.params - a.params, 4 * 64 + 1); // one more dense column (4 concatenated maps of 64) + bias
  const b8 = countCost(variantSpec('nano-b-8'), 8);
  assert.equal(b8.params - b.params, 64 + 1);
  for (const v of ['nano-a', 'nano-b']) {
    const r = resolveSpec(variantSpec(v));
    assert.equal(r.nodes.length, 21);
    assert.equal(r.headSize, 6);
    assert.equal(r.headChannels, v === 'nano-a' ? 256 : 64);
  }
  assert.equal(resolveSpec(REFERENCE_FULL_RES).headSize, 12);
});

test('withStemStride: a full-resolution stem keeps every weight and multiplies the MACs; weightLayout ignores strides only', () => {
  for (const v of ['nano-a', 'nano-b']) {
    const s2 = variantSpec(v);
    const s1 = withStemStride(s2, 1);
    assert.equal(s1.nodes.find((n) => n.id === 'c1')?.stride, 1);
    assert.equal(s2.nodes.find((n) => n.id === 'c1')?.stride, 2, 'the input spec is not modified');
    assert.match(s1.name, /full-resolution stem/);
    assert.equal(countCost(s1, 7).params, countCost(s2, 7).params);
    assert.ok(countCost(s1, 7).macs > 3.5 * countCost(s2, 7).macs, 'block 1 to 3 at twice the side');
    assert.equal(resolveSpec(s1).headSize, 12);
    assert.equal(weightLayout(s1), weightLayout(s2));
    assert.deepEqual(withStemStride(s1, 2), s2, 'round trip');
  }
  // The Nano-B layout at full resolution is the reference reconstruction (same cost).
  assert.equal(countCost(withStemStride(variantSpec('nano-b'), 1), 7).macs, countCost(REFERENCE_FULL_RES, 7).macs);
  assert.notEqual(weightLayout(variantSpec('nano-a')), weightLayout(variantSpec('nano-b')), 'merge operator changes the weights');
  assert.throws(() => withStemStride({ ...variantSpec('nano-b'), nodes: [] }, 1), /no stem convolution c1/);
});

test('withWidth: a wider network of the same topology (for teachers), named as such; bad multipliers are refused', () => {
  for (const v of ['nano-a', 'nano-b']) {
    const base = variantSpec(v);
    const w2 = withWidth(base, 2);
    assert.equal(base.widthMultiplier, 1, 'the input spec is not modified');
    assert.equal(w2.widthMultiplier, 2);
    assert.match(w2.name, /\(width x2\)$/);
    const [r1, r2] = [resolveSpec(base), resolveSpec(w2)];
    r2.nodes.forEach((n, i) => assert.equal(n.outChannels, 2 * r1.nodes[i].outChannels, n.id));
    assert.ok(countCost(w2, 8).params > 3.5 * countCost(base, 8).params);
    assert.ok(countCost(w2, 8).macs > 3.5 * countCost(base, 8).macs);
    assert.notEqual(weightLayout(w2), weightLayout(base), 'another width is another weight layout');
    assert.deepEqual(withWidth(w2, 1), base, 'round trip');
    assert.equal(withWidth(withWidth(base, 1.5), 2).name, w2.name, 'the name is replaced, not stacked');
  }
  assert.equal(countCost(withWidth(variantSpec('nano-a'), 2), 8).params, 967644, 'the session-14 teacher');
  for (const bad of [0, -1, NaN, Infinity, 9]) assert.throws(() => withWidth(variantSpec('nano-b'), bad), /Width multiplier must be a number in \(0, 8\]/, String(bad));
});

test('a wider model loads by path and both executors agree (teacher exports are ordinary model dirs)', async () => {
  const spec = withWidth(variantSpec('nano-a'), 1.5);
  const dir = await writeRandomModel(path.join(tmpDir(), 'wide-a'), 'nano-a', CLASSES7, 11, spec);
  const direct = await load({ model: dir, backend: 'wasm', logger: silentLogger });
  const graph = await load({ model: dir, backend: 'wasm', logger: silentLogger, executor: 'graph' });
  try {
    assert.equal(direct.executor, 'direct');
    const faces = Array.from({ length: 5 }, (_, i) => grayImage(40 + i));
    const worst = await compareExecutors(direct, graph, faces, 'nano-a width x1.5');
    assert.ok(worst < 1e-5, `largest difference ${worst}`);
  } finally {
    direct.dispose();
    graph.dispose();
  }
});

test('resolveSpec rejects inconsistent specs with a clear message', () => {
  const bad: ArchSpec = { ...variantSpec('nano-b'), nodes: variantSpec('nano-b').nodes.map((n) => (n.id === 'c3' ? { ...n, width: 12 } : n)) };
  assert.throws(() => resolveSpec(bad), /adds tensors of different widths/);
  const undef: ArchSpec = { ...variantSpec('nano-b'), head: ['zz'] };
  assert.throws(() => resolveSpec(undef), /uses "zz" before it is defined/);
  assert.throws(() => variantSpec('nano-c'), /Unknown EmotionNet Nano variant/);
});

test('output shape: one row of class probabilities per face, for both variants', async () => {
  for (const v of ['nano-a', 'nano-b']) {
    const r = resolveSpec(variantSpec(v));
    const w = toTensors(randomTrainWeights(v, 7));
    const f = foldBatchNorm(r, w);
    const y = inferForward(r, f, tf.zeros([3, 48, 48, 1]) as tf.Tensor4D);
    assert.deepEqual(y.shape, [3, 7]);
    tf.dispose([y, ...Object.values(w), ...Object.values(f)]);
  }
});

test('BN folding: the folded graph equals the training-form graph in inference mode', async () => {
  const r = resolveSpec(variantSpec('nano-a'));
  const w = toTensors(randomTrainWeights('nano-a', 7, 3));
  const f = foldBatchNorm(r, w);
  const x = tf.tensor4d([...grayImage(1).data, ...grayImage(2).data], [2, 48, 48, 1]);
  const a = tf.tidy(() => tf.softmax(trainForward(r, w, x, false).logits));
  const b = tf.tidy(() => tf.softmax(inferForward(r, f, x)));
  const [da, db] = [await a.data(), await b.data()];
  for (let i = 0; i < da.length; i++) assert.ok(Math.abs(da[i] - db[i]) < 1e-4, `prob ${i}: ${da[i]} vs ${db[i]}`);
  tf.dispose([x, a, b, ...Object.values(w), ...Object.values(f)]);
});

test('pixel standardisation: the JS packing equals the graph op (and flat images stay finite)', async () => {
  const imgs = [grayImage(5).data, new Uint8Array(48 * 48).fill(77), grayImage(6).data.map((v) => 100 + (v >> 4))];
  const buf = new Float32Array(imgs.length * 2304);
  imgs.forEach((d, i) => buf.set(d, i * 2304));
  const ref = normalizePixels(tf.tensor4d(buf.slice(), [3, 48, 48, 1]));
  const refData = await ref.data();
  ref.dispose();
  for (let i = 0; i < 3; i++) normalizeInPlace(buf, i * 2304, 2304);
  for (let i = 0; i < buf.length; i++) assert.ok(Number.isFinite(buf[i]) && Math.abs(buf[i] - refData[i]) < 1e-3, `pixel ${i}: ${buf[i]} vs ${refData[i]}`);
});

test('load() by path: contract surface, probabilities sum to 1, label = argmax, batch of many faces', async () => {
  const clf = await load({ model: modelDir, backend: 'wasm', logger: silentLogger });
  try {
    assert.equal(clf.name, 'random-b');
    assert.deepEqual(clf.classes, CLASSES7);
    assert.equal(clf.backend.name, 'wasm');
    const faces = Array.from({ length: 5 }, (_, i) => grayImage(10 + i));
    const res = await clf.classify(faces);
    assert.equal(res.length, 5);
    for (const r of res) {
      const ps = Object.values(r.probabilities);
      assert.equal(ps.length, 7);
      assert.ok(Math.abs(ps.reduce((a, b) => a + b, 0) - 1) < 1e-4);
      assert.equal(r.confidence, Math.max(...ps));
      assert.equal(r.probabilities[r.label], r.confidence);
    }
    // the same face alone gives the same answer as inside a batch
    const [single] = await clf.classify([faces[2]]);
    assert.ok(Math.abs(single.confidence - res[2].confidence) < 1e-5);
    // Buffers and plain number arrays are accepted too
    const [fromBuf] = await clf.classify([{ width: 48, height: 48, data: Buffer.from(faces[2].data) }]);
    assert.equal(fromBuf.label, res[2].label);
  } finally {
    clf.dispose();
  }
});

test('bad input gives clear errors: wrong shape, empty batch, NaN, not an array, disposed', async () => {
  const clf = await load({ model: modelDir, backend: 'wasm', logger: silentLogger });
  await assert.rejects(clf.classify([]), /empty batch/);
  await assert.rejects(clf.classify({} as never), /expects an array/);
  await assert.rejects(clf.classify([{ width: 64, height: 48, data: new Uint8Array(64 * 48) }]), /expected a 48x48 grayscale crop, got 64x48/);
  await assert.rejects(clf.classify([{ width: 48, height: 48, data: new Uint8Array(48 * 48 * 3) }]), /6912 values, expected 2304/);
  const nan = new Float32Array(48 * 48).fill(100);
  nan[7] = NaN;
  await assert.rejects(clf.classify([grayImage(1), { width: 48, height: 48, data: nan as unknown as Uint8Array }]), /face 1: pixel 7 is NaN/);
  await assert.rejects(clf.classify([null as never]), /face 0: expected/);
  clf.dispose();
  clf.dispose(); // idempotent
  await assert.rejects(clf.classify([grayImage(1)]), /disposed/);
});

test('missing or corrupt model files give ModelLoadError with a code', async () => {
  const dir = tmpDir();
  await assert.rejects(load({ model: path.join(dir, 'nope'), logger: silentLogger }), (e: unknown) => e instanceof ModelLoadError && e.code === 'NOT_FOUND' && /nope/.test(e.message));
  // corrupt JSON
  const c1 = path.join(dir, 'c1');
  fs.cpSync(modelDir, c1, { recursive: true });
  fs.writeFileSync(path.join(c1, 'model.json'), '{ "format": "emotionnet-nano", ');
  await assert.rejects(load({ model: c1, logger: silentLogger }), (e: unknown) => e instanceof ModelLoadError && e.code === 'CORRUPT' && /not valid JSON/.test(e.message));
  // truncated weights
  const c2 = path.join(dir, 'c2');
  fs.cpSync(modelDir, c2, { recursive: true });
  const bin = fs.readFileSync(path.join(c2, 'weights.bin'));
  fs.writeFileSync(path.join(c2, 'weights.bin'), bin.subarray(0, bin.length - 100));
  await assert.rejects(load({ model: c2, logger: silentLogger }), (e: unknown) => e instanceof ModelLoadError && e.code === 'CORRUPT' && /too short/.test(e.message));
  // missing weights file
  const c3 = path.join(dir, 'c3');
  fs.cpSync(modelDir, c3, { recursive: true });
  fs.rmSync(path.join(c3, 'weights.bin'));
  await assert.rejects(load({ model: c3, logger: silentLogger }), (e: unknown) => e instanceof ModelLoadError && e.code === 'NOT_FOUND');
  // NaN in weights
  const c4 = path.join(dir, 'c4');
  fs.cpSync(modelDir, c4, { recursive: true });
  const b4 = fs.readFileSync(path.join(c4, 'weights.bin'));
  b4.writeFloatLE(NaN, 40);
  fs.writeFileSync(path.join(c4, 'weights.bin'), b4);
  await assert.rejects(load({ model: c4, logger: silentLogger }), /non-finite/);
  // some other JSON file
  const c5 = path.join(dir, 'c5');
  fs.mkdirSync(c5);
  fs.writeFileSync(path.join(c5, 'model.json'), JSON.stringify({ format: 'layers-model' }));
  await assert.rejects(load({ model: c5, logger: silentLogger }), (e: unknown) => e instanceof ModelLoadError && e.code === 'UNSUPPORTED');
  // a path to a file of the model that is not its model.json (weights.bin), or to an image
  for (const f of [path.join(c1, 'weights.bin'), path.join(c1, 'face.jpg')]) {
    if (!fs.existsSync(f)) fs.writeFileSync(f, Buffer.from([0xff, 0xd8, 0xff]));
    await assert.rejects(
      load({ model: f, logger: silentLogger }),
      (e: unknown) => e instanceof ModelLoadError && e.code === 'UNSUPPORTED' && e.message === `${f} is a file, not a model: give the model directory (with model.json and weights.bin) or its model.json`,
    );
  }
  assert.throws(() => resolveModelPath('nano-z'), /Unknown model "nano-z"/);
  // CK+ models (issue 3); the in-the-wild `*-wild` models (issue 6) are registered after them.
  assert.deepEqual(listModels().map((m) => m.id).filter((id) => !id.includes('-wild')), ['nano-a', 'nano-b', 'nano-a-8', 'nano-b-8']);
});

test('a malformed model.json (weights manifest, input size, class list) gives a CORRUPT ModelLoadError, not a TypeError or a model that refuses every face', async () => {
  const dir = tmpDir();
  const good = JSON.parse(fs.readFileSync(path.join(modelDir, 'model.json'), 'utf8'));
  type Json = typeof good;
  const cases: Array<[string, (j: Json) => void, RegExp]> = [
    ['manifest not a list', (j) => (j.weightsManifest = {}), /"weightsManifest" must be a list/],
    ['group without paths', (j) => delete j.weightsManifest[0].paths, /bad "weightsManifest" group/],
    ['paths a string', (j) => (j.weightsManifest[0].paths = 'weights.bin'), /bad "weightsManifest" group/],
    ['weights not a list', (j) => (j.weightsManifest[0].weights = null), /bad "weightsManifest" group/],
    ['null group', (j) => (j.weightsManifest = [null]), /bad "weightsManifest" group/],
    ['entry without shape', (j) => delete j.weightsManifest[0].weights[0].shape, /bad weights manifest entry .*"name":"c1\/kernel"/],
    ['negative dimension', (j) => (j.weightsManifest[0].weights[0].shape = [-3, 3, 1, 11]), /bad weights manifest entry/],
    ['weights path is a directory', (j) => (j.weightsManifest[0].paths = ['.']), /weights path .* is not a file/],
    ['input size a string', (j) => (j.spec.inputSize = '48'), /inputSize must be a whole number >= 1, got "48"/],
    ['input size 0', (j) => (j.spec.inputSize = 0), /inputSize must be a whole number >= 1, got 0/],
    ['repeated class', (j) => (j.classes = [...j.classes.slice(0, -1), j.classes[0]]), /"classes" must be distinct non-empty labels/],
    ['numeric classes', (j) => (j.classes = j.classes.map((_: string, i: number) => i)), /"classes" must be distinct non-empty labels/],
  ];
  for (const [what, edit, message] of cases) {
    const d = path.join(dir, what.replace(/ /g, '-'));
    fs.cpSync(modelDir, d, { recursive: true });
    const j = JSON.parse(JSON.stringify(good));
    edit(j);
    fs.writeFileSync(path.join(d, 'model.json'), JSON.stringify(j));
    await assert.rejects(load({ model: d, logger: silentLogger }), (e: unknown) => e instanceof ModelLoadError && e.code === 'CORRUPT' && message.test(e.message), what);
  }
});

// A save replaces weights.bin, then model.json: a crash in between left the new weights under the
// old model.json, and a checkpoint loaded with the old epoch and state but the new weights.
test('a save interrupted between its two renames leaves a model that is refused, not old metadata with new weights', () => {
  const root = tmpDir();
  const spec = variantSpec('nano-a');
  const save = (dir: string, epoch: number) =>
    writeModelDir(dir, { name: 'checkpoint', variant: 'nano-a', classes: ['a', 'b'], spec, folded: false, training: { epoch } }, { 'w/kernel': { shape: [2, 2], data: new Float32Array(4).fill(epoch) } });
  const dir = path.join(root, 'ckpt');
  save(dir, 1);
  assert.equal(readModelDir(dir).json.training?.epoch, 1);
  // Weights of another save under a model.json (the other half of an interrupted save).
  save(path.join(root, 'next'), 2);
  fs.renameSync(path.join(root, 'next', 'weights.bin'), path.join(dir, 'weights.bin'));
  assert.throws(() => readModelDir(dir), (e: unknown) => e instanceof ModelLoadError && e.code === 'CORRUPT' && /weights.bin does not belong to this model.json/.test(e.message));
  save(dir, 3);
  const { json, arrays } = readModelDir(dir);
  assert.equal(json.training?.epoch, 3);
  assert.deepEqual([...arrays['w/kernel'].data], [3, 3, 3, 3]);
});

test('a save interrupted between its renames over a checkpoint of an earlier version (no SHA-256) is refused too', (t) => {
  const dir = path.join(tmpDir(), 'ckpt');
  const save = (epoch: number) =>
    writeModelDir(dir, { name: 'checkpoint', variant: 'nano-a', classes: ['a', 'b'], spec: variantSpec('nano-a'), folded: false, training: { epoch } }, { 'w/kernel': { shape: [2, 2], data: new Float32Array(4).fill(epoch) } });
  save(1);
  // As written before model.json held the weights' SHA-256.
  const jsonPath = path.join(dir, 'model.json');
  const legacy = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  delete legacy.weightsManifest[0].sha256;
  fs.writeFileSync(jsonPath, JSON.stringify(legacy));
  assert.equal(readModelDir(dir).json.training?.epoch, 1);
  // The next save dies after its first rename (a kill, a power cut).
  const rename = nodeFs.renameSync;
  let renames = 0;
  // The module object itself: src/model/io.ts reads renameSync from it at each call.
  t.mock.method(nodeFs, 'renameSync', (from: fs.PathLike, to: fs.PathLike) => {
    if (++renames === 2) throw new Error('interrupted');
    rename(from, to);
  });
  assert.throws(() => save(2), /interrupted/);
  t.mock.restoreAll();
  // One file of each save: refused, never one save's metadata with the other's weights.
  assert.throws(() => readModelDir(dir), (e: unknown) => e instanceof ModelLoadError && e.code === 'CORRUPT' && /does not belong to this model.json/.test(e.message));
});

test('no tensor leak: numTensors unchanged after 600 classifications (bench checks 10 000)', async () => {
  const clf = await load({ model: modelDir, backend: 'wasm', logger: silentLogger });
  const faces = Array.from({ length: 8 }, (_, i) => grayImage(100 + i));
  await clf.classify([faces[0]]);
  const before = tf.memory().numTensors;
  let n = 0;
  for (let i = 0; i < 200; i++) {
    await clf.classify([faces[i % 8]]);
    n++;
  }
  for (let i = 0; i < 50; i++) n += (await clf.classify(faces)).length;
  await assert.rejects(clf.classify([grayImage(1), { width: 1, height: 1, data: new Uint8Array(1) }]));
  assert.equal(n, 600);
  assert.equal(tf.memory().numTensors, before);
  clf.dispose();
  assert.equal(tf.memory().numTensors, before - Object.keys(JSON.parse(fs.readFileSync(path.join(modelDir, 'model.json'), 'utf8')).weightsManifest[0].weights).length);
});

test('load() without a model gives the in-the-wild default (nano-b-wild, 8 classes with neutral)', async () => {
  const clf = await load({ backend: 'wasm', logger: silentLogger });
  try {
    assert.equal(clf.name, 'nano-b-wild');
    assert.ok(clf.classes.includes('neutral') && clf.classes.length === 8);
  } finally {
    clf.dispose();
  }
});
