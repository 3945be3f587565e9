import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as zlib from 'zlib';
import { PNG } from 'pngjs';
import {
  checkJpeg, decodeImage, encodeJpeg, frameFromImage, imageFromFrame, ImageError, invertAffine, applyAffine,
  resizeBilinear, toGray, toRgb, warpAffine, warpToGray, cropRect, RawImage, Affine,
} from '../../src/image';
import * as pkg from '../../src';

const UTIF = require('utif2');

function gradientRgb(w: number, h: number): RawImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const i = (y * w + x) * 3;
    data[i] = (x * 255) / (w - 1);
    data[i + 1] = (y * 255) / (h - 1);
    data[i + 2] = 128;
  }
  return { width: w, height: h, channels: 3, data };
}

function pngChunk(type: string, body: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  const tb = Buffer.concat([Buffer.from(type, 'ascii'), body]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(tb) >>> 0);
  return Buffer.concat([len, tb, crc]);
}

/** Hand-built PNG (pngjs cannot write palettes, and its 16-bit writer wants 16-bit input). */
function rawPng(w: number, h: number, colorType: number, bitDepth: 8 | 16, samples: (x: number, y: number) => number[], palette?: number[][]): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  const rows: Buffer[] = [];
  for (let y = 0; y < h; y++) {
    const vals = [0];
    for (let x = 0; x < w; x++) for (const v of samples(x, y)) vals.push(...(bitDepth === 16 ? [v, v] : [v]));
    rows.push(Buffer.from(vals));
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    ...(palette ? [pngChunk('PLTE', Buffer.from(palette.flat()))] : []),
    pngChunk('IDAT', zlib.deflateSync(Buffer.concat(rows))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

test('decodeImage: JPEG round trip (RGB and gray sources)', () => {
  const src = gradientRgb(64, 48);
  const img = decodeImage(encodeJpeg(src, { quality: 95 }));
  assert.equal(img.width, 64);
  assert.equal(img.height, 48);
  assert.equal(img.channels, 3);
  const i = (20 * 64 + 40) * 3;
  assert.ok(Math.abs(img.data[i] - src.data[i]) < 8 && Math.abs(img.data[i + 1] - src.data[i + 1]) < 8);
  const g = decodeImage(encodeJpeg(toGray(src)));
  assert.equal(g.channels, 3);
  assert.ok(Math.abs(g.data[i] - g.data[i + 1]) <= 2, 'gray JPEG decodes to equal R,G,B');
});

test('decodeImage: PNG gray, RGB, RGBA, 16-bit and palette', () => {
  const w = 5;
  const h = 4;
  const mk = (colorType: 0 | 2 | 4 | 6, bitDepth: 8) => {
    const png = new PNG({ width: w, height: h, colorType, inputColorType: 6, bitDepth, inputHasAlpha: true });
    for (let i = 0; i < w * h; i++) png.data.set([i * 10, 100, 200, 255], i * 4);
    return PNG.sync.write(png, { colorType, bitDepth, inputColorType: 6, inputHasAlpha: true });
  };
  const gray = decodeImage(mk(0, 8));
  assert.equal(gray.channels, 1);
  assert.equal(gray.data.length, w * h);
  const rgb = decodeImage(mk(2, 8));
  assert.equal(rgb.channels, 3);
  assert.deepEqual([...rgb.data.subarray(9, 12)], [30, 100, 200]);
  const rgba = decodeImage(mk(6, 8));
  assert.equal(rgba.channels, 4);
  assert.deepEqual([...rgba.data.subarray(12, 16)], [30, 100, 200, 255]);
  const rgb16 = decodeImage(rawPng(w, h, 2, 16, (x, y) => [(y * w + x) * 10, 100, 200]));
  assert.equal(rgb16.channels, 3);
  assert.deepEqual([...rgb16.data.subarray(9, 12)], [30, 100, 200]);
  const gray16 = decodeImage(rawPng(w, h, 0, 16, (x) => [x * 50]));
  assert.equal(gray16.channels, 1);
  assert.deepEqual([...gray16.data.subarray(0, 3)], [0, 50, 100]);
  const pal = decodeImage(rawPng(3, 2, 3, 8, (x) => [x % 2], [[255, 0, 0], [0, 0, 255]]));
  assert.equal(pal.channels, 3);
  assert.deepEqual([...pal.data.subarray(0, 6)], [255, 0, 0, 0, 0, 255]);
});

test('decodeImage: TIFF', () => {
  const rgba = new Uint8Array(4 * 3 * 4);
  for (let i = 0; i < 12; i++) rgba.set([i * 20, 7, 9, 255], i * 4);
  const tif = Buffer.from(UTIF.encodeImage(rgba, 4, 3));
  const img = decodeImage(tif);
  assert.equal(img.width, 4);
  assert.equal(img.height, 3);
  assert.equal(img.channels, 3);
  assert.deepEqual([...img.data.subarray(15, 18)], [100, 7, 9]);
});

test('decodeImage: clear errors for empty, unknown, corrupt, truncated and oversized data', () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof ImageError, String(e));
      return e.code;
    }
    return 'no error';
  };
  assert.equal(code(() => decodeImage(Buffer.alloc(0))), 'EMPTY');
  assert.equal(code(() => decodeImage(Buffer.from('GIF89a........'))), 'UNSUPPORTED_FORMAT');
  const jpg = encodeJpeg(gradientRgb(64, 48));
  assert.equal(code(() => decodeImage(jpg.subarray(0, jpg.length >> 1))), 'CORRUPT');
  const garbage = Buffer.concat([jpg.subarray(0, 4), Buffer.alloc(200, 0x55), Buffer.from([0xff, 0xd9])]);
  assert.equal(code(() => decodeImage(garbage)), 'CORRUPT');
  // Bytes after the end marker (a multipart splitter's CRLF, 0xFF padding, 100 zeros, a vendor
  // trailer) are fine; a frame cut inside its scan data is not, even when trailing bytes follow.
  for (const tail of [Buffer.from('\r\n'), Buffer.alloc(16, 0xff), Buffer.alloc(100, 0), Buffer.from('VENDOR-TRAILER')]) {
    const img = decodeImage(Buffer.concat([jpg, tail]));
    assert.deepEqual([img.width, img.height], [64, 48]);
    assert.equal(checkJpeg(Buffer.concat([jpg, tail])).width, 64);
  }
  assert.equal(code(() => decodeImage(Buffer.concat([jpg.subarray(0, jpg.length - 40), Buffer.from('\r\n')]))), 'CORRUPT');
  const png = PNG.sync.write(Object.assign(new PNG({ width: 4, height: 4 }), {}));
  const badPng = Buffer.from(png);
  badPng[badPng.length - 20] ^= 0xff;
  assert.equal(code(() => decodeImage(badPng)), 'CORRUPT');
  assert.equal(code(() => decodeImage(Buffer.from([0x49, 0x49, 0x2a, 0, 1, 2, 3]))), 'CORRUPT');
  // An 8K JPEG header is refused before any pixel is decoded.
  const big = Buffer.from(jpg);
  const sof = big.indexOf(Buffer.from([0xff, 0xc0]));
  big.writeUInt16BE(4320, sof + 5);
  big.writeUInt16BE(7680, sof + 7);
  assert.equal(code(() => decodeImage(big)), 'TOO_LARGE');
  assert.equal(code(() => decodeImage(jpg, { maxPixels: 100 })), 'TOO_LARGE');
});

