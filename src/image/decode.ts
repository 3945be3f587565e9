/**
 * Image decoding: JPEG (jpeg-js), PNG (pngjs: gray, RGB, RGBA, palette, 16-bit) and TIFF (utif2)
 * into a {@link RawImage}. The format is sniffed from the magic bytes, never from a name.
 */
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import * as zlib from 'zlib';
import { Channels, ImageError, RawImage } from './types';

const UTIF = require('utif2') as typeof import('utif2');

export type ImageFormat = 'jpeg' | 'png' | 'tiff';

/** 8K UHD (7680x4320) is 33.2 MP; the default refuses it (see {@link DecodeOptions.maxPixels}). */
export const DEFAULT_MAX_PIXELS = 4096 * 4096;

export interface DecodeOptions {
  /**
   * Largest accepted image in pixels; bigger images are refused with a `TOO_LARGE` error before
   * their pixels are decoded (a 8K frame decodes to ~100 MB of RGB and takes seconds in JS).
   * @default 16777216 (4096x4096)
   */
  maxPixels?: number;
}

/** Identifies an encoded image from its first bytes, or returns null. */
export function sniffImageFormat(buf: Uint8Array): ImageFormat | null {
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'jpeg';
  if (buf.length >= 8 && buf[0] === 0x89 && buf[1] === 0x50 && buf[2] === 0x4e && buf[3] === 0x47) return 'png';
  if (buf.length >= 4 && ((buf[0] === 0x49 && buf[1] === 0x49 && buf[2] === 0x2a && buf[3] === 0) ||
    (buf[0] === 0x4d && buf[1] === 0x4d && buf[2] === 0 && buf[3] === 0x2a))) return 'tiff';
  return null;
}

function checkSize(width: number, height: number, maxPixels: number, fmt: string): void {
  if (!(width > 0 && height > 0)) throw new ImageError('EMPTY', `${fmt} image has no pixels (${width}x${height})`);
  if (width * height > maxPixels) {
    throw new ImageError(
      'TOO_LARGE',
      `${fmt} image is ${width}x${height} (${(width * height / 1e6).toFixed(1)} MP), above the limit of ${(maxPixels / 1e6).toFixed(1)} MP`,
    );
  }
}

/**
 * Walks a JPEG's marker segments from after SOI and returns the offset of the first one whose
 * marker `wanted` accepts, or -1 (not found, or the structure breaks first).
 */
function findSegment(buf: Uint8Array, wanted: (marker: number) => boolean): number {
  let i = 2;
  while (i + 3 < buf.length) {
    if (buf[i] !== 0xff) return -1;
    const marker = buf[i + 1];
    if (marker === 0xff) { i++; continue; }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) { i += 2; continue; }
    if (wanted(marker)) return i;
    const len = (buf[i + 2] << 8) | buf[i + 3];
    if (len < 2) return -1;
    i += 2 + len;
  }
  return -1;
}

/** SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC): a JPEG frame header marker. */
export const isSof = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

/** Reads a JPEG's size from its SOF marker without decoding (null if not found). */
export function jpegSize(buf: Uint8Array): { width: number; height: number } | null {
  const h = jpegFrameHeader(buf);
  return h && { width: h.width, height: h.height };
}

/** The first frame header (SOF) of a JPEG: size and number of colour components (null if not found). */
function jpegFrameHeader(buf: Uint8Array): { width: number; height: number; components: number } | null {
  const i = findSegment(buf, isSof);
  if (i < 0 || i + 9 >= buf.length) return null;
  return { height: (buf[i + 5] << 8) | buf[i + 6], width: (buf[i + 7] << 8) | buf[i + 8], components: buf[i + 9] };
}

/**
 * What jpeg-js may allocate (by its own count) to decode a JPEG whose frame header is
 * `width`x`height` with `components` components: coefficient blocks of 256 bytes per 8x8 block
 * (MCUs padded by up to 15 blocks per side), a line buffer and an output per component, the
 * RGB result, and the Huffman/quantisation tables (at most the file's size).
 */
