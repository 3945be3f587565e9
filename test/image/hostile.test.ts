/**
 * decodeImage on hostile input: small files that declare (or inflate to) far more than they hold
 * must be refused with an ImageError before the decoders allocate, loop or recurse on what they
 * declare; sound files of the same kinds still decode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as path from 'path';
import * as zlib from 'zlib';
import { PNG } from 'pngjs';
import { checkJpeg, decodeImage, encodeJpeg, ImageError, RawImage } from '../../src/image';

const ROOT = path.resolve(__dirname, '..', '..');

/** The ImageError's code and message, or 'no error'. */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ImageError, String(e));
    return `${e.code}: ${e.message}`;
  }
  return 'no error';
}

function pattern(w: number, h: number, channels: 1 | 3): RawImage {
  const data = new Uint8Array(w * h * channels);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + (i >> 5)) & 255;
  return { width: w, height: h, channels, data };
}

// ---- PNG ---------------------------------------------------------------------------------------

function pngChunk(type: string, body: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  const tb = Buffer.concat([Buffer.from(type, 'latin1'), body]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(tb) >>> 0);
  return Buffer.concat([len, tb, crc]);
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function ihdr(w: number, h: number, colorType: number, depth: number, interlace: 0 | 1): Buffer {
  const b = Buffer.alloc(13);
  b.writeUInt32BE(w, 0);
  b.writeUInt32BE(h, 4);
  b[8] = depth;
  b[9] = colorType;
  b[12] = interlace;
  return b;
}

const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];

