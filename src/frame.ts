/**
 * The typed video frame that flows between stages, in-process.
 *
 * Raw pixels stay in one Buffer (no per-pixel objects); `rgb24` is 3 bytes per pixel in R,G,B
 * order, `gray` 1 byte, and `jpeg` is an encoded JPEG (width/height are still set).
 */
export type PixelFormat = 'rgb24' | 'gray' | 'jpeg';

export interface Frame {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Layout of {@link data}. */
  format: PixelFormat;
  /** Pixel bytes (`rgb24`: width*height*3, `gray`: width*height) or JPEG bytes. */
  data: Buffer;
  /** Capture time in ms since the epoch (wall clock when the frame was read). */
  timestamp: number;
  /** 0-based sequence number within one source run; restarts do not reset it. */
  seq: number;
  /** Identifies the source (e.g. the Node-RED node id or a URL) for per-source state. */
  sourceId: string;
  /** Presentation time within the stream in ms, when known (files). */
  pts?: number;
}

export const BYTES_PER_PIXEL: Record<Exclude<PixelFormat, 'jpeg'>, number> = { rgb24: 3, gray: 1 };

/** Number of bytes one raw frame of this size and format occupies. */
export function frameByteLength(width: number, height: number, format: Exclude<PixelFormat, 'jpeg'>): number {
  return width * height * BYTES_PER_PIXEL[format];
}

/** Type guard for something that looks like a {@link Frame} (used to validate msg.payload). */
export function isFrame(v: unknown): v is Frame {
  if (!v || typeof v !== 'object') return false;
  const f = v as Partial<Frame>;
  return (
    Number.isInteger(f.width) && (f.width as number) > 0 &&
    Number.isInteger(f.height) && (f.height as number) > 0 &&
    (f.format === 'rgb24' || f.format === 'gray' || f.format === 'jpeg') &&
    Buffer.isBuffer(f.data)
  );
}

/**
 * Checks a frame's buffer against its declared size; returns an error message or null.
 * JPEG frames are checked for the SOI marker only.
 */
export function validateFrame(f: Frame): string | null {
  if (!f || typeof f !== 'object') return `frame must be an object {width, height, format, data, …}, got ${f === null ? 'null' : typeof f}`;
  if (f.format !== 'rgb24' && f.format !== 'gray' && f.format !== 'jpeg') return `frame format must be rgb24, gray or jpeg, got ${JSON.stringify(f.format) ?? 'undefined'}`;
  if (!f.data || typeof f.data.length !== 'number') return 'frame data must be a Buffer';
  if (f.format === 'jpeg') {
    return f.data.length >= 4 && f.data[0] === 0xff && f.data[1] === 0xd8 ? null : 'frame data is not a JPEG (missing FFD8 marker)';
  }
  const expected = frameByteLength(f.width, f.height, f.format);
  return f.data.length === expected
    ? null
    : `frame data has ${f.data.length} bytes, expected ${expected} for ${f.width}x${f.height} ${f.format}`;
}