function jpegDecodeBudget(width: number, height: number, components: number, fileBytes: number): number {
  const bw = Math.ceil(width / 8) + 16;
  const bh = Math.ceil(height / 8) + 16;
  return components * bw * bh * (256 + 64) + (components + 3) * width * height + fileBytes + (1 << 20);
}

/**
 * The checks made on a JPEG before its pixels are decoded, without decoding: a frame header
 * (SOF) with the image size, the size limit, and the end-of-image marker. Throws an
 * {@link ImageError}; returns the size and the number of colour components.
 */
export function checkJpeg(buf: Uint8Array, maxPixels = DEFAULT_MAX_PIXELS): { width: number; height: number; components: number } {
  const header = jpegFrameHeader(buf);
  if (!header) throw new ImageError('CORRUPT', 'corrupt JPEG: no frame header (SOF) found');
  checkSize(header.width, header.height, maxPixels, 'JPEG');
  // jpeg-js decodes gray, YCbCr/RGB and CMYK only, and allocates every component's coefficients
  // before it finds that out: 20 components declared in a 257-byte file took 2.5 GB and 10 s.
  if (header.components !== 1 && header.components !== 3 && header.components !== 4) {
    throw new ImageError('UNSUPPORTED_FORMAT', `JPEG with ${header.components} colour components (only 1, 3 or 4 are decoded)`);
  }
  // A JPEG must have its EOI (FFD9) after the scan data: truncated camera frames otherwise decode
  // "tolerantly" into grey garbage that the detector would silently chew on. Bytes after EOI
  // (a CRLF left by a multipart splitter, padding, vendor trailers) are fine.
  if (!hasEndAfterScan(buf)) throw new ImageError('CORRUPT', 'corrupt JPEG: truncated (no end-of-image marker)');
  return header;
}

/**
 * True when an end-of-image marker (FFD9) follows the first start-of-scan (FFDA). Inside scan
 * data 0xFF is always stuffed (FF00) or a restart marker (FFD0-D7), so FFD9 there is the real end;
 * one before the scan (an EXIF thumbnail's) does not count.
 */
function hasEndAfterScan(buf: Uint8Array): boolean {
  const sos = findSegment(buf, (m) => m === 0xda);
  if (sos < 0) return false;
  for (let j = buf.length - 2; j > sos + 1; j--) if (buf[j] === 0xff && buf[j + 1] === 0xd9) return true;
  return false;
}

function decodeJpeg(buf: Uint8Array, maxPixels: number): RawImage {
  const { width, height, components } = checkJpeg(buf, maxPixels);
  let out: { width: number; height: number; data: Uint8Array };
  try {
    out = jpeg.decode(buf, {
      useTArray: true,
      formatAsRGBA: false,
      tolerantDecoding: true,
      maxResolutionInMP: Math.ceil(maxPixels / 1e6) + 1,
      // What the checked frame header needs: a second frame header further on (jpeg-js
      // allocates for each before it refuses more than one) cannot take more.
      maxMemoryUsageInMB: Math.ceil(jpegDecodeBudget(width, height, components, buf.length) / 2 ** 20),
    });
  } catch (e) {
    throw new ImageError('CORRUPT', `corrupt JPEG: ${e instanceof Error ? e.message : String(e)}`);
  }
  checkSize(out.width, out.height, maxPixels, 'JPEG');
  return { width: out.width, height: out.height, channels: 3, data: out.data };
}

/** Drops or keeps the alpha and colour channels of an RGBA buffer according to the source. */
function fromRgba(rgba: Uint8Array, width: number, height: number, channels: Channels): RawImage {
  if (channels === 4) return { width, height, channels, data: rgba };
  const n = width * height;
  const data = new Uint8Array(n * channels);
  if (channels === 1) {
    for (let i = 0, j = 0; i < n; i++, j += 4) data[i] = rgba[j];
  } else {
    for (let i = 0, j = 0, k = 0; i < n; i++, j += 4, k += 3) {
      data[k] = rgba[j];
      data[k + 1] = rgba[j + 1];
      data[k + 2] = rgba[j + 2];
    }
  }
  return { width, height, channels, data };
}

