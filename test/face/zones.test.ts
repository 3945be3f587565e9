import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkDetectorImage, createFaceCropper, FaceDetector, FacePipeline, loadFaceDetector, parseZones } from '../../src/face';
import { keepInZones, offsetDetection, resolveZones, zoneToPixels } from '../../src/face/zones';
import { Detection } from '../../src/face/types';
import { letterbox, RawImage } from '../../src/image';
import { silentLogger } from '../../src/log';
import { DEMO_FACE_COUNTS, demoPhoto, demoPhotoDir } from '../../bench/stages/detect';

const noPhotos = demoPhotoDir() ? false : '@vladmandic/face-api (devDependency with the demo photos) is not installed';

let detector: FaceDetector;
before(async () => {
  detector = await loadFaceDetector({ logger: silentLogger });
});
after(() => detector?.dispose());

/** A black rgb canvas with `img` pasted at (x, y). */
function paste(canvas: RawImage, img: RawImage, x: number, y: number): RawImage {
  for (let row = 0; row < img.height; row++) {
    canvas.data.set(img.data.subarray(row * img.width * 3, (row + 1) * img.width * 3), ((y + row) * canvas.width + x) * 3);
  }
  return canvas;
}
const canvas = (width: number, height: number): RawImage => ({ width, height, channels: 3, data: new Uint8Array(width * height * 3) });

test('zones: percent text and fraction objects, checked; the whole frame means no region', () => {
  assert.deepEqual(parseZones('60,0,40,50'), [{ x: 0.6, y: 0, width: 0.4, height: 0.5 }]);
  assert.deepEqual(parseZones(' 0, 0, 10, 10 ; 90,90,10,10 '), [
    { x: 0, y: 0, width: 0.1, height: 0.1 },
    { x: 0.9, y: 0.9, width: 0.1, height: 0.1 },
  ]);
  assert.deepEqual(parseZones(''), []);
  assert.throws(() => parseZones('10,10,10'), /zone 1 as "left,top,width,height"/);
  assert.throws(() => parseZones('a,b,c,d'), TypeError);
  assert.throws(() => parseZones('80,0,40,50', 'roi'), /`roi\[0\]`/); // past the right edge
  assert.throws(() => resolveZones({ roi: { x: 0, y: 0, width: 0, height: 1 } }), /`roi`/);
  assert.throws(() => resolveZones({ ignore: Array(17).fill({ x: 0, y: 0, width: 0.1, height: 0.1 }) }), /at most 16/);
  assert.equal(resolveZones({ roi: '0,0,100,100' }).roi, null);
  // A value JSON cannot show still gets the zone's own error.
  const cyclic: Record<string, unknown> = { x: 0 };
  cyclic.self = cyclic;
  assert.throws(() => resolveZones({ roi: cyclic as never }), /Expected `roi` to be \{ x, y, width, height \}/);
  assert.throws(() => resolveZones({ roi: { x: 1n } as never }), /Expected `roi`/);
  assert.deepEqual(resolveZones({ roi: '50,0,50,100', ignore: '0,0,10,10' }), { roi: { x: 0.5, y: 0, width: 0.5, height: 1 }, ignore: [{ x: 0, y: 0, width: 0.1, height: 0.1 }] });
  assert.deepEqual(zoneToPixels({ x: 0.5, y: 0.25, width: 0.5, height: 0.5 }, 640, 480), { x: 320, y: 120, width: 320, height: 240 });
});

test('keepInZones: by box centre; offsetDetection moves box and keypoints', () => {
  const det = (x: number, y: number): Detection => {
    const p = { x: x + 10, y: y + 10 };
    return { box: { x, y, width: 20, height: 20 }, score: 0.9, keypoints: { rightEye: p, leftEye: p, nose: p, mouth: p, rightEar: p, leftEar: p } };
  };
  const dets = [det(10, 10), det(300, 200), det(600, 440)];
  const zones = resolveZones({ roi: '0,0,75,100', ignore: '0,0,10,10' });
  assert.deepEqual(keepInZones(dets, zones, 640, 480).map((d) => d.box.x), [300]);
  const moved = offsetDetection(det(0, 0), 100, 50);
  assert.deepEqual(moved.box, { x: 100, y: 50, width: 20, height: 20 });
  assert.deepEqual(moved.keypoints.mouth, { x: 110, y: 60 });
});

