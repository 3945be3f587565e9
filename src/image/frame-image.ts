/**
 * Bridges between pipeline {@link Frame}s and {@link RawImage}s.
 */
import { Frame, validateFrame } from '../frame';
import { decodeImage, DecodeOptions } from './decode';
import { ImageError, RawImage } from './types';

/**
 * Returns the pixels of a frame: raw `rgb24`/`gray` frames are wrapped without copying, `jpeg`
 * frames are decoded. Throws an {@link ImageError} for inconsistent frames.
 *
 * @example
 * ```ts
 * const img = imageFromFrame(msg.frame); // { width, height, channels: 3, data }
 * ```
 */
export function imageFromFrame(frame: Frame, options: DecodeOptions = {}): RawImage {
  if (!frame || typeof frame !== 'object') throw new ImageError('BAD_ARGUMENT', `frame must be an object {width, height, format, data, …}, got ${frame === null ? 'null' : typeof frame}`);
  // Integers: a fractional size whose product matched the bytes gave the detector NaN boxes.
  if (!(Number.isInteger(frame.width) && Number.isInteger(frame.height) && frame.width > 0 && frame.height > 0)) {
    throw new ImageError('EMPTY', `frame has no pixels (${frame.width}x${frame.height}; width and height must be integers >= 1)`);
  }
  const problem = validateFrame(frame);
  if (problem) throw new ImageError('CORRUPT', problem);
  if (frame.format === 'jpeg') return decodeImage(frame.data, options);
  const max = options.maxPixels;
  if (max !== undefined && frame.width * frame.height > max) {
    throw new ImageError('TOO_LARGE', `frame is ${frame.width}x${frame.height}, above the limit of ${(max / 1e6).toFixed(1)} MP`);
  }
  const data = new Uint8Array(frame.data.buffer, frame.data.byteOffset, frame.data.length);
  return { width: frame.width, height: frame.height, channels: frame.format === 'gray' ? 1 : 3, data };
}

/** Wraps an image as a raw Frame (gray → `gray`, otherwise converted to `rgb24`). */
export function frameFromImage(img: RawImage, meta: Partial<Pick<Frame, 'timestamp' | 'seq' | 'sourceId'>> = {}): Frame {
  let data: Uint8Array = img.data;
  if (img.channels === 4) {
    const n = img.width * img.height;
    data = new Uint8Array(n * 3);
    for (let i = 0, j = 0, k = 0; i < n; i++, j += 4, k += 3) {
      data[k] = img.data[j];
      data[k + 1] = img.data[j + 1];
      data[k + 2] = img.data[j + 2];
    }
  }
  return {
    width: img.width,
    height: img.height,
    format: img.channels === 1 ? 'gray' : 'rgb24',
    data: Buffer.from(data.buffer, data.byteOffset, img.width * img.height * (img.channels === 1 ? 1 : 3)),
    timestamp: meta.timestamp ?? Date.now(),
    seq: meta.seq ?? 0,
    sourceId: meta.sourceId ?? 'image',
  };
}
