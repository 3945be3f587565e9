/**
 * A live MJPEG broadcaster (`multipart/x-mixed-replace`) for any Node http server: each
 * viewer gets the newest JPEG; a viewer whose socket is still busy with an earlier frame
 * skips frames instead of buffering them, so a slow viewer never costs memory or time.
 */
import type { IncomingMessage, ServerResponse } from 'http';

const BOUNDARY = 'emotionnetframe';

interface Viewer {
  res: ServerResponse;
  busy: boolean;
}

export class MjpegBroadcaster {
  #viewers = new Set<Viewer>();
  #latest: Buffer | null = null;
  #closed = false;
  /** Frames written to at least one viewer. */
  sent = 0;
  /** Frame writes skipped because a viewer was still busy. */
  skipped = 0;

  /** Number of connected viewers. */
  get viewers(): number {
    return this.#viewers.size;
  }

  /** The newest frame (for snapshots), or null before the first. */
  get latest(): Buffer | null {
    return this.#latest;
  }

  /** Serves the stream on `res` until the client goes away (or {@link close}). */
  attach(req: IncomingMessage, res: ServerResponse): void {
    if (this.#closed) {
      res.statusCode = 503;
      res.end('preview closed');
      return;
    }
    res.writeHead(200, {
      'Content-Type': `multipart/x-mixed-replace; boundary=${BOUNDARY}`,
      'Cache-Control': 'no-cache, no-store, must-revalidate, private',
      Pragma: 'no-cache',
      Connection: 'close',
    });
    const v: Viewer = { res, busy: false };
    this.#viewers.add(v);
    const drop = () => this.#viewers.delete(v);
    req.on('close', drop);
    res.on('close', drop);
    res.on('error', drop);
    if (this.#latest) this.#write(v, this.#latest);
  }

  /** Sends a JPEG to every viewer that is ready for it. */
  push(jpeg: Buffer): void {
    this.#latest = jpeg;
    let wrote = false;
    for (const v of this.#viewers) {
      if (v.busy) {
        this.skipped++;
        continue;
      }
      this.#write(v, jpeg);
      wrote = true;
    }
    if (wrote) this.sent++;
  }

  #write(v: Viewer, jpeg: Buffer): void {
    const head = `--${BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`;
    v.res.write(head);
    v.res.write(jpeg);
    const ok = v.res.write('\r\n');
    if (!ok) {
      v.busy = true;
      v.res.once('drain', () => (v.busy = false));
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