test('region of interest and ignore zones on two photos side by side: only the faces that count, at their frame coordinates', { skip: noPhotos }, async () => {
  const left = letterbox(demoPhoto(1), 640, 480).image;
  const right = letterbox(demoPhoto(2), 640, 480).image;
  const frame = paste(paste(canvas(1280, 480), left, 0, 0), right, 640, 0);
  const plain = await createFaceCropper({ detector });
  // What the detector finds in each photo alone (the region sees exactly the left one).
  const alone = { left: plain.processImage(left, 0, 'left'), right: plain.processImage(right, 0, 'right') };
  assert.deepEqual([alone.left.length, alone.right.length], [DEMO_FACE_COUNTS[0], DEMO_FACE_COUNTS[1]]);
  const leftOnly = await createFaceCropper({ detector, roi: '0,0,50,100' });
  const l = leftOnly.processImage(frame, 0, 'l');
  assert.deepEqual(l.map((f) => f.box), alone.left.map((f) => f.box));
  assert.deepEqual(l.map((f) => f.keypoints), alone.left.map((f) => f.keypoints));
  assert.ok(l.every((f) => f.crop.width === 48));
  // The right photo in a region of its own: the same faces, moved by 640 px into frame coordinates.
  const rightOnly = await createFaceCropper({ detector, roi: '50,0,50,100' });
  const r = rightOnly.processImage(frame, 0, 'r');
  assert.deepEqual(r.map((f) => f.box), alone.right.map((f) => ({ ...f.box, x: f.box.x + 640 })));
  assert.deepEqual(r.map((f) => f.keypoints.nose), alone.right.map((f) => ({ x: f.keypoints.nose.x + 640, y: f.keypoints.nose.y })));
  // Ignoring the right half of the left region's frame: the right photo's faces are dropped.
  const ignoring = await createFaceCropper({ detector, roi: '0,0,100,100', ignore: [{ x: 0.5, y: 0, width: 0.5, height: 1 }] });
  assert.ok(ignoring.processImage(frame, 0, 'i').every((f) => f.box.x + f.box.width / 2 < 640));
  for (const c of [plain, leftOnly, rightOnly, ignoring] as FacePipeline[]) c.dispose();
});

test('a region of interest finds small faces the whole frame misses (it is scaled up to the detector input)', { skip: noPhotos }, async () => {
  // Demo photo 1 shrunk to 300x200 in a 1920x1080 frame: faces ~17 px wide, ~2 px at detector size 192.
  const small = letterbox(demoPhoto(1), 300, 200).image;
  const frame = paste(canvas(1920, 1080), small, 800, 420);
  const whole = await createFaceCropper({ detector });
  const zoomed = await createFaceCropper({ detector, roi: '40,35,25,30' });
  const missed = whole.processImage(frame, 0, 'w').length;
  const found = zoomed.processImage(frame, 0, 'z');
  assert.equal(missed, 0);
  assert.equal(found.length, DEMO_FACE_COUNTS[0]);
  assert.ok(found.every((f) => f.box.x >= 795 && f.box.x + f.box.width <= 1105 && f.box.y >= 415 && f.box.y + f.box.height <= 625), JSON.stringify(found.map((f) => f.box)));
  whole.dispose();
  zoomed.dispose();
});

test('zones in the worker-thread cropper give the same faces', { skip: noPhotos }, async () => {
  const left = letterbox(demoPhoto(1), 640, 480).image;
  const right = letterbox(demoPhoto(2), 640, 480).image;
  const frame = paste(paste(canvas(1280, 480), left, 0, 0), right, 640, 0);
  const one = await createFaceCropper({ detector, roi: '0,0,50,100' });
  const threaded = await createFaceCropper({ threads: 1, roi: '0,0,50,100', logger: silentLogger });
  try {
    const a = one.processImage(frame, 0, 's').map((f) => f.box);
    const b = (await threaded.processImageAsync(frame, 0, 's')).map((f) => f.box);
    assert.deepEqual(b, a);
  } finally {
    one.dispose();
    threaded.dispose();
  }
});

