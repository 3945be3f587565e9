/**
 * emotionnet-classify: EmotionNet Nano classifier node (thin wrapper around src/classify).
 * Loads the model asynchronously (input is gated meanwhile), classifies all faces of a frame in
 * one batch under the `latest` (or `queue`) overload policy, and reports backend and faces/s. A
 * message with more images than CLASSIFY_CHUNK is classified chunk by chunk, yielding to the
 * event loop in between (src/classify `classifyInput`), so it never freezes Node-RED. Each
 * source's queued messages (by `msg.frame.sourceId`) are reported to FlowControl under that
 * source, back to 0 when they have left the queue.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import {
  availableModels,
  canonicalLabel,
  ClassifyInput,
  classifyInput,
  ClassifyInputError,
  DEFAULT_MODEL,
  EmotionClassifier,
  framingMismatch,
  loadClassifier,
  MAX_CLASSIFIER_THREADS,
  parseClassifyInput,
  RateMeter,
  TTA_MODES,
  TtaMode,
} from '../../src/classify';
import type { OverloadPolicy } from '../../src/overload';
import { CLOSE_WAIT_MS, sourceQueue } from '../lib/source-queue';
import { ConfigError, InputError, ModelError } from '../lib/errors';
import { Done, nodeLogger, onClose, onInput, Send } from '../lib/node';
import { refreshWhenIdle, Status } from '../lib/status';
import { rejectInputs } from '../lib/config';
import { Refusals } from '../lib/refusals';
import { LoadGate, reportLoadingDrops } from '../lib/gate';
import { translator } from '../lib/i18n';
import messages = require('./locales/en-US/emotionnet-classify.json');

interface ClassifyNodeDef extends NodeDef {
  model: string;
  modelPath?: string;
  backend: string;
  policy: OverloadPolicy;
  /** Mirror averaging: `flip` or `none`; absent (flows saved before the option) = `none`. */
  tta?: string;
  /** Worker threads for the classifier, 0..8; absent (flows saved before the option) = 0. */
  threads?: string | number;
}

interface Item {
  msg: NodeMessageInFlow & Record<string, unknown>;
  send: Send;
  done: Done;
  input: ClassifyInput;
  /** `msg.frame.sourceId`, when the message has one: its queue depth is reported under it. */
  sourceId?: string;
}

/** At most this many framing-mismatch warnings (one per framing) per deploy. */
const MAX_FRAMING_WARNINGS = 4;

