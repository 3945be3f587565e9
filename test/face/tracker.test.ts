import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { appearanceDescriptor, checkFaceCropperOptions, createFaceCropper, Detection, FaceDetector, FacePipeline, FaceTracker, loadFaceDetector } from '../../src/face';
import { silentLogger } from '../../src/log';
import { demoPhotoDir, movingClip, trackIdKept } from '../../bench/stages/detect';

/** A synthetic detection of a w-wide face centred at (cx, cy). */
function det(cx: number, cy: number, w = 60): Detection {
  const kp = (dx: number, dy: number) => ({ x: cx + dx * w, y: cy + dy * w });
  return {
    box: { x: cx - w / 2, y: cy - w / 2, width: w, height: w },
    score: 0.9,
    keypoints: { rightEye: kp(-0.2, -0.1), leftEye: kp(0.2, -0.1), nose: kp(0, 0.05), mouth: kp(0, 0.25), rightEar: kp(-0.45, 0), leftEar: kp(0.45, 0) },
  };
}

/** A descriptor from a random-ish but reproducible "face" pattern. */
function look(seed: number): Float32Array {
  const data = new Uint8Array(48 * 48);
  let s = seed * 9301 + 49297;
  for (let i = 0; i < data.length; i++) {
    s = (s * 9301 + 49297) % 233280;
    data[i] = Math.floor((s / 233280) * 255);
  }
  return appearanceDescriptor({ width: 48, height: 48, data });
}

test('two faces moving across keep their ids; order of detections does not matter', () => {
  const tr = new FaceTracker();
  const seen: Array<[number, number]> = [];
  for (let i = 0; i < 60; i++) {
    const a = det(100 + 4 * i, 200);
    const b = det(500 - 4 * i, 220); // they cross around frame 50
    // Results come back in the order of the detections.
    const out = tr.update(i % 2 ? [a, b] : [b, a], i * 33);
    seen.push(i % 2 ? [out[0].id, out[1].id] : [out[1].id, out[0].id]);
  }
  assert.ok(seen.every(([a, b]) => a === seen[0][0] && b === seen[0][1] && a !== b), JSON.stringify(seen.slice(0, 3)));
});

test('between detections, predict() advances boxes and keypoints by the measured velocity', () => {
  const tr = new FaceTracker();
  for (let i = 0; i < 5; i++) tr.update([det(100 + 10 * i, 100, 60)], i * 33);
  const p1 = tr.predict(5 * 33);
  const p2 = tr.predict(6 * 33);
  assert.equal(p1.length, 1);
  assert.equal(p1[0].detected, false);
  assert.equal(p1[0].id, 1);
  assert.ok(Math.abs(p1[0].box.x + 30 - 150) < 2, `x ${p1[0].box.x + 30}`);
  assert.ok(Math.abs(p2[0].box.x + 30 - 160) < 3);
  // Keypoints move with the box.
  assert.ok(Math.abs(p2[0].keypoints.rightEye.x - (p2[0].box.x + 30 - 12)) < 1e-6);
  // The next detection continues the same track.
  assert.equal(tr.update([det(170, 100)], 7 * 33)[0].id, 1);
});

test('a face missing for a few frames is held, then keeps its id; after maxMissed it leaves the view', () => {
  const tr = new FaceTracker({ maxMissed: 5 });
  for (let i = 0; i < 5; i++) tr.update([det(200, 200)], i * 33);
  // Held (reported as undetected) for holdFrames = 2 missed detections, then not reported.
  for (let i = 5; i < 7; i++) assert.deepEqual(tr.update([], i * 33).map((f) => [f.id, f.detected]), [[1, false]]);
  assert.deepEqual(tr.update([], 7 * 33), []);
  assert.equal(tr.update([det(202, 200)], 8 * 33)[0].id, 1);
  for (let i = 9; i < 20; i++) tr.update([], i * 33);
  assert.equal(tr.size, 0);
  // Without an appearance descriptor a returning face cannot be re-identified: new id.
  assert.equal(tr.update([det(200, 200)], 20 * 33)[0].id, 2);
});

