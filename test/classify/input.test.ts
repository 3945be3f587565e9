/**
 * The classifier stage's input handling: crops given as plain arrays (a JSON round trip), large
 * inputs classified in bounded chunks that yield to the event loop, and the rate meter of the
 * status lines.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { modelsDir } from '../../src/model';
import {
  Classification,
  CLASSIFY_CHUNK,
  classifyInput,
  EmotionClassifier,
  GrayImage,
  loadClassifier,
  parseClassifyInput,
  RateMeter,
  toCrop,
} from '../../src/classify';
import { variantSpec } from '../../src/model/spec';
import { grayImage, tmpDir, writeRandomModel } from '../model/helpers';

const CLASSES = ['anger', 'happy', 'sadness'];
const gray = (v: number, w = 48, h = 48) => ({ width: w, height: h, data: new Uint8Array(w * h).fill(v) });
/** Distinct 48x48 images, so order mistakes show. */
const images = (n: number) => Array.from({ length: n }, (_, i) => ({ width: 48, height: 48, data: new Uint8Array(48 * 48).map((_, j) => (i * 31 + j * 7) % 256) }));

/** A stand-in classifier: the label is a function of the mean pixel; records each batch. `busyMs`: synchronous work per batch. */
function fake(busyMs = 0) {
  const calls: Array<{ size: number; at: number }> = [];
  let clock = 0;
  const clf: EmotionClassifier = {
    name: 'fake',
    classes: CLASSES,
    backend: { name: 'cpu', label: 'cpu', requested: 'auto', reason: 'test' } as EmotionClassifier['backend'],
    cost: { params: 0, macs: 0 },
    inputSize: 48,
    async classify(faces: GrayImage[]): Promise<Classification[]> {
      calls.push({ size: faces.length, at: clock });
      const end = performance.now() + busyMs;
      while (performance.now() < end) {
        /* a model busy on the main thread */
      }
      return faces.map((f) => {
        const mean = f.data.reduce((s, v) => s + v, 0) / f.data.length;
        const p = mean / 255;
        return { label: p > 0.5 ? 'happy' : 'sadness', confidence: Math.max(p, 1 - p), probabilities: { anger: 0, happy: p, sadness: 1 - p } };
      });
    },
    dispose() {},
  };
  return { clf, calls, tick: () => clock++ };
}