test("the package's toGray is the image helper: toGray(decodeImage(jpeg)) converts a colour photo", () => {
  const img = decodeImage(encodeJpeg(gradientRgb(40, 30)));
  assert.equal(img.channels, 3);
  const g = pkg.toGray(img);
  assert.equal(g.channels, 1);
  assert.deepEqual([g.width, g.height, g.data.length], [40, 30, 40 * 30]);
  assert.equal(pkg.toGray, toGray);
});

test('imageFromFrame: a raw frame whose width or height is not an integer is refused (ImageError), not read as NaN faces', () => {
  for (const [width, height] of [[1.5, 2], [2, 1.5]]) {
    const f = { width, height, format: 'gray' as const, data: Buffer.alloc(3), timestamp: 0, seq: 0, sourceId: 'cam' };
    assert.throws(() => imageFromFrame(f), (e: unknown) => e instanceof ImageError && e.code === 'EMPTY' && /1\.5/.test(e.message));
  }
});

test('toGray / toRgb / resizeBilinear / cropRect', () => {
  const img = gradientRgb(40, 30);
  const g = toGray(img);
  assert.equal(g.channels, 1);
  assert.equal(g.data[0], Math.round((0 * 77 + 0 * 150 + 128 * 29) / 256));
  assert.equal(toRgb(g).data.length, 40 * 30 * 3);
  const half = resizeBilinear(img, 20, 15);
  assert.equal(half.width, 20);
  // Bilinear of a linear ramp stays linear: centre of output pixel 10 is source x = 20.5 - 0.5.
  const i = (7 * 20 + 10) * 3;
  assert.ok(Math.abs(half.data[i] - (20.5 * 255) / 39) < 2, String(half.data[i]));
  const big = resizeBilinear(img, 80, 60);
  assert.equal(big.data.length, 80 * 60 * 3);
  const c = cropRect(img, { x: -5, y: 10, width: 10, height: 5 });
  assert.equal(c.width, 5);
  assert.equal(c.height, 5);
  assert.deepEqual([...c.data.subarray(0, 3)], [...img.data.subarray(10 * 40 * 3, 10 * 40 * 3 + 3)]);
  assert.throws(() => resizeBilinear(img, 0, 10), ImageError);
});

