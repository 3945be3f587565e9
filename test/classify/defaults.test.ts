/**
 * The classifier's default model (issue 6): in-the-wild `nano-b-wild` when no model is given,
 * the CK+ models still loaded by name, and the crop framing each built-in model pairs with.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { listModels, load, modelsDir } from '../../src/model';
import { FRAMINGS } from '../../src/face/align';
import { createFaceCropper } from '../../src/face/pipeline';
import {
  availableModels,
  BUILTIN_MODELS,
  CANONICAL_LABELS,
  checkClassifierOptions,
  DEFAULT_MODEL,
  framingMismatch,
  loadClassifier,
  modelFraming,
  parseClassifyInput,
  setClassifierLoader,
} from '../../src/classify';
import { writeRandomModel } from '../model/helpers';

const installed = (id: string) => fs.existsSync(path.join(modelsDir() ?? '', id, 'model.json'));
const CK7 = ['anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise'];

before(async () => {
  await selectBackend({ backend: 'wasm', logger: silentLogger });
});
after(() => setClassifierLoader(null));

test('the default model is the in-the-wild nano-b-wild; the loader is asked for it when no model is given', async () => {
  assert.equal(DEFAULT_MODEL, 'nano-b-wild');
  const asked: unknown[] = [];
  setClassifierLoader(async (o) => {
    asked.push(o.model);
    throw new Error('stop');
  });
  try {
    for (const o of [undefined, {}, { model: '' }, { model: '   ' }, { model: 'nano-a' }]) {
      await assert.rejects(loadClassifier(o), /stop/);
    }
  } finally {
    setClassifierLoader(null);
  }
  assert.deepEqual(asked, ['nano-b-wild', 'nano-b-wild', 'nano-b-wild', 'nano-b-wild', 'nano-a']);
});

test('options given as a bare string (a model name) are refused, naming the fix, instead of loading the default model', async () => {
  const asked: unknown[] = [];
  setClassifierLoader(async (o) => {
    asked.push(o.model);
    throw new Error('stop');
  });
  try {
    for (const o of ['nano-b', null]) {
      await assert.rejects(loadClassifier(o as never), (e: unknown) => e instanceof TypeError && /classifier options must be an object, e\.g\. \{ model: 'nano-b-wild' \}/.test(e.message));
      assert.throws(() => checkClassifierOptions(o as never), /classifier options must be an object/);
      await assert.rejects(load(o as never), (e: unknown) => e instanceof TypeError && /load\(\) options must be an object/.test(e.message));
    }
    await assert.rejects(loadClassifier('nano-b' as never), /got the string "nano-b"/);
  } finally {
    setClassifierLoader(null);
  }
  assert.deepEqual(asked, [], 'nothing was loaded');
});

test('built-in models: in-the-wild first (fer2013 framing), the CK+ benchmark models after (ck48 framing)', () => {
  assert.deepEqual(BUILTIN_MODELS.map((m) => m.id), [
    'nano-b-wild', 'nano-b-wild-7', 'nano-a-wild', 'nano-a-wild-7', 'nano-a', 'nano-b', 'nano-a-8', 'nano-b-8',
  ]);
  assert.equal(BUILTIN_MODELS[0].id, DEFAULT_MODEL);
  for (const m of BUILTIN_MODELS) {
    const wild = m.id.includes('-wild');
    assert.equal(m.domain, wild ? 'wild' : 'ck', m.id);
    assert.equal(m.framing, wild ? 'fer2013' : 'ck48', m.id);
    assert.equal(m.classes, /-7$/.test(m.id) || ['nano-a', 'nano-b'].includes(m.id) ? 7 : 8, m.id);
    assert.ok(FRAMINGS[m.framing], `${m.framing} is a face-stage framing preset`);
    assert.match(m.description, wild ? /in-the-wild/ : /^CK\+ \(posed, lab\)/, m.id);
  }
  assert.match(BUILTIN_MODELS[0].description, /8 classes with neutral — default for live cameras/);
  // Every built-in model is registered in src/model (so it resolves by name, or says it is not installed).
  const registered = listModels().map((m) => m.id);
  for (const m of BUILTIN_MODELS) assert.ok(registered.includes(m.id), `${m.id} registered in src/model`);
  assert.equal(modelFraming(), 'fer2013');
  assert.equal(modelFraming('nano-a'), 'ck48');
  assert.equal(modelFraming(' nano-b-wild-7 '), 'fer2013');
  assert.equal(modelFraming('/some/custom/model'), undefined);
});

test('availableModels() marks missing weights and adds the matching framing', () => {
  const list = availableModels();
  for (const id of ['nano-b-wild', 'nano-b-wild-7', 'nano-a-wild', 'nano-a-wild-7', 'nano-a', 'nano-b']) {
    const m = list.find((x) => x.id === id);
    assert.ok(m, id);
    assert.equal(m.available, installed(id), `${id}: available = weights installed`);
    assert.equal(m.framing, id.includes('-wild') ? 'fer2013' : 'ck48');
  }
});

test('loadClassifier() with no model loads the shipped nano-b-wild: 8 classes including neutral', async (t) => {
  if (!installed('nano-b-wild')) return t.skip('models/nano-b-wild is not installed');
  const clf = await loadClassifier({ backend: 'wasm', logger: silentLogger });
  try {
    assert.equal(clf.name, 'nano-b-wild');
    assert.deepEqual(clf.classes, [...CANONICAL_LABELS]);
    assert.ok(clf.classes.includes('neutral'));
    const crop = { width: 48, height: 48, data: new Uint8Array(48 * 48).map((_, i) => (i * 7) % 256) };
    const [r] = await clf.classify([crop]);
    assert.ok(clf.classes.includes(r.label));
    const sum = Object.values(r.probabilities).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-3, `probabilities sum to ${sum}`);
  } finally {
    clf.dispose();
  }
});

test("an explicit 'nano-a' (a saved CK+ choice) still loads nano-a: 7 CK+ classes", async (t) => {
  if (!installed('nano-a')) return t.skip('models/nano-a is not installed');
  const clf = await loadClassifier({ model: 'nano-a', backend: 'wasm', logger: silentLogger });
  try {
    assert.equal(clf.name, 'nano-a');
    assert.deepEqual(clf.classes, CK7);
  } finally {
    clf.dispose();
  }
});

test('an in-the-wild model whose weights are not installed fails with a message naming it', async (t) => {
  const missing = BUILTIN_MODELS.map((m) => m.id).find((id) => !installed(id));
  if (!missing) return t.skip('every built-in model is installed');
  await assert.rejects(loadClassifier({ model: missing, backend: 'wasm' }), (e: Error) => e.message.includes(missing) && /not installed/.test(e.message));
});

test('a bad option keeps its kind through loadClassifier (TypeError, as from load()), with the model named and the original as cause', async (t) => {
  if (!installed(DEFAULT_MODEL)) return t.skip(`models/${DEFAULT_MODEL} is not installed`);
  const err = await loadClassifier({ backend: 'wasm', logger: silentLogger, tta: 'mirror' as never }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof TypeError, `expected a TypeError, got ${String(err)}`);
  assert.match(err.message, new RegExp(`${DEFAULT_MODEL}.*tta`, 's'));
  assert.ok(err.cause instanceof TypeError);
});

test('the face cropper defaults to the fer2013 framing that matches the default model', async () => {
  const detector = { detect: async () => [], dispose() {} };
  const cropper = await createFaceCropper({ detector: detector as never });
  try {
    assert.equal(cropper.options.framing.name, 'fer2013');
    assert.equal(cropper.options.framing.name, modelFraming(DEFAULT_MODEL));
  } finally {
    cropper.dispose();
  }
  const ck = await createFaceCropper({ detector: detector as never, framing: 'ck48' });
  assert.equal(ck.options.framing.name, 'ck48');
  ck.dispose();
});

test('crop framing travels with the data: built-in models know theirs, a custom model the one train --detect recorded, faces the one they were cropped with', async (t) => {
  // Faces: crop.framing is the cropper's framing.
  const frame = { width: 200, height: 200, format: 'gray' as const, data: Buffer.alloc(200 * 200, 120), timestamp: 0, seq: 0 };
  const kp = (x: number, y: number) => ({ x, y });
  const det = { box: { x: 70, y: 70, width: 60, height: 60 }, score: 0.9, keypoints: { rightEye: kp(88, 94), leftEye: kp(112, 94), nose: kp(100, 103), mouth: kp(100, 115), rightEar: kp(73, 100), leftEar: kp(127, 100) } };
  const detector = { detect: async () => [det], detectImage: () => [det], lastTimings: {}, options: { maxPixels: 4096 * 4096 }, dispose() {} };
  for (const framing of ['fer2013', 'ck48'] as const) {
    const cropper = await createFaceCropper({ detector: detector as never, framing });
    try {
      const faces = await cropper.process(frame);
      assert.equal(faces.length, 1);
      assert.equal(faces[0].crop.framing, framing);
    } finally {
      cropper.dispose();
    }
  }
  // Models: the registry's framing for built-ins; a custom model's recorded one, else none.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'framing-'));
  const plain = await writeRandomModel(path.join(dir, 'plain'));
  const json = JSON.parse(fs.readFileSync(path.join(plain, 'model.json'), 'utf8'));
  const detected = path.join(dir, 'detected');
  fs.cpSync(plain, detected, { recursive: true });
  fs.writeFileSync(path.join(detected, 'model.json'), JSON.stringify({ ...json, training: { framing: 'fer2013' } }));
  for (const [model, want] of [[plain, undefined], [detected, 'fer2013'], ...BUILTIN_MODELS.filter((m) => installed(m.id)).map((m) => [m.id, m.framing])] as Array<[string, string | undefined]>) {
    const clf = await loadClassifier({ model, backend: 'wasm', logger: silentLogger });
    assert.equal(clf.framing, want, model);
    clf.dispose();
  }
  if (!BUILTIN_MODELS.some((m) => installed(m.id))) t.diagnostic('no built-in model installed: only custom models checked');
  // The check the classifier node warns with.
  const crop = (framing?: string) => ({ width: 48, height: 48, data: new Uint8Array(48 * 48), ...(framing ? { framing } : {}) });
  const faces = (...f: Array<string | undefined>) => parseClassifyInput(f.map((x, id) => ({ id, crop: crop(x) })));
  assert.deepEqual(framingMismatch(faces('fer2013'), 'ck48'), { faces: 'fer2013', model: 'ck48' });
  assert.deepEqual(framingMismatch(faces(undefined, 'ck48'), 'fer2013'), { faces: 'ck48', model: 'fer2013' });
  assert.equal(framingMismatch(faces('fer2013'), 'fer2013'), null);
  assert.equal(framingMismatch(faces('fer2013'), undefined), null, 'a model without a known framing');
  assert.equal(framingMismatch(faces(undefined), 'ck48'), null, 'crops from elsewhere');
  assert.equal(framingMismatch(parseClassifyInput(crop()), 'ck48'), null, 'a gray image');
  // Part of the library API (the package's main module), like modelFraming.
  const lib = await import('../../src');
  assert.equal(lib.framingMismatch, framingMismatch);
  assert.equal(lib.modelFraming, modelFraming);
});