test('bad zones are configuration errors of the cropper, before anything loads', async () => {
  await assert.rejects(createFaceCropper({ roi: '10,10,95,10', modelPath: '/nonexistent' }), /`roi\[0\]`/);
  await assert.rejects(createFaceCropper({ ignore: 'x', modelPath: '/nonexistent' }), /`ignore` zone 1/);
});

test('the node text is checked as the editor checks it: an empty number or a second region is an error, not 0 or dropped', () => {
  // The editor's verdicts (test/nodes/emotionnet-face-editor.test.ts) for the same strings.
  const roi = ['', '25,10,50,80', ' 0 , 0 , 100 , 100 ', '60,0,50,100', '10,10,10', '0,0,0,10', 'a,b,c,d', '0,0,10,10;20,20,10,10', '10,,20,30', '0,0,10,10;'];
  const ok = (s: string) => {
    try {
      resolveZones({ roi: s });
      return true;
    } catch {
      return false;
    }
  };
  assert.deepEqual(roi.map(ok), [true, true, true, false, false, false, false, false, false, true]);
  assert.throws(() => parseZones('10,,20,30', 'ignore'), /`ignore` zone 1/);
  assert.throws(() => resolveZones({ roi: '0,0,10,10;20,20,10,10' }), /`roi` to be one zone, got 2/);
});

test('tracked faces between detections: none reported once the motion model carries them into an ignore zone or out of the region', async () => {
  const kp = (x: number, y: number) => ({ x, y });
  const det = (x: number, y = 200): Detection => ({
    box: { x, y, width: 60, height: 60 },
    score: 0.9,
    keypoints: { rightEye: kp(x + 18, y + 24), leftEye: kp(x + 42, y + 24), nose: kp(x + 30, y + 33), mouth: kp(x + 30, y + 45), rightEar: kp(x + 3, y + 30), leftEar: kp(x + 57, y + 30) },
  });
  const img = { width: 640, height: 480, channels: 1, data: new Uint8Array(640 * 480) };
  // A face walking right 8 px a frame towards the right half of the frame.
  for (const zones of [{ ignore: '50,0,50,100' }, { roi: '0,0,50,100' }]) {
    for (const detectEvery of [1, 3]) {
      let n = 0;
      const fake = { detect: async () => [], detectImage: () => [det(200 + 8 * n)], lastTimings: {}, options: { maxPixels: 1e8 }, dispose() {} };
      const cropper = await createFaceCropper({ detector: fake as never, detectEvery, ...zones });
      let reported = 0;
      for (n = 0; n < 30; n++) {
        const faces = cropper.processImage(img, n * 0.1, 's');
        reported += faces.length;
        for (const f of faces) assert.ok(f.box.x + f.box.width / 2 < 320, `${JSON.stringify(zones)} detectEvery ${detectEvery} frame ${n}: centre ${f.box.x + f.box.width / 2}`);
      }
      assert.ok(reported >= 10); // it was reported while it counted
      cropper.dispose();
    }
  }
});

test('a region does not let a frame above maxPixels through', async () => {
  // Checks its input as the real detector does.
  const fake = { detect: async () => [], detectImage: (i: RawImage) => (checkDetectorImage(i, 100 * 100), []), lastTimings: {}, options: { maxPixels: 100 * 100 }, dispose() {} };
  const img = { width: 200, height: 100, channels: 1, data: new Uint8Array(200 * 100) };
  for (const roi of [null, '0,0,50,100']) {
    const cropper = await createFaceCropper({ detector: fake as never, roi });
    assert.throws(() => cropper.processImage(img, 0), /above the limit/, String(roi));
    cropper.dispose();
  }
});