test('warpAffine: rotation by 90 degrees and inverse maps', () => {
  const w = 8;
  const h = 8;
  const data = new Uint8Array(w * h);
  data[1 * w + 6] = 255; // a dot at (6.5, 1.5)
  const img: RawImage = { width: w, height: h, channels: 1, data };
  // output→source: rotate around the image centre by 90° (x' = cx - (y - cy), y' = cy + (x - cx))
  const cx = 4;
  const cy = 4;
  const m: [number, number, number, number, number, number] = [0, -1, cx + cy, 1, 0, cy - cx];
  const out = warpAffine(img, m, w, h);
  const inv = invertAffine(m);
  const p = applyAffine(inv, 6.5, 1.5);
  const at = out.data[Math.floor(p.y) * w + Math.floor(p.x)];
  assert.equal(at, 255);
  const back = applyAffine(m, p.x, p.y);
  assert.ok(Math.abs(back.x - 6.5) < 1e-9 && Math.abs(back.y - 1.5) < 1e-9);
});

test('imageFromFrame / frameFromImage', () => {
  const img = gradientRgb(16, 8);
  const f = frameFromImage(img, { seq: 3 });
  assert.equal(f.format, 'rgb24');
  const back = imageFromFrame(f);
  assert.deepEqual(back.data, img.data);
  const j = imageFromFrame({ ...f, format: 'jpeg', data: encodeJpeg(img) });
  assert.equal(j.width, 16);
  assert.throws(() => imageFromFrame({ ...f, data: f.data.subarray(0, 10) }), /expected 384/);
  // an unknown format or a missing frame is named, not reported as a NaN size or a TypeError
  assert.throws(() => imageFromFrame({ ...f, format: 'rgba' as never }), (e: unknown) => e instanceof ImageError && /format must be rgb24, gray or jpeg, got "rgba"/.test(e.message));
  assert.throws(() => imageFromFrame(null as never), (e: unknown) => e instanceof ImageError && /frame must be an object.*got null/.test(e.message));
});

test('warpToGray: the pixels of warpAffine(toGray(img)) for gray, RGB and RGBA, any map', () => {
  // Deterministic pseudo-random images and maps: rotations, shrinks up to 4.5x (supersampled),
  // enlargements, and outputs partly or wholly outside the source (edge replication).
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  let compared = 0;
  let mismatched = 0;
  for (let k = 0; k < 150; k++) {
    const channels = ([1, 3, 4] as const)[k % 3];
    const width = 20 + ((k * 7) % 90);
    const height = 15 + ((k * 13) % 70);
    const data = new Uint8Array(width * height * channels);
    for (let i = 0; i < data.length; i++) data[i] = Math.floor(rnd() * 256);
    const img: RawImage = { width, height, channels, data };
    const scale = 0.3 + rnd() * 4.2;
    const angle = (rnd() * 2 - 1) * Math.PI;
    const outside = k % 10 === 0 ? 3 * width : 0;
    const m: Affine = [
      Math.cos(angle) * scale, -Math.sin(angle) * scale, rnd() * (width + 60) - 30 + outside,
      Math.sin(angle) * scale, Math.cos(angle) * scale, rnd() * (height + 60) - 30,
    ];
    const w = 8 + (k % 40);
    const h = 8 + (k % 33);
    const expected = warpAffine(toGray(img), m, w, h);
    const got = warpToGray(img, m, w, h);
    assert.equal(got.channels, 1);
    assert.deepEqual([got.width, got.height], [w, h]);
    let differing = 0;
    got.data.forEach((v, i) => {
      const d = Math.abs(v - expected.data[i]);
      assert.ok(d <= 1, `case ${k} (${channels} channels, scale ${scale.toFixed(2)}): pixel ${i} differs by ${d}`);
      if (d) differing++;
    });
    mismatched += differing;
    compared += got.data.length;
  }
  assert.ok(compared > 50000);
  assert.ok(mismatched <= compared / 1000, `${mismatched} of ${compared} pixels off by one`);
  // A region above the 1 MP scratch (a face filling a big frame) gives the same pixels.
  const big = gradientRgb(1400, 1000);
  const down: Affine = [1400 / 48, 0, 0, 0, 1000 / 48, 0];
  const bigGot = warpToGray(big, down, 48, 48);
  const bigWant = warpAffine(toGray(big), down, 48, 48);
  assert.ok(bigGot.data.every((v, i) => Math.abs(v - bigWant.data[i]) <= 1));
  assert.throws(() => warpToGray(gradientRgb(8, 8), [1, 0, 0, 0, 1, 0], 0, 4), ImageError);
  assert.throws(() => warpToGray(gradientRgb(8, 8), [NaN, 0, 0, 0, 1, 0], 4, 4), ImageError);
});
