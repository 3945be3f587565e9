/**
 * emotionnet-face: face crop node (thin wrapper around src/face). Detects faces (BlazeFace),
 * tracks them with stable ids, and outputs aligned 48x48 gray crops per frame as `Face[]`. Each
 * source's queued frames (by `sourceId`) are reported to FlowControl under that source, back to
 * 0 when they have left the queue.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { createFaceCropper, Face, FacePipeline, FRAMINGS } from '../../src/face';
import { Frame, isFrame } from '../../src/frame';
import { decodeImage, frameFromImage, ImageError, sniffImageFormat } from '../../src/image';
import type { OverloadPolicy } from '../../src/overload';
import { CLOSE_WAIT_MS, sourceQueue } from '../lib/source-queue';
import { translator } from '../lib/i18n';
import { ConfigError, InputError, ModelError } from '../lib/errors';
import { Done, nodeLogger, onClose, onInput, Send } from '../lib/node';
import { Status } from '../lib/status';
import { rejectInputs } from '../lib/config';
import { Refusals } from '../lib/refusals';
import { LoadGate, reportLoadingDrops } from '../lib/gate';
import messages = require('./locales/en-US/emotionnet-face.json');

interface FaceNodeDef extends NodeDef {
  backend: string;
  minConfidence: string | number;
  minFaceSize: string | number;
  maxFaces: string | number;
  inputSize: string | number;
  detectEvery: string | number;
  maxMissed: string | number;
  framing: string;
  margin: string | number;
  jpeg: boolean;
  policy: OverloadPolicy;
  threads?: string | number;
  /** Region of interest, "left,top,width,height" in % of the frame ('' = whole frame). */
  roi?: string;
  /** Ignore zones, the same form, separated by ';'. */
  ignore?: string;
}

interface Input {
  /** A Frame payload (or msg.frame)… */
  frame?: Frame;
  /** …or an encoded image, decoded by the worker (so frames dropped while busy cost nothing)… */
  buffer?: Buffer;
  /** …and the frame it came from (`msg.frame`), whose source, sequence number and times it keeps. */
  of?: Frame;
}

interface Item extends Input {
  msg: NodeMessageInFlow & Record<string, unknown>;
  send: Send;
  done: Done;
  /** The frame's `sourceId`, when it has one: its queue depth is reported under it. */
  sourceId?: string;
}

const num = (v: unknown, def: number) => (v === undefined || v === null || v === '' ? def : Number(v));

