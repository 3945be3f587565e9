import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/backend';
import { defaultBlazeFaceDir, FaceDetector, loadFaceDetector, resolveDetectorOptions } from '../../src/face';
import { Frame } from '../../src/frame';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { encodeJpeg, ImageError, imageFromFrame, warpAffine } from '../../src/image';
import { compileDirectRunner, GraphNodeDef } from '../../src/face/graph-runner';
import { fileModelHandler, freeInputSize } from '../../src/face/model-files';
import { prepareInput } from '../../src/face/preprocess';
import { addReluKernel } from '../../src/face/wasm-add-relu';
import { silentLogger } from '../../src/log';
import { DEMO_FACE_COUNTS, demoPhoto, demoPhotoDir, demoPhotoFrames, testsrcFrames } from '../../bench/stages/detect';

let detector: FaceDetector;
let tensorsBefore = 0;

before(async () => {
  detector = await loadFaceDetector({ logger: silentLogger });
  tensorsBefore = tf.memory().numTensors;
});
after(() => detector?.dispose());

const noPhotos = demoPhotoDir() ? false : '@vladmandic/face-api (devDependency with the demo photos) is not installed';

test('finds all 22 faces in the six demo photos letterboxed to 640x480, and nothing else', { skip: noPhotos }, async () => {
  const frames = demoPhotoFrames();
  const counts: number[] = [];
  for (const f of frames) {
    const dets = await detector.detect(f);
    counts.push(dets.length);
    for (const d of dets) {
      assert.ok(d.score >= 0.45 && d.score <= 1);
      assert.ok(d.box.width > 30 && d.box.width < 200, `plausible face width ${d.box.width}`);
      // The subject's right eye is on the image left of these upright, unmirrored photos.
      assert.ok(d.keypoints.rightEye.x < d.keypoints.leftEye.x);
      // Eyes inside the box, above the mouth.
      const e = d.keypoints.rightEye;
      assert.ok(e.x > d.box.x && e.x < d.box.x + d.box.width && e.y > d.box.y && e.y < d.box.y + d.box.height);
      assert.ok(d.keypoints.mouth.y > e.y);
    }
  }
  assert.deepEqual(counts, DEMO_FACE_COUNTS);
});

test('no face on ffmpeg testsrc and smptebars frames', async (t) => {
  let frames: Frame[];
  try {
    frames = [...(await testsrcFrames(8)), ...(await testsrcFrames(2, 'smptebars'))];
  } catch (e) {
    t.skip(`ffmpeg not usable: ${(e as Error).message}`);
    return;
  }
  for (const f of frames) assert.deepEqual(await detector.detect(f), []);
});

test('options: validated on a copy, minFaceSize and maxFaces apply', { skip: noPhotos }, async () => {
  assert.throws(() => resolveDetectorOptions({ inputSize: 20 }), /inputSize/);
  assert.throws(() => resolveDetectorOptions({ minConfidence: 2 }), /minConfidence/);
  assert.throws(() => resolveDetectorOptions({ maxFaces: 0 }), /maxFaces/);
  // A misspelt executor is refused (as the classifier's), not run as `direct`.
  assert.throws(() => resolveDetectorOptions({ executor: 'grph' as never }), /`executor` to be 'direct' or 'graph', got `grph`/);
  const o = { minConfidence: 0.5 };
  resolveDetectorOptions(o);
  assert.deepEqual(o, { minConfidence: 0.5 });
  const frame = demoPhotoFrames()[4]; // five faces, 50-80 px wide
  const big = await loadFaceDetector({ logger: silentLogger, minFaceSize: 70, maxFaces: 2 });
  try {
    const dets = await big.detect(frame);
    assert.ok(dets.length >= 1 && dets.length <= 2);
    assert.ok(dets.every((d) => d.box.width >= 70));
  } finally {
    big.dispose();
  }
});