export = function register(RED: NodeAPI): void {
  const t = translator(RED, 'emotionnet-classify', messages);

  function ClassifyNode(this: Node, config: ClassifyNodeDef) {
    RED.nodes.createNode(this, config);
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- used in closures below
    const node = this;
    const status = new Status(node);
    // No model configured (a hand-written flow) → the in-the-wild default; a saved name is kept as is.
    const model = config.model === 'custom' ? (config.modelPath ?? '').trim() : (config.model ?? '').trim() || DEFAULT_MODEL;
    const policy: OverloadPolicy = config.policy === 'queue' ? 'queue' : 'latest';
    if (!model) {
      rejectInputs(node, status, new ConfigError(t('errors.no-model-path'), 'errors.no-model-path'), t('status.config'));
      return;
    }
    // Off unless set (the editor default is `none`; a flow saved before the option existed has no value).
    const tta = config.tta === undefined || config.tta === '' ? 'none' : config.tta;
    if (!(TTA_MODES as readonly string[]).includes(tta)) {
      rejectInputs(node, status, new ConfigError(t('errors.bad-tta', { tta: String(tta), allowed: TTA_MODES.join(', ') }), 'errors.bad-tta'), t('status.config'));
      return;
    }
    const threads = config.threads === undefined || config.threads === null || config.threads === '' ? 0 : Number(config.threads);
    if (!Number.isInteger(threads) || threads < 0 || threads > MAX_CLASSIFIER_THREADS) {
      rejectInputs(node, status, new ConfigError(t('errors.bad-threads', { threads: String(config.threads), max: MAX_CLASSIFIER_THREADS }), 'errors.bad-threads'), t('status.config'));
      return;
    }
    // "wasm x2": the backend, and the worker threads when there are any.
    const backendLabel = (c: EmotionClassifier) => `${c.backend.label}${threads > 0 ? ` x${threads}` : ''}`;

    const meter = new RateMeter();
    let classifier: EmotionClassifier | null = null;
    let draining: Promise<void> = Promise.resolve();
    let closed = false;
    let dropped = 0;
    // A failed load, or every worker thread stopped: one error per interval, every message counted.
    const refusals = new Refusals(status);
    // Framings warned about this deploy: the few the face stage has, but `crop.framing` is just a
    // string in the message (e.g. after MQTT), so the set is capped.
    const framingWarned = new Set<string>();
    const gate = new LoadGate<Item>();
    // Aborted on close: a large message stops between two chunks instead of delaying the close.
    const abort = new AbortController();

    const showRunning = () => {
      if (!classifier) return;
      // Every worker thread stopped: the red status stays (the idle refresh must not hide it).
      if ((classifier as { failure?: Error | null }).failure) {
        refusals.show(t('status.stopped'));
        return;
      }
      const rate = meter.rate();
      const text = `${backendLabel(classifier)} ${rate >= 10 ? Math.round(rate) : rate.toFixed(1)} ${t('status.faces-per-s')}`;
      status.set('running', dropped ? `${text} -${dropped}` : text);
    };
    // Each batch updates the status; when the messages stop (a camera outage) a timer does, so
    // the rate falls to 0 instead of the last one staying in the status.
    const idle = refreshWhenIdle(() => {
      if (!closed) showRunning();
    });

    const work = async (item: Item): Promise<void> => {
      const { msg, send, done, input } = item;
      // Every worker thread died and none could be replaced.
      const stopped = (classifier as { failure?: Error | null } | null)?.failure;
      if (stopped) return refusals.refuse(done, t('status.stopped'), () => new ModelError(t('errors.stopped', { error: stopped.message }), 'errors.stopped'));
      try {
        if (!classifier) throw new ModelError(t('errors.not-loaded'));
        const r = await classifyInput(classifier, input, { signal: abort.signal });
        if (closed) return done();
        meter.mark(input.images.length);
        idle.mark();
        const timing = (msg.timing && typeof msg.timing === 'object' ? msg.timing : {}) as Record<string, number>;
        timing.classify = Math.round(r.ms * 100) / 100;
        msg.timing = timing;
        msg.model = { name: classifier.name, classes: classifier.classes.map(canonicalLabel), backend: classifier.backend.label, tta: classifier.tta ?? 'none' };
        const mismatch = framingMismatch(input, classifier.framing);
        if (mismatch && framingWarned.size < MAX_FRAMING_WARNINGS && !framingWarned.has(mismatch.faces)) {
          framingWarned.add(mismatch.faces); // once per framing and deploy
          node.warn(t('warn.framing-mismatch', { faces: mismatch.faces, name: classifier.name, model: mismatch.model }));
        }
        if (input.kind === 'image') msg.payload = r.results[0];
        else if (input.kind === 'images') msg.payload = r.results;
        send(msg);
        done();
        showRunning();
      } catch (e) {
        // Closed while classifying (aborted between chunks, or a worker that did not answer stopped
        // under its batch): no output, like a close after it.
        if (closed || e === abort.signal.reason) return done();
        done(e instanceof Error ? e : new Error(String(e)));
      }
    };

    const { enqueue, close: closeQueue } = sourceQueue<Item>(node.id, work, {
      policy,
      threads,
      onSuperseded: () => dropped++,
      queueFull: () => new InputError(t('errors.queue-full'), 'errors.queue-full'),
    });

    status.set('busy', t('status.loading'));
    loadClassifier({
      model,
      backend: config.backend || 'auto',
      tta: tta as TtaMode,
      threads,
      signal: abort.signal, // a close while worker threads load stops them at once
      logger: nodeLogger(node),
    }).then(
      (c) => {
        if (closed) {
          c.dispose();
          return;
        }
        classifier = c;
        node.log(t('log.loaded', { name: c.name, classes: c.classes.join(', '), backend: c.backend.reason, tta: t(c.tta === 'flip' ? 'log.tta-on' : 'log.tta-off') }));
        status.set('ready', `${backendLabel(c)} ${c.name}`); // "wasm x2 nano-b-wild"
        // Messages held during loading were accepted: classify each of them, in order,
        // before new input goes through the overload policy.
        draining = gate.open(work, enqueue).then(() => reportLoadingDrops(node, gate, policy, (count) => t('warn.dropped-loading', { count })));
      },
      (e: unknown) => {
        const loadError = new ModelError(e instanceof Error ? e.message : String(e), 'errors.load-failed');
        if (!closed) {
          status.set('failed', t('status.load-failed'));
          node.error(t('errors.load-failed', { model, error: loadError.message }));
        }
        gate.fail(loadError);
      },
    );

    onInput(node, (msg, send, done) => {
      let input: ClassifyInput;
      try {
        input = parseClassifyInput(msg.payload);
      } catch (e) {
        const key = e instanceof ClassifyInputError ? `errors.${e.key}` : 'errors.input';
        done(new InputError((e as Error).message, key));
        return;
      }
      const loadError = gate.error;
      if (loadError) return refusals.refuse(done, t('status.load-failed'), () => loadError);
      const frame = (msg as { frame?: { sourceId?: unknown } }).frame;
      const item: Item = { msg: msg as Item['msg'], send, done, input };
      if (frame && typeof frame.sourceId === 'string') item.sourceId = frame.sourceId;
      if (gate.hold(item)) return;
      enqueue(item);
    });

    onClose(node, async () => {
      closed = true;
      idle.stop();
      abort.abort();
      gate.close();
      // Let a batch that is still running finish before the model's tensors are freed, but not
      // for ever: a worker thread that hangs is stopped by dispose() below (its batch fails).
      if (!(await closeQueue(draining))) node.warn(t('warn.close-timeout', { ms: CLOSE_WAIT_MS }));
      classifier?.dispose();
      classifier = null;
      status.clear();
    });
  }

  RED.nodes.registerType('emotionnet-classify', ClassifyNode);

  RED.httpAdmin.get('/emotionnet/classify/models', RED.auth.needsPermission('emotionnet-classify.read'), (_req, res) => {
    res.json(availableModels());
  });
};
