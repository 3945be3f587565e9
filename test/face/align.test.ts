import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignmentTransform, cropFace, FRAMINGS, registerFraming, resolveFraming } from '../../src/face';
import { Affine, applyAffine, cropRect, RawImage, toGray, warpAffine } from '../../src/image';

/** A light canvas with dark discs (the "eyes" and "mouth") at given points. */
function canvas(w: number, h: number, blobs: Array<{ x: number; y: number; r: number }>): RawImage {
  const data = new Uint8Array(w * h * 3).fill(220);
  for (const b of blobs) {
    for (let y = Math.floor(b.y - b.r); y <= b.y + b.r; y++) {
      for (let x = Math.floor(b.x - b.r); x <= b.x + b.r; x++) {
        if ((x + 0.5 - b.x) ** 2 + (y + 0.5 - b.y) ** 2 <= b.r * b.r) data.fill(20, (y * w + x) * 3, (y * w + x) * 3 + 3);
      }
    }
  }
  return { width: w, height: h, channels: 3, data };
}

/** Centroid of dark pixels (value < 128) inside a window of a gray crop. */
function darkCentroid(crop: { width: number; data: Uint8Array }, x0: number, x1: number, y0: number, y1: number) {
  let sx = 0;
  let sy = 0;
  let n = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) {
    const w = Math.max(0, 128 - crop.data[y * crop.width + x]);
    sx += (x + 0.5) * w;
    sy += (y + 0.5) * w;
    n += w;
  }
  return { x: sx / n, y: sy / n };
}

test('a face tilted by 30 degrees comes out upright with the eyes at the framing positions', () => {
  const angle = (30 * Math.PI) / 180;
  const c = { x: 200, y: 150 };
  const iod = 60;
  const rot = (dx: number, dy: number) => ({ x: c.x + dx * Math.cos(angle) - dy * Math.sin(angle), y: c.y + dx * Math.sin(angle) + dy * Math.cos(angle) });
  const rightEye = rot(-iod / 2, 0);
  const leftEye = rot(iod / 2, 0);
  const mouth = rot(0, 0.6 * iod);
  const img = canvas(400, 300, [{ ...rightEye, r: 7 }, { ...leftEye, r: 7 }, { ...mouth, r: 5 }]);
  const kp = { rightEye, leftEye, mouth };
  const f = FRAMINGS.ck48;
  const crop = cropFace(img, { keypoints: kp }, { size: 48, framing: 'ck48' });
  assert.equal(crop.width, 48);
  assert.equal(crop.data.length, 48 * 48);
  assert.ok(Buffer.isBuffer(crop.data));
  const eyeY = Math.round(f.eyeY * 48);
  const re = darkCentroid(crop, 0, 24, eyeY - 8, eyeY + 8);
  const le = darkCentroid(crop, 24, 48, eyeY - 8, eyeY + 8);
  assert.ok(Math.abs(re.y - le.y) < 0.5, `eyes level: ${re.y.toFixed(2)} vs ${le.y.toFixed(2)}`);
  assert.ok(Math.abs(re.y - f.eyeY * 48) < 0.75, `eye line at ${re.y.toFixed(2)}, expected ${f.eyeY * 48}`);
  assert.ok(Math.abs(le.x - re.x - f.eyeDistance * 48) < 1, `inter-ocular ${(le.x - re.x).toFixed(2)} px`);
  const cx = (f.centerX ?? 0.5) * 48;
  assert.ok(Math.abs((re.x + le.x) / 2 - cx) < 0.75, 'eyes centred on the framing centre');
  // The mouth lands below the eyes, on the face's vertical axis.
  const m = darkCentroid(crop, 14, 34, eyeY + 6, 48);
  assert.ok(Math.abs(m.x - cx) < 1 && m.y > re.y + 10);
});

test('the transform maps the framing eye points onto the source eyes (upside-down too)', () => {
  const kp = { rightEye: { x: 300, y: 100 }, leftEye: { x: 200, y: 100 }, mouth: { x: 250, y: 20 } }; // rotated 180°
  const m = alignmentTransform(kp, { size: 48, framing: 'fer2013' });
  const f = FRAMINGS.fer2013;
  const cx = f.centerX ?? 0.5;
  const a = applyAffine(m, (cx - f.eyeDistance / 2) * 48, f.eyeY * 48);
  const b = applyAffine(m, (cx + f.eyeDistance / 2) * 48, f.eyeY * 48);
  assert.ok(Math.hypot(a.x - 300, a.y - 100) < 1e-6 && Math.hypot(b.x - 200, b.y - 100) < 1e-6);
});