test('gray and JPEG frames are accepted; a blank frame gives []', { skip: noPhotos }, async () => {
  const rgb = demoPhotoFrames()[0];
  const gray = Buffer.alloc(640 * 480);
  for (let i = 0; i < gray.length; i++) gray[i] = (rgb.data[3 * i] * 77 + rgb.data[3 * i + 1] * 150 + rgb.data[3 * i + 2] * 29) >> 8;
  assert.equal((await detector.detect({ ...rgb, format: 'gray', data: gray })).length, 3);
  const jpeg = encodeJpeg({ width: 640, height: 480, channels: 3, data: rgb.data });
  assert.equal((await detector.detect({ ...rgb, format: 'jpeg', data: jpeg })).length, 3);
  assert.deepEqual(await detector.detect({ ...rgb, data: Buffer.alloc(640 * 480 * 3, 90) }), []);
});

test('bad frames: clear errors, never a crash', async () => {
  const base: Frame = { width: 64, height: 48, format: 'rgb24', data: Buffer.alloc(64 * 48 * 3), timestamp: 0, seq: 0, sourceId: 't' };
  await assert.rejects(detector.detect({ ...base, width: 0 }), (e: unknown) => e instanceof ImageError && e.code === 'EMPTY');
  await assert.rejects(detector.detect({ ...base, data: Buffer.alloc(10) }), /expected 9216/);
  const jpeg = encodeJpeg({ width: 64, height: 48, channels: 3, data: new Uint8Array(64 * 48 * 3) });
  await assert.rejects(detector.detect({ ...base, format: 'jpeg', data: jpeg.subarray(0, 200) }), (e: unknown) => e instanceof ImageError && e.code === 'CORRUPT');
  // 8K raw frame: refused before any work (the default limit is 4096x4096).
  const k8 = { ...base, width: 7680, height: 4320, data: Buffer.alloc(7680 * 4320 * 3) };
  await assert.rejects(detector.detect(k8), (e: unknown) => e instanceof ImageError && e.code === 'TOO_LARGE');
  // A decoded image whose bytes do not match its size (library callers of detectImage): an
  // ImageError, not ten faces at NaN.
  assert.throws(() => detector.detectImage({ width: 64, height: 64, channels: 3, data: new Uint8Array(10) }), (e: unknown) => e instanceof ImageError && e.code === 'BAD_ARGUMENT' && /expected 12288/.test(e.message));
  assert.throws(() => detector.detectImage({ width: 4, height: 4, channels: 2 as never, data: new Uint8Array(32) }), (e: unknown) => e instanceof ImageError && e.code === 'BAD_ARGUMENT');
  // A fractional width or height whose product matches the bytes: an ImageError, not ten faces at NaN.
  await assert.rejects(detector.detect({ ...base, width: 1.5, height: 2, format: 'gray', data: Buffer.alloc(3) }), (e: unknown) => e instanceof ImageError && e.code === 'EMPTY');
  assert.throws(() => detector.detectImage({ width: 1.5, height: 2, channels: 1, data: new Uint8Array(3) }), (e: unknown) => e instanceof ImageError && e.code === 'EMPTY');
  // Tiny frames still work (the network input is padded).
  assert.deepEqual(await detector.detect({ ...base, width: 8, height: 8, data: Buffer.alloc(8 * 8 * 3) }), []);
});

test('no tensor leak: repeated detection keeps the tensor count; dispose frees the weights', { skip: noPhotos }, async () => {
  const frames = demoPhotoFrames().slice(0, 2);
  await detector.detect(frames[0]);
  const n = tf.memory().numTensors;
  assert.equal(n, tensorsBefore);
  for (let i = 0; i < 6; i++) await detector.detect(frames[i % 2]);
  assert.equal(tf.memory().numTensors, n);
  const start = tf.memory().numTensors;
  const other = await loadFaceDetector({ logger: silentLogger, inputSize: 128 });
  assert.ok(tf.memory().numTensors > start);
  await other.detect(frames[0]);
  other.dispose();
  assert.equal(tf.memory().numTensors, start);
  assert.throws(() => other.detectImage({ width: 4, height: 4, channels: 1, data: new Uint8Array(16) }), /disposed/);
});

