/**
 * JPEG encoding of gray or RGB images (jpeg-js), for face crops and previews.
 */
import * as jpeg from 'jpeg-js';
import { assertRawImage, GrayImage, RawImage } from './types';

export interface EncodeJpegOptions {
  /** JPEG quality 1..100. @default 90 */
  quality?: number;
}

/**
 * Encodes a gray (1), RGB (3) or RGBA (4, alpha dropped) image — or a {@link GrayImage} — as a
 * baseline JPEG.
 *
 * @example
 * ```ts
 * fs.writeFileSync('crop.jpg', encodeJpeg(face.crop));
 * ```
 */
export function encodeJpeg(img: RawImage | GrayImage, options: EncodeJpegOptions = {}): Buffer {
  const raw: RawImage = 'channels' in img ? img : { width: img.width, height: img.height, channels: 1, data: img.data };
  assertRawImage(raw);
  const quality = Math.min(100, Math.max(1, Math.round(options.quality ?? 90)));
  const n = raw.width * raw.height;
  const rgba = new Uint8Array(n * 4);
  const s = raw.data;
  if (raw.channels === 1) {
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      rgba[j] = rgba[j + 1] = rgba[j + 2] = s[i];
      rgba[j + 3] = 255;
    }
  } else {
    const c = raw.channels;
    for (let i = 0, j = 0, k = 0; i < n; i++, j += 4, k += c) {
      rgba[j] = s[k];
      rgba[j + 1] = s[k + 1];
      rgba[j + 2] = s[k + 2];
      rgba[j + 3] = 255;
    }
  }
  return jpeg.encode({ width: raw.width, height: raw.height, data: rgba }, quality).data as Buffer;
}