export = function register(RED: NodeAPI): void {
  const t = translator(RED, 'emotionnet-face', messages);
  // One track id sequence for every face node of the runtime, kept across redeploys: a redeployed
  // or second face node never hands out an id that the smooth and alert nodes downstream still
  // hold for another face (they key their state by source and id).
  let lastTrackId = 0;
  const nextTrackId = () => ++lastTrackId;

  /**
   * Picks the frame or image Buffer out of a message, or throws an InputError. An image Buffer
   * comes with the `msg.frame` it was made from when there is one (the video node's JPEG output),
   * so it keeps that frame's source, sequence number and times.
   */
  function inputOf(msg: NodeMessageInFlow & Record<string, unknown>): Input {
    const p = msg.payload as unknown;
    if (isFrame(p)) return { frame: p };
    if (Buffer.isBuffer(p)) {
      if (p.length === 0) throw new InputError(t('errors.empty-image'), 'errors.empty-image');
      if (!sniffImageFormat(p)) throw new InputError(t('errors.unsupported-image'), 'errors.unsupported-image');
      return isFrame(msg.frame) ? { buffer: p, of: msg.frame } : { buffer: p };
    }
    if (p && typeof p === 'object' && 'width' in p && 'height' in p && 'format' in p) {
      const f = p as Partial<Frame>;
      if (!(Number(f.width) > 0 && Number(f.height) > 0)) throw new InputError(t('errors.empty-image'), 'errors.empty-image');
      throw new InputError(t('errors.bad-frame'), 'errors.bad-frame');
    }
    if (isFrame(msg.frame)) return { frame: msg.frame as Frame };
    throw new InputError(t('errors.bad-payload'), 'errors.bad-payload');
  }

  /** Image problems become InputErrors with their own i18n key. */
  function asError(e: unknown): Error {
    if (e instanceof ImageError) {
      const key = `errors.image-${e.code.toLowerCase()}`;
      return new InputError(t(key, { error: e.message }), key);
    }
    return e instanceof Error ? e : new Error(String(e));
  }

  function FaceNode(this: Node, config: FaceNodeDef) {
    RED.nodes.createNode(this, config);
    setup(this, config);
  }

  function setup(node: Node, config: FaceNodeDef): void {
    const status = new Status(node);
    const policy: OverloadPolicy = config.policy === 'queue' ? 'queue' : 'latest';
    let cropperPromise: Promise<FacePipeline>;
    const threads = num(config.threads, 0);
    // Aborted on close: worker threads still loading their detector are stopped at once.
    const loading = new AbortController();
    try {
      const framing = config.framing || 'fer2013'; // matches the classifier's default in-the-wild model
      if (!FRAMINGS[framing]) throw new TypeError(`Unknown crop framing "${framing}"`);
      cropperPromise = createFaceCropper({
        backend: config.backend || 'auto',
        minConfidence: num(config.minConfidence, 0.45),
        minFaceSize: num(config.minFaceSize, 0),
        maxFaces: num(config.maxFaces, 10),
        inputSize: num(config.inputSize, 192),
        detectEvery: num(config.detectEvery, 1),
        tracker: { maxMissed: num(config.maxMissed, 10), nextId: nextTrackId },
        framing,
        margin: num(config.margin, 0),
        jpeg: !!config.jpeg,
        threads,
        roi: config.roi || null,
        ignore: config.ignore || null,
        signal: loading.signal,
        logger: nodeLogger(node),
      });
    } catch (e) {
      rejectInputs(node, status, new ConfigError(t('errors.config', { error: (e as Error).message })), t('status.config'));
      return;
    }

    let cropper: FacePipeline | null = null;
    let closed = false;
    let dropped = 0;
    // Every worker thread stopped: one error per interval, every frame counted.
    const refusals = new Refusals(status);
    let lastMs = 0;
    let avgMs = 0;
    const gate = new LoadGate<Item>();
    let draining: Promise<void> = Promise.resolve();

    const showRunning = (faces: number) => {
      // A moving average, so the throttled status shows a typical time, not the last outlier.
      avgMs = avgMs === 0 ? lastMs : 0.8 * avgMs + 0.2 * lastMs;
      const text = `${faces} ${t(faces === 1 ? 'status.face' : 'status.faces')} ${avgMs < 10 ? avgMs.toFixed(1) : Math.round(avgMs)} ms`;
      status.set('count', dropped ? `${text} -${dropped}` : text);
    };

    const work = async (item: Item): Promise<void> => {
      const { msg, send, done, buffer, of } = item;
      // Every worker thread died and none could be replaced.
      const stopped = (cropper?.detector as { failure?: Error | null } | undefined)?.failure;
      if (stopped) return refusals.refuse(done, t('status.stopped'), () => new ModelError(t('errors.stopped', { error: stopped.message }), 'errors.stopped'));
      try {
        if (!cropper) throw new ModelError(t('errors.not-loaded'));
        let t0 = performance.now();
        let frame = item.frame as Frame;
        let faces: Face[];
        let decodeMs: number | undefined;
        if (buffer) {
          const img = decodeImage(buffer);
          decodeMs = performance.now() - t0;
          t0 = performance.now();
          // A video frame's image keeps its frame's source and times; still images are tracked as
          // one source per node. A JPEG stays JPEG in msg.frame.
          frame = of && of.width === img.width && of.height === img.height // not a stale msg.frame
            ? { ...frameFromImage(img, of), ...(of.pts !== undefined ? { pts: of.pts } : {}) }
            : frameFromImage(img, { sourceId: `buffer:${node.id}`, timestamp: Date.now() });
          if (sniffImageFormat(buffer) === 'jpeg') frame = { ...frame, format: 'jpeg', data: buffer };
          faces = await cropper.processImageAsync(img, frame.pts ?? frame.timestamp, frame.sourceId); // as process() times a Frame
        } else {
          faces = await cropper.process(frame);
        }
        lastMs = performance.now() - t0;
        if (closed) return done();
        const timing = (msg.timing && typeof msg.timing === 'object' ? msg.timing : {}) as Record<string, number>;
        if (decodeMs !== undefined) timing.decode = Math.round(decodeMs * 100) / 100;
        timing.detect = Math.round(lastMs * 100) / 100;
        msg.timing = timing;
        msg.frame = frame;
        msg.payload = faces;
        const { roi, ignore } = cropper.options.zones;
        // For the preview (fractions of the frame); copies, so no later node can change the stage's own.
        // Without zones, a msg.zones from further up (another face node) does not describe these faces.
        if (roi || ignore.length) msg.zones = { roi: roi && { ...roi }, ignore: ignore.map((z) => ({ ...z })) };
        else delete msg.zones;
        send(msg);
        done();
        showRunning(faces.length);
      } catch (e) {
        // Closed while detecting (a worker that did not answer is stopped under its frame): no output.
        if (closed) return done();
        done(asError(e));
      }
    };

    const { enqueue, close: closeQueue } = sourceQueue<Item>(node.id, work, {
      policy,
      threads,
      onSuperseded: () => dropped++,
      queueFull: () => new InputError(t('errors.queue-full'), 'errors.queue-full'),
    });

    status.set('busy', t('status.loading'));
    cropperPromise.then(
      (c) => {
        if (closed) return c.dispose();
        cropper = c;
        node.log(t('log.loaded', { backend: c.detector.backend.reason, size: c.detector.options.inputSize }));
        status.set('ready', `${c.detector.backend.label}${threads > 0 ? ` x${threads}` : ''} ${t('status.ready')}`); // "wasm x2 ready"
        draining = gate.open(work, enqueue).then(() => reportLoadingDrops(node, gate, policy, (count) => t('warn.dropped-loading', { count })));
      },
      (e: unknown) => {
        const isConfig = e instanceof TypeError;
        const loadError = isConfig
          ? new ConfigError(t('errors.config', { error: (e as Error).message }))
          : new ModelError(t('errors.load-failed', { error: e instanceof Error ? e.message : String(e) }), 'errors.load-failed');
        if (!closed) {
          status.set('failed', t(isConfig ? 'status.config' : 'status.load-failed'));
          node.error(loadError.message);
        }
        gate.fail(loadError);
      },
    );

    onInput(node, (msg, send, done) => {
      const loadError = gate.error;
      // Not one error per frame at 30 fps: one per interval, every refused message counted.
      if (loadError) return refusals.refuse(done, t(loadError instanceof ConfigError ? 'status.config' : 'status.load-failed'), () => loadError);
      let parsed: Input;
      try {
        parsed = inputOf(msg as Item['msg']);
      } catch (e) {
        return done(asError(e));
      }
      const sid = (parsed.frame ?? parsed.of)?.sourceId;
      const item: Item = { msg: msg as Item['msg'], send, done, ...parsed };
      if (typeof sid === 'string') item.sourceId = sid;
      if (gate.hold(item)) return;
      enqueue(item);
    });

    onClose(node, async () => {
      closed = true;
      loading.abort();
      gate.close();
      // A frame still being detected finishes before the detector goes, but not for ever: a
      // worker thread that hangs is stopped by dispose() below (its frame fails).
      if (!(await closeQueue(draining))) node.warn(t('warn.close-timeout', { ms: CLOSE_WAIT_MS }));
      cropper?.dispose();
      cropper = null;
      status.clear();
    });
  }

  RED.nodes.registerType('emotionnet-face', FaceNode);
};
