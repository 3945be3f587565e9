/**
 * Reassembles frames from ffmpeg's stdout, which arrives in arbitrary chunks (64 KiB pipe reads).
 *
 * - {@link RawFrameSplitter}: raw video (`-f rawvideo`) has no framing at all, so frames are cut
 *   by exact byte count (width × height × bytes per pixel).
 * - {@link JpegFrameSplitter}: `-f image2pipe -c:v mjpeg` writes JPEGs back to back. Searching
 *   for FFD9 alone is not safe (header segments may contain those bytes), so this walks the
 *   marker segments up to SOS, then scans entropy-coded data where a real marker is the only
 *   FF not followed by 00 or a restart marker. Width and height come from the SOF segment.
 */
import * as fs from 'fs';
import { isSof } from '../image/decode';

/** Cuts a byte stream into fixed-size frames; each frame is a fresh Buffer (chunks are not retained). */
export class RawFrameSplitter {
  readonly frameSize: number;
  #buf: Buffer | null = null;
  #filled = 0;

  constructor(frameSize: number) {
    if (!Number.isInteger(frameSize) || frameSize <= 0) throw new RangeError(`invalid frame size ${frameSize}`);
    this.frameSize = frameSize;
  }

  /** Bytes of an incomplete frame held right now. */
  get pendingBytes(): number {
    return this.#filled;
  }

  /** Consumes a chunk and calls `onFrame` for every frame it completes. */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    let off = 0;
    while (off < chunk.length) {
      if (!this.#buf) {
        this.#buf = Buffer.allocUnsafe(this.frameSize);
        this.#filled = 0;
      }
      const n = Math.min(this.frameSize - this.#filled, chunk.length - off);
      chunk.copy(this.#buf, this.#filled, off, off + n);
      this.#filled += n;
      off += n;
      if (this.#filled === this.frameSize) {
        const f = this.#buf;
        this.#buf = null;
        this.#filled = 0;
        onFrame(f);
      }
    }
  }
}

export interface JpegFrame {
  data: Buffer;
  width: number;
  height: number;
}

const isRst = (m: number) => m >= 0xd0 && m <= 0xd7;

/** Splits concatenated JPEGs (image2pipe/MJPEG) by walking their markers. */
export class JpegFrameSplitter {
  /** Bytes thrown away while resynchronising on corrupt input. */
  discarded = 0;
  readonly #maxBytes: number;
  #buf = Buffer.allocUnsafe(256 * 1024);
  #len = 0;
  #pos = 0;
  #phase: 'soi' | 'header' | 'entropy' = 'soi';
  #w = 0;
  #h = 0;

  /** @param maxFrameBytes a frame growing past this is dropped as corrupt. @default 32 MiB */
  constructor(maxFrameBytes = 32 * 1024 * 1024) {
    this.#maxBytes = maxFrameBytes;
  }

  get pendingBytes(): number {
    return this.#len;
  }

  push(chunk: Buffer, onFrame: (frame: JpegFrame) => void): void {
    this.#append(chunk);
    for (;;) {
      const progressed = this.#step(onFrame);
      if (!progressed) break;
    }
    if (this.#len > this.#maxBytes) this.#drop(this.#len);
  }

  #append(chunk: Buffer): void {
    if (this.#len + chunk.length > this.#buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#len + chunk.length));
      this.#buf.copy(grown, 0, 0, this.#len);
      this.#buf = grown;
    }
    chunk.copy(this.#buf, this.#len);
    this.#len += chunk.length;
  }

  /** Removes the first n bytes. */
  #drop(n: number, counted = true): void {
    if (counted) this.discarded += n;
    this.#buf.copyWithin(0, n, this.#len);
    this.#len -= n;
    this.#pos = 0;
    this.#phase = 'soi';
  }