test('re-identification after a short gap: same look near where it left → same id; another look → new id', () => {
  const tr = new FaceTracker({ maxMissed: 3, reidFrames: 60 });
  const alice = look(1);
  const bob = look(2);
  for (let i = 0; i < 10; i++) tr.update([{ ...det(100 + i, 200), descriptor: alice }, { ...det(400, 200), descriptor: bob }], i * 33);
  // Alice leaves for 20 frames (beyond maxMissed), Bob stays.
  for (let i = 10; i < 30; i++) tr.update([{ ...det(400, 200), descriptor: bob }], i * 33);
  let out = tr.update([{ ...det(120, 205), descriptor: alice }, { ...det(400, 200), descriptor: bob }], 30 * 33);
  assert.deepEqual(out.map((f) => f.id).sort(), [1, 2]);
  // A stranger appearing where Alice was gets a new id.
  for (let i = 31; i < 40; i++) tr.update([{ ...det(400, 200), descriptor: bob }], i * 33);
  out = tr.update([{ ...det(120, 205), descriptor: look(3) }], 40 * 33);
  assert.equal(out[0].id, 3);
  // Seen far away but looking exactly like Bob (who just left): re-identified anywhere.
  for (let i = 41; i < 50; i++) tr.update([{ ...det(120, 205), descriptor: look(3) }], i * 33);
  out = tr.update([{ ...det(120, 205), descriptor: look(3) }, { ...det(600, 400), descriptor: bob }], 50 * 33);
  assert.deepEqual(out.map((f) => f.id).sort(), [2, 3]);
});

/** A unit descriptor whose similarity (dot product) with `base` is exactly `s`. */
function lookLike(base: Float32Array, s: number, seed: number): Float32Array {
  const other = look(seed);
  let dot = 0;
  for (let i = 0; i < base.length; i++) dot += other[i] * base[i];
  const orth = other.map((v, i) => v - dot * base[i]);
  const n = Math.hypot(...orth);
  return base.map((v, i) => s * v + Math.sqrt(1 - s * s) * (orth[i] / n));
}

test('a face re-entering by the edge it left: the edges of the watched region count, not only the frame\'s', () => {
  const alice = look(21);
  const back = lookLike(alice, 0.3, 22); // half in view it does not look like itself yet
  // The region spans x 300..900 of a 1280x720 frame; Alice leaves by its left edge (box x 280),
  // far from the frame's, and comes back by it lower down (not near where she left).
  const run = (bounds: { x?: number; y?: number; width: number; height: number }) => {
    const tr = new FaceTracker({ maxMissed: 2, reidFrames: 60 });
    for (let i = 0; i < 5; i++) tr.update([{ ...det(310, 200), descriptor: alice }], i * 33, bounds);
    for (let i = 5; i < 15; i++) tr.update([], i * 33, bounds);
    return tr.update([{ ...det(310, 500), descriptor: back }], 15 * 33, bounds)[0].id;
  };
  assert.equal(run({ x: 300, y: 0, width: 600, height: 720 }), 1, 'the region: re-identified at the lower edge bar');
  assert.equal(run({ width: 1280, height: 720 }), 2, 'the frame: x 280 is no edge, a stranger by appearance');
  // The frame's own edge still counts without a region.
  const tr = new FaceTracker({ maxMissed: 2, reidFrames: 60 });
  for (let i = 0; i < 5; i++) tr.update([{ ...det(20, 200), descriptor: alice }], i * 33, { width: 1280, height: 720 });
  for (let i = 5; i < 15; i++) tr.update([], i * 33, { width: 1280, height: 720 });
  assert.equal(tr.update([{ ...det(20, 500), descriptor: back }], 15 * 33, { width: 1280, height: 720 })[0].id, 1);
});

