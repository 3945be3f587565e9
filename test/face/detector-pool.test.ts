import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { tf } from '../../src/backend';
import { createDetectorPool, createFaceCropper, DetectorPool, FaceDetector, loadFaceDetector } from '../../src/face';
import { kWorkers } from '../../src/face/detector-pool';
import { Frame } from '../../src/frame';
import { ImageError, imageFromFrame } from '../../src/image';
import { silentLogger } from '../../src/log';
import { DEMO_FACE_COUNTS, demoPhotoDir, demoPhotoFrames } from '../../bench/stages/detect';

const noPhotos = demoPhotoDir() ? false : '@vladmandic/face-api (devDependency with the demo photos) is not installed';

let pool: DetectorPool;
let main: FaceDetector;

before(async () => {
  pool = await createDetectorPool({ threads: 2, logger: silentLogger });
  main = await loadFaceDetector({ logger: silentLogger });
});
after(() => {
  pool?.dispose();
  main?.dispose();
});

test('two worker threads find exactly the faces the main-thread detector finds, in parallel', { skip: noPhotos }, async () => {
  assert.equal(pool.threads, 2);
  assert.equal(pool.liveThreads, 2);
  assert.equal(pool.backend.name, 'wasm');
  assert.match(pool.backend.reason, /2 worker threads/);
  assert.throws(() => pool.detectImage(), /detectImageAsync/);
  const frames = demoPhotoFrames();
  const tensors = tf.memory().numTensors;
  // All six at once: two run while four wait in the backlog.
  const fromPool = await Promise.all(frames.map((f) => pool.detect(f)));
  assert.deepEqual(fromPool.map((d) => d.length), DEMO_FACE_COUNTS);
  for (let i = 0; i < frames.length; i++) assert.deepEqual(fromPool[i], await main.detect(frames[i]));
  assert.equal(tf.memory().numTensors, tensors, 'the pool allocates no tensor in this thread');
  // transfer: an image that owns its whole buffer moves to the worker (detached here); a view of
  // a larger buffer is still copied.
  const img = imageFromFrame(frames[0]);
  const owned = { ...img, data: new Uint8Array(img.data) };
  assert.deepEqual(await pool.detectImageAsync(owned, { transfer: true }), fromPool[0]);
  assert.equal(owned.data.byteLength, 0, 'moved, not copied');
  const big = new Uint8Array(img.data.length + 16);
  big.set(img.data, 16);
  const view = { ...img, data: big.subarray(16) };
  assert.deepEqual(await pool.detectImageAsync(view, { transfer: true }), fromPool[0]);
  assert.equal(view.data.byteLength, img.data.length, 'a view is copied');
  assert.ok(pool.lastTimings.model > 0, 'stage times come back from the workers');
});

test('bad images: the errors of the main-thread detector, and the pool keeps working', { skip: noPhotos }, async () => {
  await assert.rejects(pool.detectImageAsync({ width: 0, height: 0, channels: 3, data: new Uint8Array(0) }), (e: unknown) => e instanceof ImageError && e.code === 'EMPTY');
  // Too few bytes for the stated size: the worker's detector throws, the error comes back typed.
  await assert.rejects(pool.detectImageAsync({ width: 64, height: 64, channels: 3, data: new Uint8Array(10) }), (e: unknown) => e instanceof ImageError && e.code === 'BAD_ARGUMENT' && /expected 12288/.test(e.message));
  const small = await createDetectorPool({ threads: 1, maxPixels: 100, logger: silentLogger });
  try {
    await assert.rejects(small.detectImageAsync({ width: 20, height: 20, channels: 3, data: new Uint8Array(1200) }), (e: unknown) => e instanceof ImageError && e.code === 'TOO_LARGE' && /limit of 100 pixels/.test(e.message));
  } finally {
    small.dispose();
  }
  assert.equal((await pool.detect(demoPhotoFrames()[0])).length, DEMO_FACE_COUNTS[0]);
});

test('an image given up twice (transfer) while the workers are busy: the second call fails with an ImageError, not a detection that waits for ever', async () => {
  const blank = () => ({ width: 64, height: 64, channels: 3 as const, data: new Uint8Array(64 * 64 * 3) });
  const busy = [pool.detectImageAsync(blank()), pool.detectImageAsync(blank())]; // both workers: the next images wait
  const img = blank();
  const first = pool.detectImageAsync(img, { transfer: true });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('still waiting after 10 s')), 10000)));
  const second = Promise.race([pool.detectImageAsync(img, { transfer: true }), late]).then(
    () => 'detected',
    (e: unknown) => e,
  );
  assert.deepEqual(await Promise.all(busy), [[], []]);
  assert.deepEqual(await first, []);
  const e = await second;
  clearTimeout(timer);
  assert.ok(e instanceof ImageError && e.code === 'BAD_ARGUMENT' && /image data is 0 bytes/.test(e.message), String(e));
  assert.deepEqual(await pool.detectImageAsync(blank()), [], 'the workers take the next image');
});