/** Adam7: x and y start and step of each of the 7 passes of an interlaced PNG. */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];
/** Samples per pixel of each PNG colour type. */
const PNG_SAMPLES: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/**
 * The checks made on a PNG before pngjs sees it: walks its chunks as pngjs does, so that the size
 * limit applies to the header pngjs uses (a second IHDR further on replaced the checked one: a
 * 62 kB file decoded to 64 MP), and bounds what an interlaced image's data inflates to (pngjs
 * inflates those without a limit: a 300 kB 1x1 image inflated hundreds of MB of zeros).
 */
function checkPng(b: Buffer, maxPixels: number): void {
  let header: { width: number; height: number; bits: number; interlaced: boolean } | null = null;
  const data: Buffer[] = [];
  for (let i = 8; i + 8 <= b.length; ) {
    const length = b.readUInt32BE(i);
    const type = b.toString('latin1', i + 4, i + 8);
    if (!header && type !== 'IHDR') throw new ImageError('CORRUPT', 'corrupt PNG: it does not start with its header (IHDR)');
    if (type === 'IHDR') {
      if (header) throw new ImageError('CORRUPT', 'corrupt PNG: more than one header (IHDR)');
      if (length < 13 || i + 21 > b.length) throw new ImageError('CORRUPT', 'corrupt PNG: shorter than its header');
      const width = b.readUInt32BE(i + 8);
      const height = b.readUInt32BE(i + 12);
      checkSize(width, height, maxPixels, 'PNG');
      header = { width, height, bits: b[i + 16] * (PNG_SAMPLES[b[i + 17]] ?? 4), interlaced: b[i + 20] === 1 };
    } else if (type === 'IDAT') data.push(b.subarray(i + 8, Math.min(b.length, i + 8 + length)));
    else if (type === 'IEND') break;
    i += 12 + length;
  }
  if (!header) throw new ImageError('CORRUPT', 'corrupt PNG: shorter than its header');
  if (!header.interlaced) return; // pngjs inflates these up to the image's own size
  const { width, height, bits } = header;
  let bytes = 0;
  for (const [x0, y0, dx, dy] of ADAM7) {
    const cols = Math.ceil((width - x0) / dx);
    const rows = Math.ceil((height - y0) / dy);
    if (cols > 0 && rows > 0) bytes += rows * (1 + Math.ceil((cols * bits) / 8));
  }
  try {
    zlib.inflateSync(Buffer.concat(data), { maxOutputLength: Math.max(1, bytes), finishFlush: zlib.constants.Z_SYNC_FLUSH });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ImageError('CORRUPT', `corrupt PNG: its image data inflates to more than the ${bytes} bytes of a ${width}x${height} image`);
    }
    // Anything else wrong with the data is pngjs's to report.
  }
}

function decodePng(buf: Uint8Array, maxPixels: number): RawImage {
  if (buf.length < 33) throw new ImageError('CORRUPT', 'corrupt PNG: shorter than its header');
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  checkPng(b, maxPixels);
  let png: PNG;
  try {
    png = PNG.sync.read(b);
  } catch (e) {
    throw new ImageError('CORRUPT', `corrupt PNG: ${e instanceof Error ? e.message : String(e)}`);
  }
  // pngjs always returns 8-bit RGBA (16-bit is rescaled, palettes expanded); colorType tells
  // what the file held: bit 1 = colour, bit 2 = alpha (palette = 3; tRNS is not reported).
  const ct = (png as unknown as { colorType?: number }).colorType ?? 6;
  const alpha = (ct & 4) !== 0;
  const colour = (ct & 2) !== 0;
  const channels: Channels = alpha ? 4 : colour ? 3 : 1;
  return fromRgba(new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.length), png.width, png.height, channels);
}

/** Bytes per value of each TIFF field type (1..13); 0: a type utif2 reads nothing for. */
const TIFF_TYPE_BYTES = [0, 1, 1, 2, 4, 8, 0, 1, 2, 4, 8, 4, 8, 4];
/** Field types utif2 reads value by value into an array (a cost per value, wherever the values lie). */
const TIFF_LISTED = new Set([3, 4, 5, 8, 9, 10, 11, 12, 13]);
/** Tags whose values utif2 follows as offsets of further directories. */
const TIFF_SUB_IFDS = new Set([330, 34665, 34853, 61440]);
/**
 * Directories utif2 may read for one page (its own and the sub-directories it refers to, each
 * time one is referred to), pages (a multi-page file: a scan, a stack, a burst; only the first
 * is decoded), and fields and values it may list in all.
 */