test('a region away from the frame origin: a briefly undetected face inside it is held, as with the frame', () => {
  // The region spans x 600..1200, y 100..700 of a 1280x720 frame; the face sits at (900, 400),
  // well inside it. A missed detection holds it (detected: false), like a face in a full frame.
  const bounds = { x: 600, y: 100, width: 600, height: 600 };
  for (const b of [bounds, { width: 1280, height: 720 }]) {
    const tr = new FaceTracker();
    for (let i = 0; i < 5; i++) tr.update([{ ...det(900, 400), descriptor: look(31) }], i * 33, b);
    const held = tr.update([], 5 * 33, b);
    assert.equal(held.length, 1, `held within ${JSON.stringify(b)}`);
    assert.equal(held[0].detected, false);
  }
  // A face whose centre drifted out of the region is not held.
  const tr = new FaceTracker();
  for (let i = 0; i < 5; i++) tr.update([{ ...det(620 - 10 * i, 400), descriptor: look(32) }], i * 33, bounds);
  const out = tr.update([], 5 * 33, bounds);
  assert.ok(out.every((f) => f.box.x + f.box.width / 2 >= 600), JSON.stringify(out.map((f) => f.box)));
});

test('a face that jumps farther than the motion model predicts keeps its id by appearance', () => {
  const tr = new FaceTracker();
  const alice = look(11);
  const bob = look(12);
  for (let i = 0; i < 4; i++) tr.update([{ ...det(100, 200), descriptor: alice }, { ...det(400, 200), descriptor: bob }], i * 100);
  // A sudden pan: both move 1.6 face widths (no overlap with their predictions).
  const out = tr.update([{ ...det(196, 200), descriptor: alice }, { ...det(496, 200), descriptor: bob }], 400);
  assert.deepEqual(out.map((f) => f.id), [1, 2]);
  assert.equal(tr.size, 2, 'no duplicate tracks left behind');
});

test('options are validated', () => {
  assert.throws(() => new FaceTracker({ maxMissed: -1 }), /maxMissed/);
  assert.throws(() => new FaceTracker({ matchThreshold: Number.NaN }), /matchThreshold/);
});

test('tracker options: thresholds above their similarity range (re-identification silently off) and fractional counts throw, naming the option', () => {
  const bad: Array<[string, number]> = [
    ['reidSimilarity', 1.5], ['reidNearSimilarity', 2], ['reidEdgeSimilarity', 1.01], ['matchThreshold', 1.2],
    ['maxMissed', 2.5], ['holdFrames', 0.5], ['reidFrames', 10.5], ['reidEdgeSimilarity', -1.5], ['reidSimilarity', Number.NaN],
  ];
  for (const [k, v] of bad) {
    assert.throws(() => new FaceTracker({ [k]: v }), (e: unknown) => e instanceof TypeError && e.message.includes(`\`${k}\``) && e.message.includes(String(v)), `${k}: ${v}`);
  }
  assert.throws(() => new FaceTracker({ reidSimilarity: 1.5 }), /`reidSimilarity` to be a finite number in -1..1, got `1.5`/);
  assert.throws(() => new FaceTracker({ maxMissed: 2.5 }), /`maxMissed` to be an integer >= 0, got `2.5`/);
  // …and through the face cropper, before its detector loads.
  assert.throws(() => checkFaceCropperOptions({ tracker: { reidNearSimilarity: 1.1 } }), /`reidNearSimilarity` to be a finite number in -1..1/);
  assert.throws(() => checkFaceCropperOptions({ tracker: { holdFrames: 1.5 } }), /`holdFrames` to be an integer >= 0/);
  // The ends of the ranges and the defaults stay valid.
  new FaceTracker({ matchThreshold: 1, reidSimilarity: 1, reidNearSimilarity: -1, reidEdgeSimilarity: 0, maxMissed: 0, holdFrames: 0, reidFrames: 0, frameIntervalMs: 0 });
  assert.deepEqual(new FaceTracker().options, {
    matchThreshold: 0.3, maxMissed: 10, holdFrames: 2, reidFrames: 90, reidSimilarity: 0.85, reidNearSimilarity: 0.5, reidEdgeSimilarity: 0.2, frameIntervalMs: 1000 / 30,
  });
});