describe('crops as plain arrays (after a JSON round trip, e.g. through MQTT)', () => {
  test('a face whose crop.data is an array of integers 0-255, or a JSON-serialised Buffer, is classified like the Buffer', async () => {
    const buf = Buffer.from(images(1)[0].data);
    const face = { id: 1, crop: { width: 48, height: 48, data: buf } };
    const asArray = { id: 1, crop: { width: 48, height: 48, data: Array.from(buf) } };
    const roundTrip = JSON.parse(JSON.stringify([face]))[0];
    assert.deepEqual(Object.keys(roundTrip.crop.data), ['type', 'data']); // {type: 'Buffer', data: [...]}
    const { clf } = fake();
    const results = [];
    for (const f of [face, asArray, roundTrip]) {
      const input = parseClassifyInput([f]);
      assert.ok(input.images[0].data instanceof Uint8Array);
      assert.deepEqual(Buffer.from(input.images[0].data), buf);
      results.push((await classifyInput(clf, input)).results[0]);
    }
    assert.deepEqual(results[1], results[0]);
    assert.deepEqual(results[2], results[0]);
    // a gray image (no face node) with an array, and a resized one, too
    assert.equal(parseClassifyInput({ width: 2, height: 1, data: [0, 255] }).images[0].data.length, 2);
    assert.equal((await classifyInput(clf, parseClassifyInput({ width: 4, height: 2, data: [9, 9, 9, 9, 200, 200, 200, 200] }))).results.length, 1);
  });

  test("a custom model's classes named like Object members (__proto__, constructor) stay plain entries", async () => {
    const { clf } = fake();
    const weird: EmotionClassifier = {
      ...clf,
      classes: ['__proto__', 'constructor', 'happy'],
      async classify(faces: GrayImage[]) {
        // JSON.parse makes `__proto__` an own key, as a model's metadata would.
        return faces.map(() => ({ label: '__proto__', confidence: 0.7, probabilities: JSON.parse('{"__proto__": 0.7, "constructor": 0.2, "happy": 0.1}') }));
      },
    };
    const [r] = (await classifyInput(weird, parseClassifyInput(images(1)))).results;
    assert.deepEqual(Object.keys(r.probabilities), ['__proto__', 'constructor', 'happy']);
    assert.equal(Object.getPrototypeOf(r.probabilities), Object.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(r.probabilities, '__proto__')?.value, 0.7);
    assert.equal(r.label, '__proto__');
  });

  test('wrong crop data is rejected with an error that says what is expected and what was received', () => {
    const crop = (data: unknown, w = 48, h = 48) => [{ id: 1, crop: { width: w, height: h, data } }];
    const cases: Array<[unknown, RegExp]> = [
      [crop('abc'), /^payload\[0\]\.crop\.data must be a Buffer or Uint8Array of width\*height gray bytes \(or an array of width\*height integers 0-255\), got a string$/],
      // what JSON.stringify makes of a Uint8Array
      [crop(JSON.parse(JSON.stringify(new Uint8Array(2304)))), /crop\.data must be a Buffer or Uint8Array .* got an object with keys 0, 1, 2, … \(2304 keys\)$/],
      [crop(undefined), /crop\.data must be a Buffer or Uint8Array .* got undefined$/],
      [crop(new Array(100).fill(1)), /^payload\[0\]\.crop must be a gray image with width\*height bytes \(got 48x48 with 100 values\)$/],
      [crop([...new Array(2303).fill(1), 256]), /^payload\[0\]\.crop\.data\[2303\] must be an integer 0-255 \(a gray byte\), got 256$/],
      [crop([-1, ...new Array(2303).fill(1)]), /data\[0\] must be an integer 0-255 \(a gray byte\), got -1$/],
      [crop([1.5, ...new Array(2303).fill(1)]), /data\[0\] must be an integer 0-255 \(a gray byte\), got 1\.5$/],
      [crop(['7', ...new Array(2303).fill(1)]), /data\[0\] must be an integer 0-255 \(a gray byte\), got a string$/],
      [crop([1, 2], 2.5, 1), /^payload\[0\]\.crop must have an integer width and height >= 1, got 2\.5x1$/],
      [[{ id: 1, crop: 'x' }], /^payload\[0\]\.crop must be a gray image \{width, height, data\}, got a string$/],
      [[{ id: 1, box: {} }], /^payload\[0\] has no 48x48 gray crop \(face\.crop\); connect the face crop node first$/],
    ];
    for (const [payload, re] of cases) {
      assert.throws(() => parseClassifyInput(payload), (e: Error & { key?: string }) => {
        assert.match(e.message, re);
        assert.equal(e.key, /has no 48x48/.test(e.message) ? 'no-crop' : 'bad-crop');
        return true;
      });
    }
  });
});