test('margin adds context; the eye-mouth guard zooms out for a turned head; presets validate', () => {
  const kp = { rightEye: { x: 90, y: 100 }, leftEye: { x: 110, y: 100 }, mouth: { x: 100, y: 160 } }; // eyes foreshortened
  const k0 = Math.hypot(...(alignmentTransform(kp, { margin: 0 }).slice(0, 2) as [number, number]));
  const k1 = Math.hypot(...(alignmentTransform(kp, { margin: 0.2 }).slice(0, 2) as [number, number]));
  assert.ok(Math.abs(k1 / k0 - 1.4) < 1e-9, 'margin 0.2 → 1.4x the source region');
  const f = FRAMINGS.ck48;
  const kIod = 20 / (f.eyeDistance * 48);
  assert.ok(k0 > kIod * 1.5, 'scale follows the eye-mouth distance when the eyes look too close');
  // A frontal face: the inter-ocular distance alone sets the scale.
  const frontal = { rightEye: { x: 80, y: 100 }, leftEye: { x: 120, y: 100 }, mouth: { x: 100, y: 140 } };
  const kf = Math.hypot(...(alignmentTransform(frontal).slice(0, 2) as [number, number]));
  assert.ok(Math.abs(kf - 40 / (f.eyeDistance * 48)) < 1e-9);
  assert.throws(() => resolveFraming('nope'), /Unknown crop framing/);
  for (const inherited of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
    assert.throws(() => resolveFraming(inherited), /Unknown crop framing/, `${inherited} is no preset`);
  }
  assert.throws(() => registerFraming({ name: 'bad', eyeY: 1.2, eyeDistance: 0.4 }), /Invalid crop framing/);
  registerFraming({ name: 'test-wide', eyeY: 0.4, eyeDistance: 0.3 });
  assert.equal(resolveFraming('test-wide').eyeDistance, 0.3);
  delete FRAMINGS['test-wide'];
});

/** The previous crop implementation (copy the region, gray it, warp it): the reference. */
function regionCrop(img: RawImage, m: Affine, size: number): Uint8Array {
  const corners = [applyAffine(m, 0, 0), applyAffine(m, size, 0), applyAffine(m, 0, size), applyAffine(m, size, size)];
  const x0 = Math.max(0, Math.floor(Math.min(...corners.map((p) => p.x))) - 2);
  const y0 = Math.max(0, Math.floor(Math.min(...corners.map((p) => p.y))) - 2);
  const x1 = Math.min(img.width, Math.ceil(Math.max(...corners.map((p) => p.x))) + 2);
  const y1 = Math.min(img.height, Math.ceil(Math.max(...corners.map((p) => p.y))) + 2);
  const region = cropRect(img, { x: x0, y: y0, width: x1 - x0, height: y1 - y0 });
  return warpAffine(toGray(region), [m[0], m[1], m[2] - x0, m[3], m[4], m[5] - y0], size, size).data;
}

test('cropFace samples the frame in one pass: the same crop as before, near edges too', () => {
  // A textured 320x240 frame; faces in the middle, rotated, large (supersampled) and half outside.
  const w = 320;
  const h = 240;
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  const img: RawImage = { width: w, height: h, channels: 3, data };
  const faces = [
    { rightEye: { x: 140, y: 110 }, leftEye: { x: 180, y: 112 }, mouth: { x: 161, y: 150 } },
    { rightEye: { x: 100, y: 80 }, leftEye: { x: 200, y: 140 }, mouth: { x: 120, y: 170 } },
    { rightEye: { x: -10, y: 20 }, leftEye: { x: 30, y: 22 }, mouth: { x: 12, y: 60 } },
    { rightEye: { x: 300, y: 230 }, leftEye: { x: 318, y: 231 }, mouth: { x: 309, y: 245 } },
  ];
  for (const kp of faces) {
    for (const opts of [{}, { margin: 0.25 }, { size: 64, framing: 'fer2013' }]) {
      const crop = cropFace(img, { keypoints: kp }, opts);
      const size = (opts as { size?: number }).size ?? 48;
      const m = alignmentTransform(kp, { ...opts, size });
      assert.ok(Buffer.isBuffer(crop.data));
      assert.equal(crop.data.length, size * size);
      assert.deepEqual(new Uint8Array(crop.data), regionCrop(img, m, size));
      // and within rounding of warping the whole gray frame
      const whole = warpAffine(toGray(img), m, size, size).data;
      assert.ok(whole.every((v, i) => Math.abs(v - crop.data[i]) <= 1));
    }
  }
});

test('cropFace and alignmentTransform without keypoints: a TypeError saying they are needed (not a bare property read)', () => {
  const img = canvas(64, 64, []);
  const eyes = { rightEye: { x: 24, y: 28 }, leftEye: { x: 40, y: 28 } };
  assert.throws(() => cropFace(img, {} as never), (e: unknown) => e instanceof TypeError && /needs its `keypoints` \(rightEye, leftEye and mouth/.test(e.message) && !/Cannot read/.test(e.message));
  assert.throws(() => cropFace(img, undefined as never), /needs its `keypoints`/);
  assert.throws(() => alignmentTransform(undefined as never), /needs its `keypoints`/);
  assert.throws(() => cropFace(img, { keypoints: { leftEye: eyes.leftEye } } as never), /`keypoints.rightEye` to be a point \{ x, y \}.*got `undefined`/);
  assert.throws(() => cropFace(img, { keypoints: eyes } as never), /`keypoints.mouth`/);
  assert.throws(() => cropFace(img, { keypoints: { ...eyes, mouth: { x: 32, y: Number.NaN } } }), /`keypoints.mouth` to be a point.*got `\{ x: 32, y: NaN \}`/);
  // A JPEG frame: the keypoints are checked before it is decoded.
  assert.throws(() => cropFace({ width: 64, height: 64, format: 'jpeg', data: Buffer.alloc(10) } as never, {} as never), /needs its `keypoints`/);
  // A framing without `mouthY` needs the eyes only.
  assert.equal(cropFace(img, { keypoints: eyes } as never, { framing: { name: 'eyes-only', eyeY: 0.4, eyeDistance: 0.35 } }).data.length, 48 * 48);
});
