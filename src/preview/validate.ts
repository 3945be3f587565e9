/**
 * A cheap check of an encoded JPEG before it is accepted for rendering: the same structural
 * checks and size limit as `decodeImage` applies before it decodes pixels (start marker, frame
 * header with the image size, end-of-image marker), without decoding anything. Corrupt entropy
 * data still only shows when the frame is decoded.
 */
import { checkJpeg, DEFAULT_MAX_PIXELS, sniffImageFormat } from '../image';

/**
 * Returns why `buf` cannot be a renderable JPEG, or null when it looks sound.
 *
 * @example
 * ```ts
 * const problem = validateJpeg(msg.payload); // e.g. 'corrupt JPEG: no frame header (SOF) found'
 * ```
 * @param maxPixels Largest accepted image; the default is the decoder's ({@link DEFAULT_MAX_PIXELS}).
 */
export function validateJpeg(buf: Uint8Array, maxPixels = DEFAULT_MAX_PIXELS): string | null {
  if (!(buf instanceof Uint8Array) || sniffImageFormat(buf) !== 'jpeg') return 'not a JPEG (missing FFD8FF start marker)';
  try {
    checkJpeg(buf, maxPixels); // the decoder's own checks, before it decodes pixels
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  return null;
}