describe('large inputs are classified in bounded chunks that yield to the event loop', () => {
  test('all faces of a frame (up to CLASSIFY_CHUNK) still go in ONE classify() call', async () => {
    const { clf, calls } = fake();
    await classifyInput(clf, parseClassifyInput(images(CLASSIFY_CHUNK)));
    assert.deepEqual(calls.map((c) => c.size), [CLASSIFY_CHUNK]);
  });

  test('a timer fires between chunks; results are identical and in order; faces get emotion only at the end', async () => {
    const n = 10 * CLASSIFY_CHUNK + 5;
    const { clf, calls, tick } = fake(3);
    const reference = (await fake().clf.classify(images(n))).map((r) => r.label);
    const faces = images(n).map((crop, id) => ({ id, crop }));
    const input = parseClassifyInput(faces);
    const timer = setInterval(tick, 1);
    let result;
    try {
      result = await classifyInput(clf, input);
    } finally {
      clearInterval(timer);
    }
    assert.deepEqual(calls.map((c) => c.size), [...new Array(10).fill(CLASSIFY_CHUNK), 5]);
    // A 1 ms interval ran while the input was classified: between most chunks, not only at the end
    // (each chunk keeps the thread busy for 3 ms; without yielding the interval could not run).
    const gapsWithTimer = calls.slice(1).filter((c, i) => c.at > calls[i].at).length;
    assert.ok(gapsWithTimer >= 5, `timer fired in ${gapsWithTimer} of ${calls.length - 1} gaps: ${calls.map((c) => c.at).join(',')}`);
    assert.deepEqual(result.results.map((r) => r.label), reference);
    assert.deepEqual(faces.map((f) => (f as { emotion?: Classification }).emotion?.label), reference);
  });

  test('an aborted signal stops between chunks: no more classify() calls, no emotion attached', async () => {
    const { clf, calls } = fake();
    const faces = images(4 * CLASSIFY_CHUNK).map((crop, id) => ({ id, crop }));
    const ac = new AbortController();
    const origClassify = clf.classify.bind(clf);
    clf.classify = async (f) => {
      const r = await origClassify(f);
      if (calls.length === 2) ac.abort(new Error('closed'));
      return r;
    };
    await assert.rejects(classifyInput(clf, parseClassifyInput(faces), { signal: ac.signal }), /closed/);
    assert.equal(calls.length, 2);
    assert.ok(faces.every((f) => !('emotion' in f)));
    await assert.rejects(classifyInput(clf, parseClassifyInput(images(1)), { chunkSize: 0 }), /`chunkSize` to be an integer >= 1/);
  });

  test('big gray images are resized chunk by chunk, with the same results as resizing up front', async () => {
    const big = Array.from({ length: 3 * CLASSIFY_CHUNK }, (_, i) => gray((i * 37) % 256, 96, 64));
    const { clf } = fake();
    const chunked = await classifyInput(clf, parseClassifyInput(big));
    const oneBatch = await classifyInput(clf, parseClassifyInput(big), { chunkSize: big.length });
    assert.deepEqual(chunked.results, oneBatch.results);
  });
});

const installed = (id: string) => fs.existsSync(path.join(modelsDir() ?? '', id, 'model.json'));

describe('a custom model with another input size', () => {
  before(async () => {
    await selectBackend({ backend: 'wasm', logger: silentLogger });
  });

  test('48x48 face crops and gray images of any size are resized to the model\'s input size (64x64), not rejected', async () => {
    const dir = await writeRandomModel(path.join(tmpDir(), 'my-model-64'), 'nano-b', ['anger', 'happy', 'sadness'], 3, { ...variantSpec('nano-b'), inputSize: 64 });
    const clf = await loadClassifier({ model: dir, backend: 'wasm', logger: silentLogger });
    try {
      assert.equal(clf.inputSize, 64);
      const crop = grayImage(5);
      const face: { id: number; crop: typeof crop; emotion?: Classification } = { id: 1, crop };
      const r = await classifyInput(clf, parseClassifyInput([face]));
      assert.equal(r.results.length, 1);
      assert.equal(face.emotion?.label, r.results[0].label);
      assert.equal((await classifyInput(clf, parseClassifyInput(gray(90, 100, 30)))).results.length, 1);
      // The same as classifying the crop resized to 64x64 up front.
      const [direct] = await clf.classify([toCrop(crop, 'crop', 64)]);
      assert.equal(r.results[0].label, direct.label);
      for (const k of clf.classes) assert.equal(r.results[0].probabilities[k], Math.round(direct.probabilities[k] * 1e4) / 1e4, k);
    } finally {
      clf.dispose();
    }
  });
});