const MAX_TIFF_IFDS = 1024;
const MAX_TIFF_PAGES = 65536;
const MAX_TIFF_VALUES = 1 << 20;
/** Compressions whose decoding is bounded by the checks below: none, LZW, JPEG, Deflate (two codes), PackBits. */
const TIFF_COMPRESSIONS = new Set([1, 5, 7, 8, 32946, 32773]);

const corruptTiff = (why: string) => new ImageError('CORRUPT', `corrupt TIFF: ${why}`);

/**
 * Walks the directories utif2's `decode` reads (the chain from the header and the sub-directories
 * it follows; maker notes are not parsed) and refuses a file on which it would not end or would
 * allocate without bound: a directory chain that loops (it read the same one for ever, until the
 * heap ran out and the process aborted), a field whose values lie beyond the end of the file (a
 * count of 4 billion made it list zeros for minutes), or more directories and values than any
 * image has (per page: a file of 1100 pages is sound).
 */
function checkTiffStructure(data: Uint8Array): void {
  const view = new DataView(data.buffer, data.byteOffset, data.length);
  const le = data[0] === 0x49;
  // As utif2 reads: bytes beyond the end are 0.
  const u16 = (o: number) => (o >= 0 && o + 2 <= data.length ? view.getUint16(o, le) : 0);
  const u32 = (o: number) => (o >= 0 && o + 4 <= data.length ? view.getUint32(o, le) : 0);
  let ifds = 0;
  let values = 0;
  const visit = (offset: number): number => {
    if (++ifds > MAX_TIFF_IFDS) throw corruptTiff(`more than ${MAX_TIFF_IFDS} image directories (or a loop of them)`);
    const count = u16(offset);
    if (count === 0) return u32(offset + 2); // (also one beyond the end: utif2 reads an empty directory there)
    if (offset + 2 + count * 12 > data.length) throw corruptTiff('an image directory lies beyond the end of the file');
    values += count; // each field is an array of its own
    for (let e = offset + 2; e < offset + 2 + count * 12; e += 12) {
      const tag = u16(e);
      const type = u16(e + 2);
      const num = u32(e + 4);
      const size = (TIFF_TYPE_BYTES[type] ?? 0) * num;
      const at = size > 4 ? u32(e + 8) : e + 8;
      if (TIFF_LISTED.has(type)) {
        if (at + size > data.length) throw corruptTiff(`the values of field ${tag} lie beyond the end of the file`);
        values += num;
      }
      if (values > MAX_TIFF_VALUES) throw corruptTiff(`more than ${MAX_TIFF_VALUES} fields and values`);
      if (TIFF_SUB_IFDS.has(tag)) {
        // Offsets of other types (text, fractions, signed) send utif2 anywhere: no image has them.
        if (type !== 3 && type !== 4 && type !== 13) throw corruptTiff(`field ${tag} (sub-directories) of type ${type}`);
        for (let j = 0; j < num; j++) visit(type === 3 ? u16(at + 2 * j) : u32(at + 4 * j));
      } else if (tag === 50740) {
        // DNG private data (bytes): utif2 follows its first four as an offset when a directory seems to be there.
        if (type !== 1 && type !== 7) throw corruptTiff(`field ${tag} (DNG private data) of type ${type}`);
        const b = [0, 1, 2, 3].map((k) => (k < num && at + k < data.length ? data[at + k] : 0));
        const o = (le ? b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24) : (b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
        if (u16(o) < 300) visit(o);
      }
    }
    return u32(offset + 2 + count * 12);
  };
  const pages = new Set<number>();
  for (let next = u32(4); next !== 0; ) {
    const count = u16(next);
    const type = u16(next + 4);
    if (count !== 0 && (type < 1 || type > 13)) break; // where utif2 stops reading the chain
    if (pages.has(next)) throw corruptTiff('its chain of image directories loops');
    pages.add(next);
    if (pages.size > MAX_TIFF_PAGES) throw corruptTiff(`more than ${MAX_TIFF_PAGES} pages (image directories in its chain)`);
    ifds = 0;
    next = visit(next);
  }
}

/**
 * Checks the first directory's pixel layout before utif2 allocates and decodes it: the bits
 * per pixel it sizes its buffer with (1024 bits made it allocate 2 GB), the tile size (an 8x8
 * image with 30000x30000 tiles filled 900 MB), the compression, and each strip or tile: inside
 * the file, no more bytes in all than the file has, and for Deflate and JPEG no more pixels
 * than its place in the image (a 16x16 Deflate strip inflated to 400 MB).
 */
function checkTiffLayout(ifd: Record<string, unknown>, data: Uint8Array, width: number, height: number, maxPixels: number): void {
  const first = (tag: number): number | undefined => {
    const v = ifd[`t${tag}`];
    return Array.isArray(v) || ArrayBuffer.isView(v) ? Number((v as ArrayLike<unknown>)[0]) : undefined;
  };
  const list = (tag: number): number[] => {
    const v = ifd[`t${tag}`];
    return Array.isArray(v) || ArrayBuffer.isView(v) ? Array.from(v as ArrayLike<unknown>, Number) : [];
  };
  const compression = first(259) ?? 1;
  if (!TIFF_COMPRESSIONS.has(compression)) {
    throw new ImageError('UNSUPPORTED_FORMAT', `TIFF compression ${compression} is not supported (none, LZW, JPEG, Deflate or PackBits are)`);
  }
  // utif2's bits per pixel, with its special cases.
  let bits = (first(258) ?? 1) * (first(277) ?? 1);
  if (compression === 1 && ifd.t279 != null && ifd.t278 && first(262) === 32803) bits = Math.round(((first(279) ?? 0) * 8) / (width * (first(278) ?? 0)));
  if (first(50885) === 4) bits = (first(258) ?? 0) * 3;
  if (!(bits >= 1 && bits <= 128)) throw new ImageError('UNSUPPORTED_FORMAT', `TIFF with ${bits} bits per pixel (at most 128 are decoded)`);
  const tiled = ifd.t322 != null;
  let pieceW = width;
  let pieceH = Math.min(first(278) ?? height, height);
  let pieces = 0;
  if (tiled) {
    pieceW = first(322) ?? 0;
    pieceH = first(323) ?? 0;
    if (!(Number.isInteger(pieceW) && Number.isInteger(pieceH) && pieceW > 0 && pieceH > 0)) throw corruptTiff(`tile size ${pieceW}x${pieceH}`);
    const across = Math.ceil(width / pieceW);
    const down = Math.ceil(height / pieceH);
    if (pieceW * pieceH > maxPixels || across * pieceW * down * pieceH > 4 * maxPixels) {
      throw new ImageError('TOO_LARGE', `TIFF tiles of ${pieceW}x${pieceH} for a ${width}x${height} image`);
    }
    pieces = across * down;
  }
  // utif2's strip (or tile) offsets and byte counts.
  const offsets = tiled || ifd.t273 == null ? list(324) : list(273);
  const counts = tiled || ifd.t279 == null ? list(325) : list(279);
  if (!tiled) pieces = offsets.length;
  // Uncompressed in one strip: utif2 takes the image's own size as the strip's.
  if (compression === 1 && !tiled && offsets.length === 1) return;
  const pieceBytes = pieceH * Math.ceil((pieceW * bits) / 8);
  let total = 0;
  for (let i = 0; i < pieces && i < offsets.length && i < counts.length; i++) {
    const off = offsets[i];
    const len = counts[i];
    if (!(off >= 0 && len >= 0 && off + len <= data.length)) throw corruptTiff(`${tiled ? 'tile' : 'strip'} ${i} lies beyond the end of the file`);
    total += len;
    if (total > data.length) throw corruptTiff(`its ${tiled ? 'tiles' : 'strips'} hold more bytes than the file`);
    const piece = data.subarray(off, off + len);
    if (compression === 8 || compression === 32946) {
      try {
        zlib.inflateRawSync(piece.subarray(2, Math.max(2, len - 4)), { maxOutputLength: Math.max(1, pieceBytes), finishFlush: zlib.constants.Z_SYNC_FLUSH });
      } catch (e) {
        if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw corruptTiff(`${tiled ? 'tile' : 'strip'} ${i} inflates to more than its ${pieceBytes} bytes`);
      }
    } else if (compression === 7) {
      // utif2's JPEG decoder allocates what the piece's own frame header says.
      const h = jpegFrameHeader(piece);
      if (!h) throw corruptTiff(`${tiled ? 'tile' : 'strip'} ${i} has no JPEG frame header`);
      if (h.components > 4 || h.width * h.height > 4 * pieceW * pieceH + 4096) {
        throw corruptTiff(`${tiled ? 'tile' : 'strip'} ${i} is a ${h.width}x${h.height} JPEG with ${h.components} components`);
      }
    }
  }
}

function decodeTiff(buf: Uint8Array, maxPixels: number): RawImage {
  let rgba: Uint8Array;
  let width: number;
  let height: number;
  try {
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer;
    checkTiffStructure(buf);
    // Maker notes (camera vendors' blobs) are not parsed: nothing here needs them.
    const ifds = (UTIF.decode as (b: ArrayBuffer, prm: { parseMN: boolean; debug: boolean }) => UTIF.IFD[])(ab, { parseMN: false, debug: false });
    if (!ifds.length) throw new Error('no image directory');
    const ifd = ifds[0];
    width = Number((ifd.t256 as number[] | undefined)?.[0] ?? 0);
    height = Number((ifd.t257 as number[] | undefined)?.[0] ?? 0);
    if (!(width > 0 && height > 0)) throw new Error('no image size in the first directory');
    checkSize(width, height, maxPixels, 'TIFF');
    checkTiffLayout(ifd as Record<string, unknown>, buf, width, height, maxPixels);
    UTIF.decodeImage(ab, ifd);
    rgba = UTIF.toRGBA8(ifd);
    width = ifd.width as number;
    height = ifd.height as number;
  } catch (e) {
    if (e instanceof ImageError) throw e;
    throw new ImageError('CORRUPT', `corrupt or unsupported TIFF: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!rgba || rgba.length < width * height * 4) throw new ImageError('CORRUPT', 'corrupt TIFF: pixel data is incomplete');
  return fromRgba(rgba, width, height, 3);
}

/**
 * Decodes a JPEG, PNG or TIFF buffer into 8-bit interleaved pixels.
 *
 * <span class="informal">One entry point for every still image the package reads.</span>
 *
 * @example
 * ```ts
 * const img = decodeImage(fs.readFileSync('face.png')); // { width, height, channels: 1|3|4, data }
 * const gray = toGray(img);
 * ```
 * @param buf Encoded bytes.
 * @param options Size limit.
 * @return The decoded image: JPEG → 3 channels; PNG → 1 (gray), 3 (RGB/palette) or 4 (with
 *   alpha); TIFF → 3.
 * @throws {ImageError} `EMPTY`, `UNSUPPORTED_FORMAT`, `CORRUPT` or `TOO_LARGE`.
 */
export function decodeImage(buf: Uint8Array, options: DecodeOptions = {}): RawImage {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(buf instanceof Uint8Array)) throw new ImageError('BAD_ARGUMENT', `expected a Buffer or Uint8Array, got ${typeof buf}`);
  if (buf.length === 0) throw new ImageError('EMPTY', 'image buffer is empty');
  const fmt = sniffImageFormat(buf);
  switch (fmt) {
    case 'jpeg':
      return decodeJpeg(buf, maxPixels);
    case 'png':
      return decodePng(buf, maxPixels);
    case 'tiff':
      return decodeTiff(buf, maxPixels);
    default:
      throw new ImageError(
        'UNSUPPORTED_FORMAT',
        `unsupported image format (first bytes ${Buffer.from(buf.subarray(0, 4)).toString('hex')}); expected JPEG, PNG or TIFF`,
      );
  }
}