  /** One parsing step; false when more input is needed. */
  #step(onFrame: (f: JpegFrame) => void): boolean {
    const b = this.#buf;
    const len = this.#len;
    if (this.#phase === 'soi') {
      let i = 0;
      for (;;) {
        i = b.indexOf(0xff, i);
        if (i < 0 || i + 1 >= len) break;
        if (b[i + 1] === 0xd8) break;
        i++;
      }
      if (i < 0 || i >= len) {
        if (len > 0) this.#drop(len);
        return false;
      }
      if (i + 1 >= len) {
        if (i > 0) this.#drop(i);
        return false;
      }
      if (i > 0) this.#drop(i);
      this.#pos = 2;
      this.#w = 0;
      this.#h = 0;
      this.#phase = 'header';
      return true;
    }
    if (this.#phase === 'header') {
      const p = this.#pos;
      if (p + 2 > len) return false;
      if (b[p] !== 0xff) return this.#resync();
      const m = b[p + 1];
      if (m === 0xff) {
        this.#pos = p + 1; // fill byte
        return true;
      }
      if (m === 0xd9) return this.#emit(p + 2, onFrame);
      if (isRst(m) || m === 0x01) {
        this.#pos = p + 2;
        return true;
      }
      if (p + 4 > len) return false;
      const segLen = b.readUInt16BE(p + 2);
      if (segLen < 2) return this.#resync();
      if (isSof(m)) {
        if (p + 9 > len) return false;
        this.#h = b.readUInt16BE(p + 5);
        this.#w = b.readUInt16BE(p + 7);
      }
      this.#pos = p + 2 + segLen;
      if (m === 0xda) this.#phase = 'entropy';
      return true;
    }
    // entropy-coded data
    let i = this.#pos;
    for (;;) {
      i = b.indexOf(0xff, i);
      if (i < 0 || i >= len) {
        this.#pos = len;
        return false;
      }
      if (i + 1 >= len) {
        this.#pos = i;
        return false;
      }
      const m = b[i + 1];
      if (m === 0x00 || isRst(m) || m === 0xff) {
        i += m === 0xff ? 1 : 2;
        continue;
      }
      if (m === 0xd9) return this.#emit(i + 2, onFrame);
      // Another segment (progressive JPEG: DHT/SOS between scans).
      this.#pos = i;
      this.#phase = 'header';
      return true;
    }
  }

  #emit(end: number, onFrame: (f: JpegFrame) => void): boolean {
    const data = Buffer.from(this.#buf.subarray(0, end));
    const w = this.#w;
    const h = this.#h;
    this.#drop(end, false);
    if (w > 0 && h > 0) onFrame({ data, width: w, height: h });
    else this.discarded += end;
    return true;
  }

  #resync(): boolean {
    // Corrupt header: skip this SOI and look for the next one.
    this.#drop(2);
    return true;
  }
}

let scratch: Buffer | undefined;

/**
 * Reads from a non-blocking descriptor (a child's stdout pipe) synchronously, passing each chunk
 * to `sink`, while `more()` holds: to take the rest of a raw frame in one go instead of one
 * 64 kB pipe-full per turn of the event loop. When the pipe is empty it retries for up to
 * `spinNs` since the last data (a writer blocked on the full pipe refills it within
 * microseconds), then returns. Stops at the end of the stream or on any read error (the
 * stream's own reader sees both). Returns the bytes read. Every chunk is a view of one scratch
 * buffer, valid only during its `sink` call (the splitters copy what they keep).
 */
export function readRestSync(fd: number, sink: (chunk: Buffer) => void, more: () => boolean, spinNs = 500_000n): number {
  let total = 0;
  let last = process.hrtime.bigint();
  const buf = (scratch ??= Buffer.allocUnsafe(65536));
  while (more()) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return total;
      if (process.hrtime.bigint() - last > spinNs) return total;
      continue;
    }
    if (n === 0) return total;
    total += n;
    sink(buf.subarray(0, n));
    last = process.hrtime.bigint();
  }
  return total;
}