test('options: threads and detector options are checked before any worker starts; a bad model path rejects', async () => {
  await assert.rejects(createDetectorPool({ threads: 0 }), /threads/);
  await assert.rejects(createDetectorPool({ threads: 9 }), /threads/);
  await assert.rejects(createDetectorPool({ threads: 1.5 }), /threads/);
  await assert.rejects(createDetectorPool({ threads: 1, inputSize: 10 }), /inputSize/);
  await assert.rejects(createFaceCropper({ threads: -1 }), /threads/);
  await assert.rejects(createDetectorPool({ threads: 1, modelPath: '/nonexistent/blazeface', logger: silentLogger }), /nonexistent|ENOENT|not found/i);
});

test('a worker that dies: its image fails with an error, a new worker takes its place', { skip: noPhotos }, async () => {
  const p = await createDetectorPool({ threads: 1, logger: silentLogger });
  try {
    const frame = demoPhotoFrames()[1];
    // Stopped before the image is sent to it, in the same synchronous run, so it can never answer
    // (stopped just after, a worker that got ~50 ms of CPU first answered: the image resolved).
    // The pool sees a loaded worker until its 'exit' event and sends the image to it.
    const stopped = p[kWorkers]()[0].terminate();
    const pending = p.detect(frame);
    await stopped;
    await assert.rejects(pending, /face detection failed: face detector worker stopped/);
    // The replacement loads, then detects.
    const t0 = Date.now();
    while (p.liveThreads < 1 && Date.now() - t0 < 30000) await new Promise((r) => setTimeout(r, 50));
    assert.equal(p.liveThreads, 1);
    assert.equal((await p.detect(frame)).length, DEMO_FACE_COUNTS[1]);
  } finally {
    p.dispose();
  }
});

test('dispose rejects waiting and running images and stops every worker', { skip: noPhotos }, async () => {
  const p = await createDetectorPool({ threads: 1, logger: silentLogger });
  const workers = p[kWorkers]();
  const exited = workers.map((w) => new Promise((r) => w.once('exit', r)));
  const frames = demoPhotoFrames();
  const jobs = frames.slice(0, 3).map((f) => p.detect(f));
  p.dispose();
  for (const j of jobs) await assert.rejects(j, /disposed/);
  await Promise.all(exited);
  await assert.rejects(p.detect(frames[0]), /disposed/);
});

test('the face cropper with worker threads: each source in order, the same faces and ids as in one thread', { skip: noPhotos }, async () => {
  const frames = demoPhotoFrames();
  // Two sources, three frames each (a photo repeated, then another), detection every 2nd frame.
  const sequence = (src: string): Frame[] => [0, 0, 2].map((i, k) => ({ ...frames[i + (src === 'b' ? 1 : 0)], sourceId: src, seq: k, timestamp: 1000 + 100 * k }));
  const one = await createFaceCropper({ detector: main, detectEvery: 2 });
  const expected: Record<string, Array<Array<{ box: unknown; detected: boolean }>>> = {};
  for (const src of ['a', 'b']) {
    expected[src] = [];
    for (const f of sequence(src)) expected[src].push((await one.process(f)).map((x) => ({ box: x.box, detected: x.detected })));
  }
  let next = 100;
  // A tracker id function, as the face node passes: it stays in this thread (functions cannot be cloned into a worker).
  const threaded = await createFaceCropper({ threads: 2, detectEvery: 2, tracker: { nextId: () => next++ }, logger: silentLogger });
  try {
    assert.throws(() => threaded.processImage({ width: 8, height: 8, channels: 3, data: new Uint8Array(192) }, 0), /with worker threads use process\(\) or processImageAsync\(\)/);
    // Every call made at once, without awaiting: one source's frames must still run in order.
    const calls = ['a', 'b'].flatMap((src) => sequence(src).map((f) => threaded.process(f).then((faces) => ({ src, seq: f.seq, faces }))));
    const done: string[] = [];
    calls.forEach((c) => c.then((r) => done.push(`${r.src}${r.seq}`)));
    const results = await Promise.all(calls);
    for (const src of ['a', 'b']) {
      const got = results.filter((r) => r.src === src);
      assert.deepEqual(
        got.map((r) => r.faces.map((x) => ({ box: x.box, detected: x.detected }))),
        expected[src],
        `source ${src}: same boxes, detected on frames 0 and 2 only`,
      );
      // A face keeps its id across the source's frames (the tracker saw them in order).
      assert.deepEqual(new Set(got[1].faces.map((x) => x.id)), new Set(got[0].faces.map((x) => x.id)));
      assert.deepEqual(done.filter((d) => d.startsWith(src)), [`${src}0`, `${src}1`, `${src}2`]);
    }
    const ids = results.flatMap((r) => r.faces.map((x) => `${r.src}:${x.id}`));
    assert.ok(results.every((r) => r.faces.every((x) => x.id >= 100)), 'ids from the given function');
    assert.equal(new Set(ids.map((s) => s.split(':')[1])).size, new Set(ids).size, 'no id shared by two sources');
  } finally {
    threaded.dispose();
    one.dispose();
  }
});

