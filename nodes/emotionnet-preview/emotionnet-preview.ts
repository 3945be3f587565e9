/**
 * emotionnet-preview: draws boxes, track ids, labels and probability bars on each frame and
 * sends the annotated JPEG (for image-output nodes) and/or serves it as a live MJPEG stream on
 * Node-RED's admin HTTP server (behind its auth). Rendering is throttled to `maxFps`, runs in a
 * worker thread and is skipped entirely while nobody watches and no output is wired; then
 * `latest.jpg` renders the newest frame on demand (once per new frame, however many requests).
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { RateMeter } from '../../src/classify';
import { isFrame, validateFrame, Frame } from '../../src/frame';
import { DEFAULT_MAX_VIEWERS, FULL_RETRY_AFTER_S, MjpegBroadcaster, PreviewRenderer, validateJpeg } from '../../src/preview';
import { InputError } from '../lib/errors';
import { onClose, onInput } from '../lib/node';
import { refreshWhenIdle, Status } from '../lib/status';
import { translator } from '../lib/i18n';
import messages = require('./locales/en-US/emotionnet-preview.json');

interface PreviewNodeDef extends NodeDef {
  maxFps: number | string;
  quality: number | string;
  maxWidth: number | string;
  bars: boolean;
  caption: boolean;
  stream: boolean;
  wires?: string[][];
}

/** A deployed preview node, as the admin routes see it. */
interface PreviewEntry {
  /** The live MJPEG stream; null when the node's stream is turned off. */
  broadcaster: MjpegBroadcaster | null;
  /** The newest input frame, annotated (rendered now if nothing rendered it); null before the first frame. */
  snapshot(): Promise<Buffer | null>;
  /** What `snapshot()` would give, without rendering: no frame yet, or the JPEG if it is already rendered. */
  peek(): { frame: boolean; jpeg: Buffer | null };
}

const previews = new Map<string, PreviewEntry>();

function num(v: unknown, dflt: number, min: number, max: number): number {
  const n = Number(v);
  return Number.isFinite(n) && v !== '' && v !== null ? Math.min(max, Math.max(min, n)) : dflt;
}