/** An Adam7-interlaced PNG of 8- or 16-bit samples (filter 0), which pngjs cannot write. */
function interlacedPng(img: RawImage, depth: 8 | 16 = 8): Buffer {
  const { width: w, height: h, channels } = img;
  const bytes = depth / 8;
  const rows: Buffer[] = [];
  for (const [x0, y0, dx, dy] of ADAM7) {
    const cols = Math.ceil((w - x0) / dx);
    if (cols <= 0) continue;
    for (let y = y0; y < h; y += dy) {
      const row = Buffer.alloc(1 + cols * channels * bytes);
      let k = 1;
      for (let x = x0; x < w; x += dx) {
        for (let c = 0; c < channels; c++) {
          const v = img.data[(y * w + x) * channels + c];
          if (depth === 16) row.writeUInt16BE(v * 257, k);
          else row[k] = v;
          k += bytes;
        }
      }
      rows.push(row);
    }
  }
  return Buffer.concat([
    PNG_SIGNATURE,
    pngChunk('IHDR', ihdr(w, h, channels === 1 ? 0 : 2, depth, 1)),
    pngChunk('IDAT', zlib.deflateSync(Buffer.concat(rows))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

test('PNG: a second IHDR does not replace the checked one (a 60 kB file decoded to 25 MP, over the 16.8 MP limit)', () => {
  const w = 5000;
  const h = 5000;
  const idat = zlib.deflateSync(Buffer.alloc((w + 1) * h));
  const png = Buffer.concat([
    PNG_SIGNATURE,
    pngChunk('IHDR', ihdr(1, 1, 0, 8, 0)),
    pngChunk('IHDR', ihdr(w, h, 0, 8, 0)),
    pngChunk('IDAT', idat),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
  assert.ok(png.length < 100_000);
  assert.equal(refusal(() => decodeImage(png)), 'CORRUPT: corrupt PNG: more than one header (IHDR)');
  // The first chunk must be the header (pngjs refuses the file otherwise, as before).
  const late = Buffer.concat([PNG_SIGNATURE, pngChunk('tEXt', Buffer.from('a\0b')), pngChunk('IHDR', ihdr(1, 1, 0, 8, 0)), pngChunk('IEND', Buffer.alloc(0))]);
  assert.match(refusal(() => decodeImage(late)), /^CORRUPT: corrupt PNG: it does not start with its header/);
});

test('PNG: interlaced image data is inflated no further than the image needs (a 1x1 image inflated 64 MB of zeros)', () => {
  const png = Buffer.concat([
    PNG_SIGNATURE,
    pngChunk('IHDR', ihdr(1, 1, 0, 8, 1)),
    pngChunk('IDAT', zlib.deflateSync(Buffer.alloc(64 << 20))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
  assert.ok(png.length < 100_000);
  assert.equal(refusal(() => decodeImage(png)), 'CORRUPT: corrupt PNG: its image data inflates to more than the 2 bytes of a 1x1 image');
});

test('PNG: sound interlaced images (gray, RGB, 16-bit, sizes that leave passes empty) decode as their plain encodings do', () => {
  for (const [w, h, channels, depth] of [[1, 1, 1, 8], [3, 2, 3, 8], [13, 9, 1, 8], [64, 40, 3, 8], [7, 5, 3, 16], [1, 17, 1, 16]] as const) {
    const img = pattern(w, h, channels);
    const plain = new PNG({ width: w, height: h, colorType: channels === 1 ? 0 : 2, inputColorType: channels === 1 ? 0 : 2, inputHasAlpha: false });
    plain.data = Buffer.from(img.data);
    const expected = decodeImage(PNG.sync.write(plain, { colorType: channels === 1 ? 0 : 2, inputColorType: channels === 1 ? 0 : 2, inputHasAlpha: false }));
    const got = decodeImage(interlacedPng(img, depth));
    assert.deepEqual([got.width, got.height, got.channels], [w, h, channels], `${w}x${h}x${channels} ${depth}-bit`);
    assert.deepEqual(Buffer.from(got.data), Buffer.from(expected.data), `${w}x${h}x${channels} ${depth}-bit`);
  }
});

// ---- JPEG --------------------------------------------------------------------------------------

function segment(marker: number, body: number[]): Buffer {
  return Buffer.from([0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 255, ...body]);
}

function sof(w: number, h: number, components: number): Buffer {
  const body = [8, h >> 8, h & 255, w >> 8, w & 255, components];
  for (let i = 0; i < components; i++) body.push(i + 1, 0x11, 0);
  return segment(0xc0, body);
}

test('JPEG: a frame header with other than 1, 3 or 4 components is refused before decoding (20 of them took 2.5 GB and 10 s at 4096x4096)', () => {
  const oneCode = [1, ...new Array(15).fill(0)];
  const bomb = Buffer.concat([
    Buffer.from([0xff, 0xd8]),
    segment(0xdb, [0, ...new Array(64).fill(1)]),
    sof(1024, 1024, 20),
    segment(0xc4, [0x00, ...oneCode, 0, 0x10, ...oneCode, 0]),
    segment(0xda, [1, 1, 0, 0, 63, 0]),
    Buffer.alloc(64),
    Buffer.from([0xff, 0xd9]),
  ]);
  const expected = 'UNSUPPORTED_FORMAT: JPEG with 20 colour components (only 1, 3 or 4 are decoded)';
  assert.equal(refusal(() => decodeImage(bomb)), expected);
  assert.equal(refusal(() => checkJpeg(bomb)), expected); // the preview node's check before it accepts a frame
});

test('JPEG: a second frame header after the scan gets no more memory than the checked one needs', () => {
  const small = encodeJpeg(pattern(16, 16, 3));
  const bomb = Buffer.concat([small.subarray(0, small.length - 2), sof(4096, 4096, 4), Buffer.from([0xff, 0xd9])]);
  // jpeg-js allocated 4096x4096x4 coefficients (700 MB of memory, 2 s) before it refused a second frame.
  assert.match(refusal(() => decodeImage(bomb)), /^CORRUPT: corrupt JPEG: maxMemoryUsageInMB limit exceeded/);
  // Sound JPEGs of every subsampling, tiny and thin ones too, stay within the budget.
  for (const [w, h] of [[1, 1], [8, 600], [600, 8], [333, 251]]) {
    const img = decodeImage(encodeJpeg(pattern(w, h, 3)));
    assert.deepEqual([img.width, img.height], [w, h]);
  }
});

// ---- TIFF --------------------------------------------------------------------------------------

/** A little-endian TIFF with one directory of raw entries `[tag, type, count, value]` and `next` as its next-directory offset. */
function rawTiff(entries: Array<[number, number, number, number]>, next = 0): Buffer {
  const b = Buffer.alloc(8 + 2 + entries.length * 12 + 4 + 64);
  b.write('II', 0, 'latin1');
  b.writeUInt16LE(42, 2);
  b.writeUInt32LE(8, 4);
  b.writeUInt16LE(entries.length, 8);
  entries.forEach(([tag, type, count, value], i) => {
    const o = 10 + i * 12;
    b.writeUInt16LE(tag, o);
    b.writeUInt16LE(type, o + 2);
    b.writeUInt32LE(count, o + 4);
    b.writeUInt32LE(value, o + 8);
  });
  b.writeUInt32LE(next, 10 + entries.length * 12);
  return b;
}

/**
 * A little-endian TIFF: `pieces` (strips or tiles, already compressed) after the header, then one
 * directory of `tags` (SHORT or LONG values) plus the pieces' offsets and byte counts.
 */
function tiffOf(tags: Record<number, number[]>, pieces: Buffer[], tiled: boolean): Buffer {
  const offsets: number[] = [];
  let at = 8;
  for (const p of pieces) {
    offsets.push(at);
    at += p.length;
  }
  const all: Record<number, [number, number[]]> = {};
  for (const [tag, values] of Object.entries(tags)) all[+tag] = [3, values];
  all[tiled ? 324 : 273] = [4, offsets];
  all[tiled ? 325 : 279] = [4, pieces.map((p) => p.length)];
  const entries = Object.entries(all).map(([tag, tv]) => [+tag, ...tv] as [number, number, number[]]).sort((a, b) => a[0] - b[0]);
  const ifdAt = at + (at & 1);
  const extraAt = ifdAt + 2 + entries.length * 12 + 4;
  const ifd = Buffer.alloc(2 + entries.length * 12 + 4);
  const extra: Buffer[] = [];
  let extraLen = 0;
  ifd.writeUInt16LE(entries.length, 0);
  entries.forEach(([tag, type, values], i) => {
    const o = 2 + i * 12;
    ifd.writeUInt16LE(tag, o);
    ifd.writeUInt16LE(type, o + 2);
    ifd.writeUInt32LE(values.length, o + 4);
    const size = type === 3 ? 2 : 4;
    const v = Buffer.alloc(values.length * size);
    values.forEach((x, j) => (size === 2 ? v.writeUInt16LE(x, j * 2) : v.writeUInt32LE(x, j * 4)));
    if (v.length <= 4) v.copy(ifd, o + 8);
    else {
      ifd.writeUInt32LE(extraAt + extraLen, o + 8);
      extra.push(v);
      extraLen += v.length;
    }
  });
  const header = Buffer.alloc(8);
  header.write('II', 0, 'latin1');
  header.writeUInt16LE(42, 2);
  header.writeUInt32LE(ifdAt, 4);
  return Buffer.concat([header, ...pieces, Buffer.alloc(ifdAt - at), ifd, ...extra]);
}

/** The pieces of a gray image: strips of `rows` rows, or `tw`x`th` tiles (edge tiles padded). */
function cut(img: RawImage, tw: number, th: number): Buffer[] {
  const out: Buffer[] = [];
  for (let y0 = 0; y0 < img.height; y0 += th) {
    for (let x0 = 0; x0 < img.width; x0 += tw) {
      const p = Buffer.alloc(tw * th);
      for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) {
        if (y0 + y < img.height && x0 + x < img.width) p[y * tw + x] = img.data[(y0 + y) * img.width + x0 + x];
      }
      out.push(p);
    }
  }
  return out;
}

const grayTags = (w: number, h: number, compression: number) => ({ 256: [w], 257: [h], 258: [8], 259: [compression], 262: [1], 277: [1] });

test('TIFF: a field whose values lie beyond the end of the file is refused (a 90-byte file listed 20 million zeros: 500 MB, 1 s; 4 billion abort the process)', () => {
  const bomb = rawTiff([[256, 3, 5_000_000, 0], [257, 3, 1, 8]]);
  assert.equal(refusal(() => decodeImage(bomb)), 'CORRUPT: corrupt TIFF: the values of field 256 lie beyond the end of the file');
});

test('TIFF: directories that loop are refused (utif2 read the same one until the heap ran out and Node aborted)', () => {
  const code = `
    const { decodeImage } = require('./src/image');
    const b = Buffer.alloc(8 + 2 + 24 + 4);
    b.write('II', 0, 'latin1'); b.writeUInt16LE(42, 2); b.writeUInt32LE(8, 4); b.writeUInt16LE(2, 8);
    [[256, 3, 1, 8], [257, 3, 1, 8]].forEach(([t, ty, n, v], i) => { const o = 10 + i * 12; b.writeUInt16LE(t, o); b.writeUInt16LE(ty, o + 2); b.writeUInt32LE(n, o + 4); b.writeUInt32LE(v, o + 8); });
    b.writeUInt32LE(8, 34); // the next directory is this one again
    try { decodeImage(b); console.log('no error'); } catch (e) { console.log(e.code + ': ' + e.message); }`;
  const r = spawnSync(process.execPath, ['--max-old-space-size=128', '--import', 'tsx', '-e', code], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `the process ended with ${r.status ?? r.signal}: ${r.stderr.slice(-300)}`);
  assert.equal(r.stdout.trim(), 'CORRUPT: corrupt TIFF: its chain of image directories loops');
  // A sub-directory that refers to itself, likewise.
  const self = rawTiff([[256, 3, 1, 8], [257, 3, 1, 8], [330, 4, 1, 8]]);
  assert.equal(refusal(() => decodeImage(self)), 'CORRUPT: corrupt TIFF: more than 1024 image directories (or a loop of them)');
});

/** A little-endian TIFF of `pages` 1x1 8-bit gray pages (page k's pixel: `pixel(k)`), each directory followed by its pixel. */
function multiPageTiff(pages: number, pixel: (k: number) => number): Buffer {
  const n = 9;
  const size = 2 + n * 12 + 4 + 2; // a directory, its next offset, its pixel (and a pad byte)
  const b = Buffer.alloc(8 + pages * size);
  b.write('II', 0, 'latin1');
  b.writeUInt16LE(42, 2);
  b.writeUInt32LE(8, 4);
  for (let k = 0; k < pages; k++) {
    const at = 8 + k * size;
    const pixelAt = at + 2 + n * 12 + 4;
    b.writeUInt16LE(n, at);
    const entries: Array<[number, number, number]> = [[256, 3, 1], [257, 3, 1], [258, 3, 8], [259, 3, 1], [262, 3, 1], [273, 4, pixelAt], [277, 3, 1], [278, 3, 1], [279, 4, 1]];
    entries.forEach(([tag, type, value], i) => {
      const o = at + 2 + i * 12;
      b.writeUInt16LE(tag, o);
      b.writeUInt16LE(type, o + 2);
      b.writeUInt32LE(1, o + 4);
      if (type === 3) b.writeUInt16LE(value, o + 8);
      else b.writeUInt32LE(value, o + 8);
    });
    b.writeUInt32LE(k + 1 < pages ? at + size : 0, at + 2 + n * 12);
    b[pixelAt] = pixel(k);
  }
  return b;
}

test('TIFF: a file of more than 1024 pages (a multi-page scan, a stack) still decodes its first page', () => {
  const tif = multiPageTiff(1100, (k) => (k === 0 ? 200 : 7));
  const img = decodeImage(tif);
  assert.deepEqual([img.width, img.height, img.channels, ...img.data], [1, 1, 3, 200, 200, 200]);
  // A chain that comes back to a page it has read is a loop, however long.
  const loop = Buffer.from(tif);
  const page = (tif.length - 8) / 1100; // bytes per page after the 8-byte header
  loop.writeUInt32LE(8 + 5 * page, 8 + 1099 * page + 2 + 9 * 12); // the last page's next: the 6th
  assert.equal(refusal(() => decodeImage(loop)), 'CORRUPT: corrupt TIFF: its chain of image directories loops');
});

test('TIFF: the pixel layout is checked before utif2 allocates it: bits per pixel, tile size, strips beyond the file, compression', () => {
  // 1024 bits per pixel at 4096x4096: 2 GB and 15 s before it failed.
  assert.equal(refusal(() => decodeImage(rawTiff([[256, 3, 1, 512], [257, 3, 1, 512], [258, 3, 1, 1024], [277, 3, 1, 1], [273, 4, 1, 0], [279, 4, 1, 10]]))),
    'UNSUPPORTED_FORMAT: TIFF with 1024 bits per pixel (at most 128 are decoded)');
  // An 8x8 image in one 12000x12000 tile: a 144 MB tile buffer filled (30000x30000: 900 MB).
  assert.equal(refusal(() => decodeImage(rawTiff([[256, 3, 1, 8], [257, 3, 1, 8], [258, 3, 1, 8], [277, 3, 1, 1], [322, 4, 1, 12000], [323, 4, 1, 12000], [324, 4, 1, 0], [325, 4, 1, 10]]))),
    'TOO_LARGE: TIFF tiles of 12000x12000 for a 8x8 image');
  // Strip byte counts far beyond the file: an uncompressed copy loop of 4 billion steps.
  const beyond = tiffOf(grayTags(8, 8, 1), [Buffer.alloc(32), Buffer.alloc(32)], false);
  const i = beyond.indexOf(Buffer.from([32, 0, 0, 0, 32, 0, 0, 0]));
  beyond.writeUInt32LE(0xffffffff, i + 4);
  assert.equal(refusal(() => decodeImage(beyond)), 'CORRUPT: corrupt TIFF: strip 1 lies beyond the end of the file');
  // Decoders that allocate what their data declares, and that nothing here needs (CCITT fax, old-style JPEG, camera raw).
  for (const c of [2, 3, 4, 6, 34713]) {
    assert.equal(refusal(() => decodeImage(tiffOf(grayTags(8, 8, c), [Buffer.alloc(64)], false))), `UNSUPPORTED_FORMAT: TIFF compression ${c} is not supported (none, LZW, JPEG, Deflate or PackBits are)`);
  }
});

test('TIFF: a Deflate strip that inflates beyond its place in the image is refused (a 16x16 image inflated 400 MB)', () => {
  const bomb = tiffOf({ ...grayTags(16, 16, 8), 278: [16] }, [zlib.deflateSync(Buffer.alloc(50 << 20))], false);
  assert.ok(bomb.length < 100_000);
  assert.equal(refusal(() => decodeImage(bomb)), 'CORRUPT: corrupt TIFF: strip 0 inflates to more than its 256 bytes');
});

test('TIFF: a JPEG strip larger than its place in the image is refused before utif2 decodes it', () => {
  const big = encodeJpeg(pattern(400, 300, 3));
  const bomb = tiffOf({ ...grayTags(16, 16, 7), 258: [8, 8, 8], 262: [6], 277: [3], 278: [16] }, [big], false);
  assert.equal(refusal(() => decodeImage(bomb)), 'CORRUPT: corrupt TIFF: strip 0 is a 400x300 JPEG with 3 components');
});

test('TIFF: sound strips and tiles decode: uncompressed, Deflate and JPEG, odd sizes', () => {
  const img = pattern(37, 21, 1);
  const deflate = (ps: Buffer[]) => ps.map((p) => zlib.deflateSync(p));
  const cases: Array<[string, Buffer]> = [
    ['strips of 5 rows', tiffOf({ ...grayTags(37, 21, 1), 278: [5] }, cut(img, 37, 5).map((p, k) => p.subarray(0, 37 * Math.min(5, 21 - 5 * k))), false)],
    ['Deflate strips of 4 rows', tiffOf({ ...grayTags(37, 21, 8), 278: [4] }, deflate(cut(img, 37, 4).map((p, k) => p.subarray(0, 37 * Math.min(4, 21 - 4 * k)))), false)],
    ['16x16 tiles', tiffOf({ ...grayTags(37, 21, 1), 322: [16], 323: [16] }, cut(img, 16, 16), true)],
    ['Deflate 32x16 tiles', tiffOf({ ...grayTags(37, 21, 8), 322: [32], 323: [16] }, deflate(cut(img, 32, 16)), true)],
  ];
  for (const [what, tif] of cases) {
    const got = decodeImage(tif);
    assert.deepEqual([got.width, got.height], [37, 21], what);
    const grayOf = Uint8Array.from({ length: 37 * 21 }, (_, k) => got.data[k * 3]);
    assert.deepEqual(Buffer.from(grayOf), Buffer.from(img.data), what);
  }
  // A JPEG strip of its own size (colour, YCbCr): decoded, close to the original.
  const rgb = pattern(24, 16, 3);
  const tif = tiffOf({ ...grayTags(24, 16, 7), 258: [8, 8, 8], 262: [6], 277: [3], 278: [16] }, [encodeJpeg(rgb, { quality: 95 })], false);
  const got = decodeImage(tif);
  assert.deepEqual([got.width, got.height, got.channels], [24, 16, 3]);
});
