/**
 * Renders annotated preview JPEGs without ever slowing the pipeline:
 * - throttled to `maxFps` (frames in between are skipped, not queued);
 * - the `latest` overload policy (StageQueue): while one frame renders, only the newest
 *   waiting frame is kept;
 * - decoding, drawing and encoding run in a worker thread (inline if workers are unavailable).
 */
import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import type { Frame } from '../frame';
import { StageQueue } from '../overload';
import { annotateFrame, AnnotateOptions, PreviewFace, slimZones } from './annotate';

export interface RenderJob {
  id: number;
  frame: { width: number; height: number; format: Frame['format']; data: Uint8Array };
  faces: PreviewFace[];
  options: AnnotateOptions;
}

export interface PreviewRendererOptions extends AnnotateOptions {
  /** Upper bound on rendered frames per second (0 = unlimited). @default 10 */
  maxFps?: number;
  /** Render in a worker thread. @default true */
  worker?: boolean;
  /** Clock (tests). @default Date.now */
  now?: () => number;
}

export interface PreviewStats {
  rendered: number;
  /** Skipped by the fps throttle. */
  throttled: number;
  /** Replaced by a newer frame while a render was running. */
  superseded: number;
  errors: number;
}

interface Pending {
  job: RenderJob;
  resolve: (jpeg: Buffer | null) => void;
  reject: (err: Error) => void;
}

function slimFaces(faces: unknown): PreviewFace[] {
  if (!Array.isArray(faces)) return [];
  return faces
    .filter((f) => f && typeof f === 'object')
    .map((f: PreviewFace) => ({ id: f.id, box: f.box, score: f.score, emotion: f.emotion, smoothed: f.smoothed }));
}

export class PreviewRenderer {
  readonly options: PreviewRendererOptions;
  readonly stats: PreviewStats = { rendered: 0, throttled: 0, superseded: 0, errors: 0 };
  #queue: StageQueue<Pending>;
  #worker: Worker | null = null;
  #waiting = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #lastAccepted = -Infinity;
  /** When the next frame is due at `maxFps` (advanced by one interval per accepted frame). */
  #nextDue = -Infinity;
  #closed = false;
  #now: () => number;

  constructor(options: PreviewRendererOptions = {}) {
    this.options = { maxFps: 10, worker: true, ...options };
    this.#now = options.now ?? Date.now;
    this.#queue = new StageQueue<Pending>((p) => this.#run(p), {
      policy: 'latest',
      onDrop: (p) => {
        this.stats.superseded++;
        p.resolve(null);
      },
    });
  }

  /** True when renders run in a worker thread. */
  get usesWorker(): boolean {
    return this.#worker !== null;
  }

  /**
   * Offers a frame. Resolves to the annotated JPEG, or to `null` when the frame was skipped
   * (throttled or superseded). Rejects when the frame cannot be decoded. `force` skips the fps
   * throttle (an on-demand snapshot); the frame still waits its turn (`latest` policy). `zones`:
   * the face stage's `msg.zones`, drawn under the faces.
   */
  render(frame: Pick<Frame, 'width' | 'height' | 'format' | 'data'>, faces: unknown, caption?: string, opts: { force?: boolean; zones?: unknown } = {}): Promise<Buffer | null> {
    if (this.#closed) return Promise.resolve(null);
    const maxFps = this.options.maxFps ?? 10;
    const now = this.#now();
    if (!opts.force) {
      // A clock that stepped back (NTP, a manual change): the throttle starts afresh instead of
      // skipping every frame until the clock is back where it was.
      if (now < this.#lastAccepted) this.#nextDue = -Infinity;
      if (maxFps > 0) {
        // Due times advance by one interval per accepted frame, and a frame up to a quarter of an
        // interval early still counts: a camera at exactly maxFps, whose frames arrive a few ms
        // early or late, is passed on whole (with "at least one interval since the last frame",
        // every early one was skipped and a 10 fps input gave ~5.5 fps), while a faster input
        // still gives maxFps on average.
        const interval = 1000 / maxFps;
        if (now < this.#nextDue - interval / 4) {
          this.stats.throttled++;
          return Promise.resolve(null);
        }
        this.#nextDue = Math.max(this.#nextDue, now) + interval;
      }
      this.#lastAccepted = now;
    }
    const { quality, maxWidth, bars } = this.options;
    const job: RenderJob = {
      id: this.#nextId++,
      frame: { width: frame.width, height: frame.height, format: frame.format, data: frame.data },
      faces: slimFaces(faces),
      options: { quality, maxWidth, bars, caption, zones: slimZones(opts.zones) },
    };
    return new Promise((resolve, reject) => this.#queue.push({ job, resolve, reject }));
  }

  async #run(p: Pending): Promise<void> {
    try {
      const jpeg = await this.#renderJob(p.job);
      this.stats.rendered++;
      p.resolve(jpeg);
    } catch (e) {
      this.stats.errors++;
      p.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  #renderJob(job: RenderJob): Promise<Buffer> {
    const w = this.#ensureWorker();
    if (!w) return Promise.resolve(annotateFrame({ ...job.frame, data: Buffer.from(job.frame.data) }, job.faces, job.options));
    // Copy just this frame's bytes (a Buffer may view a larger pooled ArrayBuffer) and transfer.
    const data = new Uint8Array(job.frame.data);
    return new Promise((resolve, reject) => {
      this.#waiting.set(job.id, { resolve, reject });
      w.postMessage({ ...job, frame: { ...job.frame, data } }, [data.buffer]);
    });
  }

  #ensureWorker(): Worker | null {
    if (this.#worker || this.options.worker === false || this.#closed) return this.#worker;
    const file = path.join(__dirname, 'worker.js');
    if (!fs.existsSync(file)) {
      this.options.worker = false;
      return null;
    }
    const w = new Worker(file);
    w.unref();
    w.on('message', (m: { id: number; jpeg?: Uint8Array; error?: string }) => {
      const p = this.#waiting.get(m.id);
      if (!p) return;
      this.#waiting.delete(m.id);
      if (m.jpeg) p.resolve(Buffer.from(m.jpeg.buffer, m.jpeg.byteOffset, m.jpeg.byteLength));
      else p.reject(new Error(m.error ?? 'preview render failed'));
    });
    const fail = (err: Error) => {
      for (const p of this.#waiting.values()) p.reject(err);
      this.#waiting.clear();
      this.#worker = null;
    };
    w.on('error', fail);
    w.on('exit', (code) => {
      if (this.#worker === w) fail(new Error(`preview worker exited (${code})`));
    });
    this.#worker = w;
    return w;
  }

  /** Drops waiting frames, waits for the running one and stops the worker. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue.close();
    const w = this.#worker;
    this.#worker = null;
    if (w) await w.terminate();
  }
}