test('face cropper options: `jpeg` must be a boolean (not any truthy value), `jpegQuality` an integer in 1..100', () => {
  assert.throws(() => checkFaceCropperOptions({ jpeg: 'no' as never }), (e: unknown) => e instanceof TypeError && /`jpeg` to be a boolean, got `no`/.test(e.message));
  assert.throws(() => checkFaceCropperOptions({ jpeg: 1 as never }), /`jpeg` to be a boolean/);
  for (const q of [0, 101, 50.5, -5, Number.NaN, '80']) {
    assert.throws(() => checkFaceCropperOptions({ jpegQuality: q as never }), /`jpegQuality` to be an integer in 1..100/, String(q));
  }
  // A cropper given its detector checks them too.
  const detector = { options: { maxPixels: 1e8 }, detectImage: () => [], dispose() {} };
  assert.throws(() => new FacePipeline(detector as never, { jpeg: 'yes' as never }), /`jpeg` to be a boolean/);
  assert.throws(() => new FacePipeline(detector as never, { jpegQuality: 500 }), /`jpegQuality`/);
  assert.deepEqual([new FacePipeline(detector as never).options.jpeg, new FacePipeline(detector as never).options.jpegQuality], [false, 90]);
  const p = new FacePipeline(detector as never, { jpeg: true, jpegQuality: 1 });
  assert.deepEqual([p.options.jpeg, p.options.jpegQuality], [true, 1]);
  checkFaceCropperOptions({ jpeg: false, jpegQuality: 100 });
});

const noPhotos = demoPhotoDir() ? false : '@vladmandic/face-api (devDependency with the demo photos) is not installed';

let detector: FaceDetector;
before(async () => {
  if (!noPhotos) detector = await loadFaceDetector({ logger: silentLogger });
});
after(() => detector?.dispose());

test('moving-face clip (pan, zoom, a face leaving and coming back): ≥ 95 % of frames keep each id', { skip: noPhotos }, async () => {
  const clip = await movingClip(detector, 1, 60);
  assert.equal(clip.faces.length, 3);
  for (const detectEvery of [1, 3]) {
    const cropper = await createFaceCropper({ detector, detectEvery });
    const results = [];
    for (const f of clip.frames) results.push(await cropper.process(f));
    const kept = trackIdKept(clip, results);
    assert.ok(kept.minPct >= 95, `detectEvery ${detectEvery}: per-face id kept ${kept.perFace.map((p) => p.toFixed(1)).join(', ')} %`);
    // Every frame has crops, detected or carried.
    assert.ok(results.every((faces) => faces.every((f) => f.crop.data.length === 48 * 48)));
    if (detectEvery === 3) assert.ok(results.some((faces) => faces.some((f) => !f.detected)));
    // The face that leaves (leftmost) is really out of view for a while.
    assert.ok(results.some((faces) => faces.length === 2));
    cropper.dispose();
  }
});

test('FacePipeline: JPEG crops on request, sources tracked separately, validation', { skip: noPhotos }, async () => {
  const clip = await movingClip(detector, 1, 4);
  const cropper = await createFaceCropper({ detector, jpeg: true, detectEvery: 2 });
  const a = await cropper.process(clip.frames[0]);
  assert.equal(a.length, 3);
  assert.ok(a.every((f) => f.jpeg && f.jpeg[0] === 0xff && f.jpeg[1] === 0xd8));
  const b = await cropper.process({ ...clip.frames[0], sourceId: 'other' });
  assert.equal(b.length, 3);
  assert.ok(b.every((f) => f.detected), 'a new source starts with detection');
  assert.ok(b.every((f) => !a.some((x) => x.id === f.id)), 'each source has its own tracks, ids unique across sources');
  // Stage times of the latest frame: a detection frame has the detector's stages…
  const tb = cropper.lastTimings;
  assert.equal(tb.detected, true);
  assert.ok(tb.detector && tb.detector.model > 0 && tb.detector.prepare > 0 && tb.detector.decode >= 0);
  assert.ok(tb.detect >= tb.detector.model && tb.crop > 0 && tb.track >= 0);
  assert.ok(tb.total >= tb.detect + tb.crop + tb.track - 1e-6);
  const c = await cropper.process(clip.frames[1]);
  assert.ok(c.every((f) => !f.detected));
  // …a tracked frame runs no network.
  const tc = cropper.lastTimings;
  assert.equal(tc.detected, false);
  assert.equal(tc.detect, 0);
  assert.equal(tc.detector, undefined);
  assert.ok(tc.crop > 0 && tc.total >= tc.crop);
  await assert.rejects(createFaceCropper({ detector, detectEvery: 0 }), /detectEvery/);
  await assert.rejects(createFaceCropper({ detector, framing: 'nope' }), /Unknown crop framing/);
  cropper.dispose();
  // The shared detector was passed in, so it is still usable.
  assert.equal((await detector.detect(clip.frames[0])).length, 3);
});

