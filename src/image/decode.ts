/**
 * Image decoding: JPEG (jpeg-js), PNG (pngjs: gray, RGB, RGBA, palette, 16-bit) and TIFF (utif2)
 * into a {@link RawImage}. The format is sniffed from the magic bytes, never from a name.
 */
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
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
  const i = findSegment(buf, isSof);
  if (i < 0 || i + 9 >= buf.length) return null;
  return { height: (buf[i + 5] << 8) | buf[i + 6], width: (buf[i + 7] << 8) | buf[i + 8] };
}

/**
 * The checks made on a JPEG before its pixels are decoded, without decoding: a frame header
 * (SOF) with the image size, the size limit, and the end-of-image marker. Throws an
 * {@link ImageError}; returns the size.
 */
export function checkJpeg(buf: Uint8Array, maxPixels = DEFAULT_MAX_PIXELS): { width: number; height: number } {
  const size = jpegSize(buf);
  if (!size) throw new ImageError('CORRUPT', 'corrupt JPEG: no frame header (SOF) found');
  checkSize(size.width, size.height, maxPixels, 'JPEG');
  // A JPEG must have its EOI (FFD9) after the scan data: truncated camera frames otherwise decode
  // "tolerantly" into grey garbage that the detector would silently chew on. Bytes after EOI
  // (a CRLF left by a multipart splitter, padding, vendor trailers) are fine.
  if (!hasEndAfterScan(buf)) throw new ImageError('CORRUPT', 'corrupt JPEG: truncated (no end-of-image marker)');
  return size;
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
  checkJpeg(buf, maxPixels);
  let out: { width: number; height: number; data: Uint8Array };
  try {
    out = jpeg.decode(buf, {
      useTArray: true,
      formatAsRGBA: false,
      tolerantDecoding: true,
      maxResolutionInMP: Math.ceil(maxPixels / 1e6) + 1,
      maxMemoryUsageInMB: 1024,
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

function decodePng(buf: Uint8Array, maxPixels: number): RawImage {
  // IHDR is always the first chunk: width/height at bytes 16..23.
  if (buf.length < 33) throw new ImageError('CORRUPT', 'corrupt PNG: shorter than its header');
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  checkSize(b.readUInt32BE(16), b.readUInt32BE(20), maxPixels, 'PNG');
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

function decodeTiff(buf: Uint8Array, maxPixels: number): RawImage {
  let rgba: Uint8Array;
  let width: number;
  let height: number;
  try {
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer;
    const ifds = UTIF.decode(ab);
    if (!ifds.length) throw new Error('no image directory');
    const ifd = ifds[0];
    width = Number((ifd.t256 as number[] | undefined)?.[0] ?? 0);
    height = Number((ifd.t257 as number[] | undefined)?.[0] ?? 0);
    if (!(width > 0 && height > 0)) throw new Error('no image size in the first directory');
    checkSize(width, height, maxPixels, 'TIFF');
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