const JPEG_SOI = (b: Buffer) => b.length > 3 && b[0] === 0xff && b[1] === 0xd8;
/** The admin routes' headers for their texts (Express labels a string text/html) and images: nothing sniffed. */
const TEXT_HEADERS = { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' };
const JPEG_HEADERS = { 'Content-Type': 'image/jpeg', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };
type TextResponse = { status(code: number): { set(headers: Record<string, string>): { send(body: string): unknown } } };
/**
 * Render failures (of frames already completed) are logged at most once per this interval; the
 * failures in between are counted and logged at its end (or on close) if no new failure does.
 */
const RENDER_ERROR_LOG_MS = 10_000;

export = function register(RED: NodeAPI): void {
  const t = translator(RED, 'emotionnet-preview', messages);

  function PreviewNode(this: Node, config: PreviewNodeDef) {
    RED.nodes.createNode(this, config);
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- used in closures below
    const node = this;
    const status = new Status(node);
    const wired = Array.isArray(config.wires) && config.wires.some((w: string[]) => Array.isArray(w) && w.length > 0);
    const streamOn = config.stream !== false;
    const renderer = new PreviewRenderer({
      maxFps: num(config.maxFps, 10, 0, 60),
      quality: num(config.quality, 70, 10, 100),
      maxWidth: num(config.maxWidth, 640, 0, 4096),
      bars: config.bars !== false,
    });
    const broadcaster = new MjpegBroadcaster({ maxViewers: DEFAULT_MAX_VIEWERS });
    const inputRate = new RateMeter();
    let closed = false;

    // The newest input and the newest rendered JPEG, numbered by input. While frames render
    // anyway (output wired or a viewer connected) a snapshot is the newest rendered one; while
    // nothing renders, a snapshot request renders the newest input on demand, once per frame.
    let inputs = 0;
    let lastInput: { n: number; frame: Frame; faces: unknown; zones: unknown } | null = null;
    let lastJpeg: { n: number; jpeg: Buffer } | null = null;
    let onDemand: { n: number; jpeg: Promise<Buffer | null> } | null = null;
    const keep = (n: number, jpeg: Buffer) => {
      if (!lastJpeg || n > lastJpeg.n) lastJpeg = { n, jpeg };
    };
    // Built only when a frame is rendered (not per input message).
    const captionOf = (faces: unknown): string | undefined => {
      if (config.caption === false) return undefined;
      const count = Array.isArray(faces) ? faces.length : 0;
      return `${inputRate.rate().toFixed(1)} FPS  ${count} ${count === 1 ? 'FACE' : 'FACES'}`;
    };
    /** The rendered JPEG a snapshot returns as it is (without rendering), or null. */
    const ready = (n: number): Buffer | null =>
      lastJpeg && (lastJpeg.n === n || wired || broadcaster.viewers > 0) ? lastJpeg.jpeg : null;
    const peek = () => ({ frame: lastInput !== null, jpeg: lastInput ? ready(lastInput.n) : null });
    const snapshot = async (): Promise<Buffer | null> => {
      const input = lastInput;
      if (!input) return null;
      const rendered = ready(input.n);
      if (rendered) return rendered;
      if (onDemand?.n !== input.n) {
        const jpeg = renderer.render(input.frame, input.faces, captionOf(input.faces), { force: true, zones: input.zones }).then((j) => {
          if (j) {
            keep(input.n, j);
            return j;
          }
          // Superseded while waiting (latest policy) by the render of a newer frame: answer with
          // that one. (Falling back to lastJpeg answered 503 "no frame yet" while the first
          // render was still running.)
          return lastInput && lastInput.n !== input.n ? snapshot() : (lastJpeg?.jpeg ?? null);
        });
        onDemand = { n: input.n, jpeg };
      }
      return onDemand.jpeg;
    };
    previews.set(node.id, { broadcaster: streamOn ? broadcaster : null, snapshot, peek });
    status.set('ready', streamOn ? t('status.ready') : t('status.idle'));

    let lastRenderErrorAt = -Infinity;
    // The failures not logged yet: how many, and the newest one's message.
    let unlogged: { count: number; message: string } | null = null;
    // Logs `unlogged` at the end of the interval when no new failure did (the failures stopped).
    let unloggedTimer: NodeJS.Timeout | null = null;
    /** Logs one failure's `message`, with the count of the `more` not logged since the last line. */
    const writeRenderError = (message: string, more: number) => {
      if (unloggedTimer) clearTimeout(unloggedTimer);
      unloggedTimer = null;
      unlogged = null;
      lastRenderErrorAt = Date.now();
      node.error(`${t('errors.render')}: ${message}${more ? ` ${t('errors.render-more', { count: more })}` : ''}`);
    };
    /** Logs the newest unlogged failure with the count of the others (at the interval's end, on close). */
    const flushRenderErrors = () => {
      if (unlogged) writeRenderError(unlogged.message, unlogged.count - 1);
    };
    const logRenderError = (e: unknown) => {
      const message = e instanceof Error ? e.message : String(e);
      const wait = lastRenderErrorAt + RENDER_ERROR_LOG_MS - Date.now();
      if (wait > 0) {
        unlogged = { count: (unlogged?.count ?? 0) + 1, message };
        unloggedTimer ??= setTimeout(flushRenderErrors, wait);
        return;
      }
      writeRenderError(message, unlogged?.count ?? 0);
    };

    const showRunning = () => {
      const v = broadcaster.viewers;
      status.set('running', `${inputRate.rate().toFixed(0)} fps ${v} ${t(v === 1 ? 'status.viewer' : 'status.viewers')}`);
    };
    // Each input updates the status; when the frames stop (a camera outage) a timer does, so the
    // rate falls to 0 instead of the last one staying in the status.
    const idle = refreshWhenIdle(() => {
      if (lastInput) showRunning();
    });

    onInput(node, async (msg, send, done) => {
      const m = msg as typeof msg & { frame?: unknown; zones?: unknown };
      let frame: Frame;
      let faces: unknown = [];
      if (isFrame(m.frame)) {
        frame = m.frame;
        faces = Array.isArray(m.payload) ? m.payload : [];
      } else if (isFrame(m.payload)) {
        frame = m.payload;
      } else if (Buffer.isBuffer(m.payload) && JPEG_SOI(m.payload)) {
        frame = { width: 0, height: 0, format: 'jpeg', data: m.payload, timestamp: Date.now(), seq: 0, sourceId: '' };
      } else {
        done(new InputError(t('errors.no-frame'), 'errors.no-frame'));
        return;
      }
      // A JPEG is checked cheaply here (markers, size limit) so that bad input is rejected with
      // done(err), once, before the message completes; the decode itself runs later, if at all.
      const bad = (frame.width ? validateFrame(frame) : null) ?? (frame.format === 'jpeg' ? validateJpeg(frame.data) : null);
      if (bad) {
        done(new InputError(`${t('errors.bad-frame')}: ${bad}`, 'errors.bad-frame'));
        return;
      }
      inputRate.mark(1);
      idle.mark();
      const n = ++inputs;
      lastInput = { n, frame, faces, zones: m.zones };
      // Nobody looks and nothing is wired: skip the work entirely (latest.jpg renders on demand).
      if (!wired && broadcaster.viewers === 0) {
        showRunning();
        done();
        return;
      }
      // Complete the message now: the render runs off the hot path and may be skipped.
      done();
      let jpeg: Buffer | null;
      try {
        jpeg = await renderer.render(frame, faces, captionOf(faces), { zones: m.zones });
      } catch (e) {
        // The message already completed (done() above), so it must not be reported again: no
        // msg here (a Catch node would see it after Complete did). What still fails after the
        // checks above is rare (corrupt entropy data) but may repeat every frame of a stream, so
        // it goes to the log as node.error without msg, at most once per RENDER_ERROR_LOG_MS,
        // counting the failures in between (logged at the interval's end when they stop).
        if (!closed) logRenderError(e);
        return;
      }
      showRunning();
      if (!jpeg || closed) return;
      keep(n, jpeg);
      if (streamOn) broadcaster.push(jpeg);
      if (wired) send({ ...msg, payload: jpeg, faces });
    });

    onClose(node, async () => {
      closed = true;
      idle.stop();
      flushRenderErrors(); // the failures not logged yet, and their timer cleared
      if (previews.get(node.id)?.snapshot === snapshot) previews.delete(node.id);
      lastInput = null;
      lastJpeg = null;
      onDemand = null;
      broadcaster.close();
      await renderer.close();
      status.clear();
    });
  }

  RED.nodes.registerType('emotionnet-preview', PreviewNode);

  const permission = RED.auth.needsPermission('emotionnet-preview.read');
  /** The deployed preview node with its stream on, or null after a 404 that says why not. */
  const streamOf = (id: string, res: TextResponse): PreviewEntry | null => {
    const p = previews.get(id);
    if (!p || !p.broadcaster) {
      res.status(404).set(TEXT_HEADERS).send(t(p ? 'errors.stream-off' : 'errors.no-stream'));
      return null;
    }
    return p;
  };
  // Express answers HEAD with these GET routes (req.method stays 'HEAD').
  RED.httpAdmin.get('/emotionnet/preview/:id/stream', permission, (req, res) => {
    const b = streamOf(String(req.params.id), res)?.broadcaster;
    if (!b) return;
    if (b.full) {
      res.status(503).set({ 'Retry-After': String(FULL_RETRY_AFTER_S), 'Cache-Control': 'no-store', ...TEXT_HEADERS })
        .send(t('errors.too-many-viewers', { max: b.maxViewers }));
      return;
    }
    b.attach(req, res); // HEAD: the stream's headers only, not a viewer
  });
  RED.httpAdmin.get('/emotionnet/preview/:id/latest.jpg', permission, (req, res) => {
    const p = streamOf(String(req.params.id), res);
    if (!p) return;
    if (req.method === 'HEAD') {
      // The headers a GET would get, without rendering anything (Content-Length only when the
      // JPEG is already rendered).
      const { frame, jpeg } = p.peek();
      if (!frame) res.status(503).set({ 'Retry-After': '1', 'Cache-Control': 'no-store', ...TEXT_HEADERS }).end();
      else {
        res.status(200).set(JPEG_HEADERS);
        if (jpeg) res.set('Content-Length', String(jpeg.length));
        res.end();
      }
      return;
    }
    p.snapshot().then(
      (jpeg) => {
        if (!jpeg) res.status(503).set({ 'Retry-After': '1', 'Cache-Control': 'no-store', ...TEXT_HEADERS }).send(t('errors.no-frame-yet'));
        else res.set(JPEG_HEADERS).send(jpeg);
      },
      (e: unknown) => res.status(500).set({ 'Cache-Control': 'no-store', ...TEXT_HEADERS }).send(`${t('errors.render')}: ${e instanceof Error ? e.message : String(e)}`),
    );
  });
};