test('FacePipeline: a caller\'s tracker options with nextId: undefined keep one id sequence across sources', () => {
  const kp = { rightEye: { x: 30, y: 32 }, leftEye: { x: 50, y: 32 }, nose: { x: 40, y: 42 }, mouth: { x: 40, y: 50 }, rightEar: { x: 22, y: 35 }, leftEar: { x: 58, y: 35 } };
  const detector = { options: { maxPixels: 1e8 }, detectImage: () => [{ box: { x: 20, y: 20, width: 40, height: 40 }, score: 0.9, keypoints: kp }], dispose() {} };
  const img = { width: 100, height: 100, channels: 1 as const, data: new Uint8Array(100 * 100).fill(128) };
  const opts: { maxMissed: number; nextId?: () => number } = { maxMissed: 5, nextId: undefined };
  const p = new FacePipeline(detector as never, { tracker: opts });
  const [a] = p.processImage(img as never, 1000, 'cam-a');
  const [b] = p.processImage(img as never, 1000, 'cam-b');
  assert.notEqual(a.id, b.id);
});

test('frames without a time (a Frame with no timestamp): two faces appearing together get two ids, and the motion model still moves boxes', () => {
  // The face node accepts a Frame {width, height, format, data} without `timestamp`: the time is undefined.
  const none = undefined as unknown as number;
  const tr = new FaceTracker();
  tr.update([], none);
  tr.update([], none);
  // Two people who look alike enter side by side in the same frame.
  const ids = tr.update([{ ...det(100, 100), descriptor: look(1) }, { ...det(190, 100), descriptor: look(1) }], none).map((f) => f.id);
  assert.equal(new Set(ids).size, 2, `ids ${JSON.stringify(ids)}`);
  // frameIntervalMs stands in for the missing time: a face moving 10 px per frame is predicted on.
  const moving = new FaceTracker();
  for (let i = 0; i < 5; i++) moving.update([det(100 + 10 * i, 100)], NaN);
  const [p] = moving.predict(NaN);
  assert.ok(Math.abs(p.box.x + 30 - 150) < 3, `predicted centre x ${p.box.x + 30}`);
});

test('FacePipeline: faces are ordered largest confidence first, also on tracked frames and with held faces', () => {
  const kpAt = (cx: number) => ({ rightEye: { x: cx - 10, y: 42 }, leftEye: { x: cx + 10, y: 42 }, nose: { x: cx, y: 52 }, mouth: { x: cx, y: 60 }, rightEar: { x: cx - 18, y: 45 }, leftEar: { x: cx + 18, y: 45 } });
  const face = (cx: number, score: number) => ({ box: { x: cx - 20, y: 30, width: 40, height: 40 }, score, keypoints: kpAt(cx) });
  // Detection frames 0, 2 and 4 (detectEvery 2): A alone, then B (more confident) next to A, then A alone (B held).
  const script = [[face(40, 0.7)], [face(150, 0.9), face(40, 0.8)], [face(40, 0.8)]];
  let call = 0;
  const detector = { options: { maxPixels: 1e8 }, detectImage: () => script[call++], dispose() {} };
  const img = { width: 200, height: 100, channels: 1 as const, data: new Uint8Array(200 * 100).fill(128) };
  const p = new FacePipeline(detector as never, { detectEvery: 2 });
  for (let i = 0; i < 5; i++) {
    const scores = p.processImage(img as never, 1000 + 33 * i, 'cam').map((f) => f.score);
    assert.deepEqual(scores, [...scores].sort((a, b) => b - a), `frame ${i}: scores ${JSON.stringify(scores)}`);
    if (i >= 2) assert.equal(scores.length, 2, `frame ${i}: both faces`);
  }
});