test('a script that never disposes the pool still exits, and one awaiting a detection gets it first', { skip: noPhotos }, () => {
  const root = path.resolve(__dirname, '../..');
  const script = `
    const { createDetectorPool } = require(${JSON.stringify(path.join(root, 'src/face'))});
    const { demoPhotoFrames } = require(${JSON.stringify(path.join(root, 'bench/stages/detect'))});
    createDetectorPool({ threads: 1 }).then((p) => p.detect(demoPhotoFrames()[0])).then((d) => console.log('faces', d.length));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60000, env: { ...process.env, EMOTIONNET_LOG: 'error' } });
  assert.equal(r.signal, null, `exited by itself (stderr: ${r.stderr})`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`faces ${DEMO_FACE_COUNTS[0]}`));
});

test('worker-thread cropper: a source forgotten (33 sources) while its frames wait still tracks them in order', async () => {
  // A pool stand-in whose detections finish when the test says (no worker needed).
  const pending: Array<() => void> = [];
  const fake = Object.create(DetectorPool.prototype) as DetectorPool;
  Object.defineProperty(fake, 'options', { value: { maxPixels: 1e7 } });
  Object.defineProperty(fake, 'lastTimings', { value: { prepare: 0, model: 0, decode: 0 } });
  Object.defineProperty(fake, 'detectImageAsync', { value: () => new Promise((r) => pending.push(() => r([]))) });
  Object.defineProperty(fake, 'dispose', { value: () => undefined });
  const cropper = await createFaceCropper({ detector: fake });
  const img = { width: 8, height: 8, channels: 3, data: new Uint8Array(192) };
  const order: string[] = [];
  const calls = [cropper.processImageAsync(img, 0, 'a').then(() => order.push('a0')), cropper.processImageAsync(img, 1, 'a').then(() => order.push('a1'))];
  // 32 other sources: 'a' is the oldest of 33 and is forgotten while its frames wait.
  for (let i = 0; i < 32; i++) calls.push(cropper.processImageAsync(img, 0, `s${i}`).then(() => 0));
  calls.push(cropper.processImageAsync(img, 2, 'a').then(() => order.push('a2')));
  while (order.length < 3) {
    await new Promise((r) => setImmediate(r));
    pending.splice(0).forEach((f) => f());
  }
  await Promise.all(calls);
  assert.deepEqual(order, ['a0', 'a1', 'a2']);
});

test('a replacement worker that dies while loading is replaced too (up to 3 times per thread)', async () => {
  const p = await createDetectorPool({ threads: 1, logger: silentLogger });
  const blank = { width: 64, height: 64, channels: 3, data: new Uint8Array(64 * 64 * 3) };
  const until = async (cond: () => boolean, what: string) => {
    const t0 = Date.now();
    while (!cond()) {
      if (Date.now() - t0 > 15000) assert.fail(what);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  try {
    const first = p[kWorkers]()[0];
    await first.terminate();
    // Its replacement starts at once; stop it before it has loaded its detector.
    await until(() => p[kWorkers]().length === 1 && p[kWorkers]()[0] !== first, 'a replacement starts');
    assert.equal(p.liveThreads, 0, 'the replacement is still loading');
    await p[kWorkers]()[0].terminate();
    await until(() => p.liveThreads === 1, 'a second replacement loads');
    assert.deepEqual(await p.detectImageAsync(blank), []);
  } finally {
    p.dispose();
  }
});

test('tfjs-node asked for: the workers run on wasm, and a warning says so', { skip: process.env.EMOTIONNET_BACKEND ? 'EMOTIONNET_BACKEND is set' : false }, async () => {
  const warnings: string[] = [];
  const p = await createDetectorPool({ threads: 1, backend: 'tfjs-node', logger: { ...silentLogger, warn: (m) => warnings.push(m) } });
  try {
    assert.equal(p.backend.name, 'wasm');
    assert.equal(p.backend.requested, 'tfjs-node');
    assert.ok(warnings.some((w) => /worker threads run on wasm, not tfjs-node/.test(w)), warnings.join('|'));
  } finally {
    p.dispose();
  }
});