test('the direct executor gives exactly the GraphModel executor results', { skip: noPhotos }, async () => {
  assert.equal(detector.executor, 'direct');
  const viaGraph = await loadFaceDetector({ logger: silentLogger, executor: 'graph' });
  try {
    assert.equal(viaGraph.executor, 'graph');
    for (const f of demoPhotoFrames().slice(0, 3)) {
      assert.deepEqual(await detector.detect(f), await viaGraph.detect(f));
    }
  } finally {
    viaGraph.dispose();
  }
});

test('inputs padded to 16 (odd stride-16 grid) give the same faces as 32-aligned ones, close-ups too', { skip: noPhotos }, async () => {
  const photo = demoPhoto(1);
  const [ref] = (await detector.detect(photo)).sort((a, b) => b.score - a.score);
  for (const faceWidth of [400, 200, 100]) {
    // A 640x480 view centred on the face, scaled so the face is about faceWidth px wide…
    const s = ref.box.width / faceWidth;
    const cx = ref.box.x + ref.box.width / 2;
    const cy = ref.box.y + ref.box.height / 2;
    const view = warpAffine(photo, [s, 0, cx - 320 * s, 0, s, cy - 240 * s], 640, 480);
    // …and the same view with 32 black rows below: same scale, but a 192x160 network input
    // (even stride-16 grid) instead of 192x144 (odd).
    const tall = { width: 640, height: 512, channels: 3 as const, data: new Uint8Array(640 * 512 * 3) };
    tall.data.set(view.data);
    const a = detector.detectImage(view).sort((p, q) => q.score - p.score)[0];
    const b = detector.detectImage(tall).sort((p, q) => q.score - p.score)[0];
    assert.ok(a && b, `face of ${faceWidth} px found in both`);
    const tol = 0.05 * faceWidth;
    for (const k of ['rightEye', 'leftEye', 'mouth'] as const) {
      assert.ok(Math.hypot(a.keypoints[k].x - b.keypoints[k].x, a.keypoints[k].y - b.keypoints[k].y) < tol, `${k} at ${faceWidth} px`);
    }
    assert.ok(Math.abs(a.box.y - b.box.y) < tol && Math.abs(a.box.width - b.box.width) < tol);
  }
});

test('input preparation: a reused buffer gives the same input as a fresh one; other geometries get a new one', { skip: noPhotos }, () => {
  const [a, b] = demoPhotoFrames().map((f) => imageFromFrame(f));
  const first = prepareInput(a, 192, 16);
  assert.deepEqual([first.geo.inputWidth, first.geo.inputHeight], [192, 144]);
  const reused = prepareInput(b, 192, 16, first);
  assert.equal(reused.data, first.data, 'same geometry: buffer reused');
  assert.deepEqual(reused.data, prepareInput(b, 192, 16).data);
  // A frame with padding (4:3 content in a 176x144 input), then one with another geometry, then back.
  const small = { width: 320, height: 200, channels: 3 as const, data: a.data.subarray(0, 320 * 200 * 3) };
  const p1 = prepareInput(small, 176, 16, reused);
  assert.notEqual(p1.data, reused.data, 'other geometry: new buffer');
  const fresh = prepareInput(small, 176, 16);
  assert.deepEqual(p1.data, fresh.data);
  const p2 = prepareInput(small, 176, 16, p1);
  assert.equal(p2.data, p1.data);
  assert.deepEqual(p2.data, fresh.data);
  // The padding rows stay black (-1) in the reused buffer.
  const { inputWidth, contentHeight } = p2.geo;
  assert.ok(p2.geo.inputHeight > contentHeight);
  assert.ok(p2.data.subarray(contentHeight * inputWidth * 3).every((v) => v === -1));
});