test('FacePipeline: a camera seen on every frame keeps its tracker (and ids) while many other sources come and go', () => {
  const kp = { rightEye: { x: 30, y: 32 }, leftEye: { x: 50, y: 32 }, nose: { x: 40, y: 42 }, mouth: { x: 40, y: 50 }, rightEar: { x: 22, y: 35 }, leftEar: { x: 58, y: 35 } };
  const detector = { options: { maxPixels: 1e8 }, detectImage: () => [{ box: { x: 20, y: 20, width: 40, height: 40 }, score: 0.9, keypoints: kp }], dispose() {} };
  const img = { width: 100, height: 100, channels: 1 as const, data: new Uint8Array(100 * 100).fill(128) };
  const p = new FacePipeline(detector as never);
  const [first] = p.processImage(img as never, 0, 'cam');
  // Still images with a source id of their own each (e.g. one per file), between the camera's frames.
  for (let i = 1; i <= 40; i++) {
    p.processImage(img as never, i * 33, `still-${i}`);
    assert.equal(p.processImage(img as never, i * 33, 'cam')[0].id, first.id, `camera frame ${i}`);
  }
});

test('a face seen alongside another never takes over that one\'s id when it leaves (only a face lost before it appeared can)', () => {
  // Two unit signatures with cosine 0.6: above the 0.5 bar for a face near where a lost one was.
  const alice = new Float32Array(256);
  const bob = new Float32Array(256);
  alice[0] = 1;
  bob[0] = 0.6;
  bob[1] = 0.8;
  const tr = new FaceTracker(); // Keep track 10 missed detections
  for (let i = 0; i < 20; i++) tr.update([{ ...det(200, 200), descriptor: alice }], i * 33);
  // Bob sits down next to Alice: both detected in the same frame, Bob gets a new id.
  const both = tr.update([{ ...det(200, 200), descriptor: alice }, { ...det(290, 200), descriptor: bob }], 20 * 33);
  const [aliceId, bobId] = both.map((f) => f.id);
  assert.notEqual(aliceId, bobId);
  // Alice walks out; Bob (turned aside) is found on every other detection. Alice's track is lost
  // after Keep track, while Bob's is still young.
  for (let i = 21; i < 40; i++) {
    const out = tr.update(i % 2 ? [] : [{ ...det(290, 200), descriptor: bob }], i * 33);
    // Bob is the face near x = 290 (Alice's held box stays at 200 for two detections).
    const ids = out.filter((f) => f.box.x + f.box.width / 2 > 250).map((f) => f.id);
    assert.ok(ids.every((id) => id === bobId), `frame ${i}: Bob's id ${JSON.stringify(ids)}, Bob is ${bobId}, Alice was ${aliceId}`);
  }
});

test('FacePipeline: a source whose frame size changes starts over (no faces carried from the old size, detection at once)', () => {
  const kpAt = (cx: number, cy: number, w: number) => ({ rightEye: { x: cx - 0.2 * w, y: cy - 0.1 * w }, leftEye: { x: cx + 0.2 * w, y: cy - 0.1 * w }, nose: { x: cx, y: cy + 0.05 * w }, mouth: { x: cx, y: cy + 0.25 * w }, rightEar: { x: cx - 0.45 * w, y: cy }, leftEar: { x: cx + 0.45 * w, y: cy } });
  const face = (cx: number, cy: number, w: number) => ({ box: { x: cx - w / 2, y: cy - w / 2, width: w, height: w }, score: 0.9, keypoints: kpAt(cx, cy, w) });
  const big = { width: 1280, height: 720, channels: 1 as const, data: new Uint8Array(1280 * 720).fill(128) };
  const small = { width: 640, height: 360, channels: 1 as const, data: new Uint8Array(640 * 360).fill(128) };
  const run = (detectEvery: number, faces: Array<ReturnType<typeof face>>) => {
    let calls = 0;
    const detector = { options: { maxPixels: 1e8 }, detectImage: () => (calls++ === 0 ? faces : []), dispose() {} };
    const p = new FacePipeline(detector as never, { detectEvery });
    const first = p.processImage(big as never, 0, 'cam');
    assert.equal(first.length, faces.length);
    // The source switches to another video (by message), 16:9 at the same width → smaller frames.
    const next = p.processImage(small as never, 33, 'cam');
    return { calls, next };
  };
  // Between detections, a face at the old size's coordinates (entirely outside the new frame) was reported.
  const between = run(3, [face(1000, 500, 200)]);
  assert.deepEqual(between.next.map((f) => f.box), []);
  assert.equal(between.calls, 2, 'the new size is detected at once');
  // A detection finding nobody held the previous video's face for two more frames.
  assert.deepEqual(run(1, [face(300, 200, 150)]).next.map((f) => f.box), []);
});