describe('with the shipped model', () => {
  before(async () => {
    await selectBackend({ backend: 'wasm', logger: silentLogger });
  });

  for (const executor of ['direct', 'graph'] as const) {
    test(`${executor} executor: chunked results equal one classify() call; no tensor is left behind`, async (t) => {
      if (!installed('nano-b')) return t.skip('models/nano-b is not installed');
      const clf = await loadClassifier({ model: 'nano-b', backend: 'wasm', executor, logger: silentLogger });
      try {
        const imgs = images(3 * CLASSIFY_CHUNK + 7);
        const whole = await clf.classify(imgs);
        const before = tf.memory().numTensors;
        const r = await classifyInput(clf, parseClassifyInput(imgs));
        assert.equal(tf.memory().numTensors, before, 'tensors after = before');
        assert.equal(r.results.length, imgs.length);
        const round = (p: number) => Math.round(p * 1e4) / 1e4;
        r.results.forEach((c, i) => {
          assert.equal(c.label, whole[i].label, `image ${i}`);
          for (const k of clf.classes) assert.equal(c.probabilities[k], round(whole[i].probabilities[k]), `image ${i} ${k}`);
        });
      } finally {
        clf.dispose();
      }
    });
  }
});

describe('RateMeter', () => {
  test('a steady 10 marks/s ramps up over the first second, then reads exactly 10, also once the window is full', () => {
    let now = 1_000_000;
    const meter = new RateMeter(2000, () => now);
    const seen: number[] = [];
    for (let i = 0; i <= 50; i++) {
      meter.mark(1);
      seen.push(meter.rate());
      now += 100;
    }
    assert.equal(seen[0], 1, 'one mark: its count over one second');
    assert.deepEqual(seen.slice(1, 10).map((r) => Math.round(r * 10) / 10), [1, 2, 3, 4, 5, 6, 7, 8, 9], 'what was done in the first second');
    assert.deepEqual(new Set(seen.slice(10)), new Set([10]), seen.join(' '));
  });

  test('after the clock steps back (NTP), a steady 10 marks/s still reads 10, not the marks since the step', () => {
    let now = 1_764_000_000_000;
    const meter = new RateMeter(2000, () => now);
    for (let i = 0; i < 30; i++, now += 100) meter.mark(1);
    now -= 3_600_000; // the wall clock steps back an hour
    for (let i = 0; i < 600; i++, now += 100) meter.mark(1);
    now -= 100;
    assert.equal(meter.rate(), 10);
  });

  test('a burst (a backlog right after a deploy) does not read as a high rate', () => {
    const meter = new RateMeter(2000);
    meter.mark(1, 0);
    meter.mark(1, 50);
    meter.mark(1, 100);
    assert.equal(meter.rate(100), 2, 'two items after the first mark, over one second (not 20/s)');
    assert.equal(meter.rate(500), 2);
  });

  test('30 fps and counts per mark (faces/s): exact; sparse marks; falls to 0 a window after the last mark', () => {
    let now = 0;
    const meter = new RateMeter(2000, () => now);
    for (let i = 0; i < 90; i++) {
      meter.mark(3, (i * 1000) / 30);
    }
    const last = (89 * 1000) / 30;
    now = last;
    assert.ok(Math.abs(meter.rate() - 90) < 1e-9, `3 faces a frame at 30 fps: ${meter.rate()}`);
    now = last + 1000; // stopped: the rate decays ...
    assert.ok(meter.rate() < 90 && meter.rate() > 0);
    now = last + 2001; // ... to 0 once the last mark is a window old
    assert.equal(meter.rate(), 0);
    const sparse = new RateMeter(2000);
    sparse.mark(1, 0);
    sparse.mark(1, 10_000);
    assert.equal(sparse.rate(10_000), 0.1);
    const lone = new RateMeter(2000);
    lone.mark(5, 0);
    assert.equal(lone.rate(0), 5, 'a lone message of 5 faces: 5/s, not 0');
    assert.equal(lone.rate(1000), 5);
    assert.ok(Math.abs(lone.rate(1500) - 5 / 1.5) < 1e-9, 'then it decays with the time since the mark');
    assert.equal(lone.rate(2000), 0, 'a window later: 0');
  });
});