test('direct executor: kernel calls (fused Add+Relu or not) and engine calls give the GraphModel outputs, without leaking backend memory', { skip: noPhotos }, async () => {
  let json: { modelTopology: { node: GraphNodeDef[] } } | null = null;
  const model = await loadGraphModel(fileModelHandler(`${defaultBlazeFaceDir()}/blazeface.json`, (j) => {
    freeInputSize(j);
    json = j as unknown as { modelTopology: { node: GraphNodeDef[] } };
  }));
  try {
    const nodes = json!.modelTopology.node;
    const names = nodes.filter((n) => n.op === 'Reshape' && n.input?.length).map((n) => n.input![0]);
    const kernel = compileDirectRunner(nodes, model.weights, names, 'kernel');
    const unfused = compileDirectRunner(nodes, model.weights, names, 'kernel', false);
    const ops = compileDirectRunner(nodes, model.weights, names, 'ops');
    const { data, geo } = prepareInput(imageFromFrame(demoPhotoFrames()[1]), 192, 16);
    const x = tf.tensor4d(data, [1, geo.inputHeight, geo.inputWidth, 3]);
    const buffersBefore = tf.engine().backend.numDataIds();
    const tensorsBefore = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const viaGraph = model.execute(x, names) as tf.Tensor[];
      const viaKernel = kernel(x);
      const viaOps = ops(x);
      const viaUnfused = unfused(x);
      assert.equal(viaKernel.length, names.length);
      viaGraph.forEach((g, k) => {
        assert.deepEqual(viaKernel[k].shape, g.shape);
        assert.deepEqual(viaKernel[k].dataSync(), g.dataSync());
        assert.deepEqual(viaUnfused[k].dataSync(), g.dataSync());
        assert.deepEqual(viaOps[k].dataSync(), g.dataSync());
      });
      [...viaGraph, ...viaKernel, ...viaOps, ...viaUnfused].forEach((t) => t.dispose());
    }
    assert.equal(tf.memory().numTensors, tensorsBefore);
    assert.equal(tf.engine().backend.numDataIds(), buffersBefore, 'no intermediate buffer left on the backend');
    x.dispose();
    assert.throws(() => compileDirectRunner([{ name: 'in', op: 'Placeholder' }, { name: 'y', op: 'Sigmoid', input: ['in'] }], model.weights, ['y']), /unsupported op Sigmoid/);
  } finally {
    model.dispose();
  }
});

test('fused relu(a + b): the same values as tf.relu(tf.add(a, b)), fallbacks for other shapes, no leak', () => {
  const backend = tf.engine().backend;
  const { fn, fused } = addReluKernel(tf.getBackend(), backend);
  // One SIMD pass on wasm (where WebAssembly SIMD is available, as in every Node >= 16.4).
  assert.equal(fused, tf.getBackend() === 'wasm');
  assert.equal(addReluKernel(tf.getBackend(), backend, false).fused, false);
  const cases: Array<[number[], number[]]> = [
    [[1, 9, 12, 24], [1, 9, 12, 24]], // the fused case
    [[1, 3, 5, 3], [1, 3, 5, 3]], // 45 floats: not a multiple of 4
    [[1, 4, 4, 8], [8]], // broadcasting
  ];
  const ids = backend.numDataIds();
  for (const [sa, sb] of cases) {
    const a = tf.randomNormal(sa);
    const b = tf.randomNormal(sb);
    // exact zeros (a + (-a)) as well as random sums
    const negA = sa.join() === sb.join() ? tf.neg(a) : b;
    for (const y of [b, negA]) {
      const got = tf.engine().makeTensorFromTensorInfo(fn(a, y));
      const want = tf.tidy(() => tf.relu(tf.add(a, y)));
      assert.deepEqual(got.shape, want.shape);
      assert.deepEqual(got.dataSync(), want.dataSync());
      tf.dispose([got, want]);
    }
    tf.dispose([a, b, negA]);
  }
  assert.equal(backend.numDataIds(), ids, 'every buffer released');
});