test('FacePipeline: between detections, a face the motion model carries out of the frame is not reported (its crop would be padding)', () => {
  const kpAt = (cx: number, cy: number, w: number) => ({ rightEye: { x: cx - 0.2 * w, y: cy - 0.1 * w }, leftEye: { x: cx + 0.2 * w, y: cy - 0.1 * w }, nose: { x: cx, y: cy + 0.05 * w }, mouth: { x: cx, y: cy + 0.25 * w }, rightEar: { x: cx - 0.45 * w, y: cy }, leftEar: { x: cx + 0.45 * w, y: cy } });
  const face = (cx: number, cy: number, w: number) => ({ box: { x: cx - w / 2, y: cy - w / 2, width: w, height: w }, score: 0.9, keypoints: kpAt(cx, cy, w) });
  const img = { width: 640, height: 480, channels: 1 as const, data: new Uint8Array(640 * 480).fill(128) };
  // A face crossing to the right at 40 px per frame, detected on every 3rd frame.
  let frame = 0;
  const detector = { options: { maxPixels: 1e8 }, detectImage: () => [face(400 + 40 * frame, 240, 60)], dispose() {} };
  const p = new FacePipeline(detector as never, { detectEvery: 3 });
  let carried = 0;
  for (frame = 0; frame < 12; frame++) {
    for (const f of p.processImage(img as never, frame * 100, 'cam').filter((x) => !x.detected)) {
      carried++;
      const cx = f.box.x + f.box.width / 2;
      assert.ok(cx < img.width, `frame ${frame}: a carried face centred at x ${cx} (outside the 640-wide frame) was reported`);
    }
  }
  assert.ok(carried > 0, 'faces inside the frame are still carried between detections');
});

test('frames read in a burst (a live camera\'s arrival times, 1 ms apart) do not blow the motion model up: one face, one id, its own size', () => {
  const view = { width: 640, height: 480 };
  // detect every frame, 10 fps; after a stall two frames arrive 1 ms apart, with the detector's usual jitter (2 px, 4 %)
  const tr = new FaceTracker();
  for (let i = 0; i < 5; i++) tr.update([det(320, 240, 100)], i * 100, view);
  tr.update([det(322, 240, 104)], 401, view);
  for (let t = 500; t <= 800; t += 100) {
    const out = tr.update([det(320, 240, 100)], t, view);
    assert.deepEqual(out.map((f) => [f.id, f.detected]), [[1, true]], `at ${t} ms: ${JSON.stringify(out.map((f) => [f.id, Math.round(f.box.width)]))}`);
  }
  // detect every 3rd frame: the boxes carried in between keep about the face's size
  const every3 = new FaceTracker();
  for (let i = 0; i < 5; i++) every3.update([det(320, 240, 100)], i * 300, view);
  every3.update([det(321, 240, 103)], 1202, view);
  for (let t = 1300; t <= 1500; t += 100) {
    const [p] = every3.predict(t);
    assert.ok(p.box.width < 110 && Math.abs(p.box.x + p.box.width / 2 - 320) < 10, `at ${t} ms: box ${JSON.stringify(p.box)}`);
  }
});
