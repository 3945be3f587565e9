/**
 * A live MJPEG broadcaster (`multipart/x-mixed-replace`) for any Node http server: each
 * viewer gets the newest JPEG; a viewer whose socket is still busy with an earlier frame
 * skips frames instead of buffering them, so a slow viewer never costs memory or time; one that
 * has not taken a frame for `stallTimeoutMs` (connected but no longer reading) is disconnected,
 * so it cannot hold a viewer slot, and keep the preview rendering, forever. At most `maxViewers`
 * streams are served at once; a `HEAD` request gets the headers only.
 */
import type { IncomingMessage, ServerResponse } from 'http';
import { performance } from 'perf_hooks';

const BOUNDARY = 'emotionnetframe';

/** Default cap on concurrent stream viewers per broadcaster (each costs a socket and a JPEG write per frame). */
export const DEFAULT_MAX_VIEWERS = 20;
/** Default time a viewer may leave a frame unread before it is disconnected (ms). */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;
/** Seconds a client refused because the stream is full is told to wait (`Retry-After`). */
export const FULL_RETRY_AFTER_S = 5;

const STREAM_HEADERS = {
  'Content-Type': `multipart/x-mixed-replace; boundary=${BOUNDARY}`,
  'Cache-Control': 'no-cache, no-store, must-revalidate, private',
  Pragma: 'no-cache',
  Connection: 'close',
  'X-Content-Type-Options': 'nosniff',
};
/** Headers of the plain-text refusals. */
const TEXT_HEADERS = { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' };

export interface MjpegBroadcasterOptions {
  /** Concurrent viewers served; more get `503` with `Retry-After`. @default 20 ({@link DEFAULT_MAX_VIEWERS}) */
  maxViewers?: number;
  /** A viewer whose socket has not taken a frame for this long is disconnected (ms). @default 30 000 */
  stallTimeoutMs?: number;
  /** Clock (ms), for tests. @default performance.now (monotonic: a wall-clock step does not drop viewers) */
  now?: () => number;
}

interface Viewer {
  res: ServerResponse;
  /** Since when (ms) its socket has held an unsent frame, or null when it is ready for the next. */
  busySince: number | null;
}

export class MjpegBroadcaster {
  #viewers = new Set<Viewer>();
  #latest: Buffer | null = null;
  #closed = false;
  /** Concurrent viewers served at most. */
  readonly maxViewers: number;
  readonly stallTimeoutMs: number;
  readonly #now: () => number;
  /** Viewers disconnected because they stopped reading. */
  stalled = 0;
  /** Frames written to at least one viewer. */
  sent = 0;
  /** Frame writes skipped because a viewer was still busy. */
  skipped = 0;

  constructor(options: MjpegBroadcasterOptions = {}) {
    // A bad value is an error naming the option (it was replaced by the default without a word).
    const max = options.maxViewers ?? DEFAULT_MAX_VIEWERS;
    if (!Number.isInteger(max) || max < 0) throw new TypeError(`maxViewers must be a whole number >= 0, got ${JSON.stringify(max)}`);
    this.maxViewers = max;
    const stall = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    if (typeof stall !== 'number' || !Number.isFinite(stall) || stall <= 0) throw new TypeError(`stallTimeoutMs must be a number of ms > 0, got ${JSON.stringify(stall)}`);
    this.stallTimeoutMs = stall;
    this.#now = options.now ?? (() => performance.now());
  }

  /** True when a new viewer would be refused (every viewer slot taken). */
  get full(): boolean {
    return this.#viewers.size >= this.maxViewers;
  }

  /** Number of connected viewers. */
  get viewers(): number {
    return this.#viewers.size;
  }

  /** The newest frame (for snapshots), or null before the first. */
  get latest(): Buffer | null {
    return this.#latest;
  }

  /**
   * Serves the stream on `res` until the client goes away (or {@link close}). A `HEAD` request
   * gets the stream's headers and ends at once (it is not a viewer); when every viewer slot is
   * taken the answer is `503` with `Retry-After`.
   */
  attach(req: IncomingMessage, res: ServerResponse): void {
    if (this.#closed) {
      res.writeHead(503, TEXT_HEADERS);
      res.end('preview closed');
      return;
    }
    if (this.full) this.#dropStalled();
    if (this.full) {
      res.writeHead(503, { ...TEXT_HEADERS, 'Retry-After': String(FULL_RETRY_AFTER_S) });
      res.end(`Too many viewers: this preview stream serves at most ${this.maxViewers} at a time; try again later`);
      return;
    }
    res.writeHead(200, STREAM_HEADERS);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const v: Viewer = { res, busySince: null };
    this.#viewers.add(v);
    const drop = () => this.#viewers.delete(v);
    req.on('close', drop);
    res.on('close', drop);
    res.on('error', drop);
    if (this.#latest) this.#write(v, this.#latest);
    // Otherwise send the headers now: the client sees it is connected before the first frame.
    else res.flushHeaders();
  }

  /** Sends a JPEG to every viewer that is ready for it. */
  push(jpeg: Buffer): void {
    this.#latest = jpeg;
    let wrote = false;
    this.#dropStalled();
    for (const v of this.#viewers) {
      if (v.busySince !== null) {
        this.skipped++;
        continue;
      }
      this.#write(v, jpeg);
      wrote = true;
    }
    if (wrote) this.sent++;
  }

  /** Disconnects the viewers that left a frame unread for the stall timeout: their slots (and the rendering done for them) are freed. */
  #dropStalled(): void {
    const now = this.#now();
    for (const v of this.#viewers) {
      if (v.busySince !== null && now - v.busySince >= this.stallTimeoutMs) {
        this.#viewers.delete(v);
        this.stalled++;
        v.res.destroy();
      }
    }
  }

  #write(v: Viewer, jpeg: Buffer): void {
    const head = `--${BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`;
    v.res.write(head);
    v.res.write(jpeg);
    const ok = v.res.write('\r\n');
    if (!ok) {
      v.busySince = this.#now();
      v.res.once('drain', () => (v.busySince = null));
    }
  }

  /** Ends every stream and refuses new viewers. */
  close(): void {
    this.#closed = true;
    for (const v of this.#viewers) {
      try {
        v.res.end();
      } catch {
        /* the socket is already gone */
      }
    }
    this.#viewers.clear();
    this.#latest = null;
  }
}

/** Splits an MJPEG byte stream into JPEG frames (for tests and clients). */
export function splitMjpeg(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const start = data.indexOf(Buffer.from([0xff, 0xd8]), i);
    if (start < 0) break;
    const end = data.indexOf(Buffer.from([0xff, 0xd9]), start + 2);
    if (end < 0) break;
    out.push(data.subarray(start, end + 2));
    i = end + 2;
  }
  return out;
}
