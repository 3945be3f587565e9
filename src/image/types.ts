/**
 * Decoded raster images as plain typed arrays (no per-pixel objects, no tensors).
 */

/** Interleaved 8-bit pixels: 1 = gray, 3 = RGB, 4 = RGBA. */
export type Channels = 1 | 3 | 4;

export interface RawImage {
  width: number;
  height: number;
  channels: Channels;
  /** `width * height * channels` bytes, row-major, channels interleaved. */
  data: Uint8Array;
}

/** A single-channel 8-bit image (the classifier's input type). */
export interface GrayImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export type ImageErrorCode = 'EMPTY' | 'UNSUPPORTED_FORMAT' | 'CORRUPT' | 'TOO_LARGE' | 'BAD_ARGUMENT';

/** Thrown for data that cannot be turned into an image; `code` says why. */
export class ImageError extends Error {
  constructor(
    readonly code: ImageErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ImageError';
  }
}

/** Throws an {@link ImageError} unless `img` is a consistent {@link RawImage}. */
export function assertRawImage(img: RawImage, what = 'image'): void {
  if (!img || !Number.isInteger(img.width) || !Number.isInteger(img.height) || img.width <= 0 || img.height <= 0) {
    throw new ImageError('EMPTY', `${what} has no pixels (${img?.width}x${img?.height})`);
  }
  if (img.channels !== 1 && img.channels !== 3 && img.channels !== 4) {
    throw new ImageError('BAD_ARGUMENT', `${what} has ${String(img.channels)} channels (expected 1, 3 or 4)`);
  }
  const n = img.width * img.height * img.channels;
  if (!img.data || img.data.length < n) {
    throw new ImageError('CORRUPT', `${what} data has ${img.data?.length ?? 0} bytes, expected ${n}`);
  }
}
