/**
 * emotionnet-alert: rules → start / update / end events (thin wrapper around `alertEvents` in
 * src/alert). Events caused by a message go out through that message's `send`; timer events
 * ("no face for N s", face timeouts, updates) through `node.send`. Every timer lives in the
 * operator's subscription and is cleared on close; alerts active at a redeploy end with reason
 * `closed`, sent by the node's next instance once the flows have started.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { Subject, Subscription } from 'rxjs';
import { AlertEngine, AlertEvent, alertEvents, AlertInput, AlertOptions, AlertRule, resolveAlertOptions, resolveRules } from '../../src/alert';
import { checkFaces, TrackedFace } from '../../src/smooth';
import { ConfigError, InputError } from '../lib/errors';
import { onClose, onInput, Send } from '../lib/node';
import { Status } from '../lib/status';
import { rejectInputs } from '../lib/config';
import { translator } from '../lib/i18n';
import messages = require('./locales/en-US/emotionnet-alert.json');

/** A rule as the editor stores it: times in seconds, labels as a comma-separated string. */
interface EditorRule {
  name?: string;
  type?: string;
  labels?: string | string[];
  threshold?: number | string;
  duration?: number | string;
  cooldown?: number | string;
  scope?: string;
  source?: string;
}

interface AlertNodeDef extends NodeDef {
  rules: EditorRule[];
  topic: string;
  updateInterval: number | string;
  faceTimeout: number | string;
}

const DEFAULT_TOPIC = 'emotionnet/alert';

/**
 * `end` messages (reason `closed`) of the alerts a node instance had active when it was closed
 * for a redeploy, by node id: the node's next instance sends them once the flows have started,
 * so downstream state (an MQTT dashboard) does not keep an alert that no longer exists. One
 * entry per alert node at most, taken by the next instance; a removed node leaves none.
 */
const endedOnClose = new Map<string, NodeMessage[]>();

/**
 * Drops, once flows have started, the entries no new instance took (their node did not come
 * back): the nodes of a deleted subflow instance, or of a node removed from a subflow's
 * definition, are closed as not removed, yet like a deleted node they send no `end` (not one
 * much later, when a node with that id appears again) and leave nothing in the map. One listener
 * per runtime: a new registration (the test helper registers the types on every load) replaces
 * the previous one.
 */
let pruneEnded: { events: NodeAPI['events']; listener: () => void } | null = null;

/** Editor config → core rules and options (validated on copies; throws with a clear message). */
function parseConfig(config: AlertNodeDef): { rules: AlertRule[]; options: AlertOptions; topic: string } {
  const num = (v: unknown) => (v === '' || v === undefined || v === null ? undefined : Number(v));
  const ms = (v: unknown) => (num(v) === undefined ? undefined : Math.round((num(v) as number) * 1000));
  const rules: AlertRule[] = (Array.isArray(config.rules) ? config.rules : []).map((r) => ({
    name: String(r.name ?? '').trim(),
    type: (r.type || 'emotion') as AlertRule['type'],
    labels: (Array.isArray(r.labels) ? r.labels : String(r.labels ?? '').split(/[\s,;]+/)).filter((l) => l !== ''),
    threshold: num(r.threshold),
    minDurationMs: ms(r.duration),
    cooldownMs: ms(r.cooldown),
    scope: (r.scope || 'face') as AlertRule['scope'],
    source: (r.source || 'auto') as AlertRule['source'],
  }));
  if (rules.length === 0) throw new TypeError('add at least one rule');
  resolveRules(rules);
  const options = resolveAlertOptions({ updateIntervalMs: ms(config.updateInterval), faceTimeoutMs: ms(config.faceTimeout) });
  const topic = (config.topic ?? DEFAULT_TOPIC).trim().replace(/\/+$/, '');
  if (/[+#]/.test(topic)) throw new TypeError(`the topic base must not contain MQTT wildcards (+ #), got "${topic}"`);
  return { rules, options, topic };
}

export = function register(RED: NodeAPI): void {
  const t = translator(RED, 'emotionnet-alert', messages);
  if (pruneEnded) pruneEnded.events.removeListener('flows:started', pruneEnded.listener);
  const listener = () => {
    // Every node of the new flows exists (and took its entry when it was created).
    for (const id of [...endedOnClose.keys()]) if (!RED.nodes.getNode(id)) endedOnClose.delete(id);
  };
  RED.events.on('flows:started', listener);
  pruneEnded = { events: RED.events, listener };

  function AlertNode(this: Node, config: AlertNodeDef) {
    RED.nodes.createNode(this, config);
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- used in closures below
    const node = this;
    const status = new Status(node);

    // Alerts the previous instance of this node (before a redeploy) left active: their `end`s go
    // out once every node of the new flows exists, through the old topic they started on. Taken
    // before the configuration is checked: an instance with an invalid one has no alert either,
    // and an entry left in the map went out only at a later deploy that fixed it, long after.
    let ended = endedOnClose.get(node.id);
    endedOnClose.delete(node.id);
    let afterEnded = () => {};
    const sendEnded = () => {
      if (!ended) return;
      const msgs = ended;
      ended = undefined;
      for (const m of msgs) node.send(m);
      afterEnded();
    };
    if (ended) RED.events.once('flows:started', sendEnded);
    /** On close: the `end`s not sent yet (closed again before its flows started). */
    const unsentEnded = (): NodeMessage[] => {
      RED.events.removeListener('flows:started', sendEnded);
      const msgs = ended ?? [];
      ended = undefined;
      return msgs;
    };

    let parsed: ReturnType<typeof parseConfig>;
    try {
      parsed = parseConfig(config);
    } catch (e) {
      rejectInputs(node, status, new ConfigError(`${t('errors.config')}: ${(e as Error).message}`), t('status.config'));
      onClose(node, (removed: boolean) => {
        const msgs = unsentEnded();
        if (!removed && msgs.length) endedOnClose.set(node.id, msgs);
      });
      return;
    }
    const { rules, options, topic } = parsed;

    let engine: AlertEngine | null = null;
    let lastEvent = '';
    const showStatus = () => {
      const active = engine?.activeCount ?? 0;
      if (!lastEvent) status.set('ready', t(rules.length === 1 ? 'status.rule' : 'status.rules', { count: rules.length }));
      else status.set(active > 0 ? 'count' : 'ready', t('status.active', { count: active, event: lastEvent }));
    };

    // Events emitted while an input is being processed leave through that input's `send`.
    let currentSend: Send | null = null;
    const toMsg = (e: AlertEvent): NodeMessage => ({ topic: `${topic ? `${topic}/` : ''}${e.rule}/${e.event}`, payload: e });
    const input$ = new Subject<AlertInput>();
    let failure: Error | null = null;
    const sub: Subscription = input$.pipe(alertEvents(rules, options, undefined, { onEngine: (en) => (engine = en) })).subscribe({
      next: (e) => {
        lastEvent = t(`event.${e.event}`);
        if (currentSend) currentSend(toMsg(e));
        else node.send(toMsg(e));
        showStatus();
      },
      error: (e: unknown) => {
        failure = e instanceof Error ? e : new Error(String(e));
        status.set('error', t('status.error'));
      },
    });
    showStatus();

    onInput(node, (msg, send, done) => {
      if (failure) return done(failure);
      const problem = checkFaces(msg.payload, { requireEmotion: false });
      if (problem) return done(new InputError(problem, 'errors.bad-input'));
      const frame = (msg as { frame?: { sourceId?: unknown } }).frame;
      const sourceId = typeof frame?.sourceId === 'string' ? frame.sourceId : undefined;
      currentSend = send;
      try {
        input$.next({ faces: msg.payload as TrackedFace[], sourceId });
      } finally {
        currentSend = null;
      }
      done();
    });

    afterEnded = () => {
      lastEvent = t('event.end');
      showStatus();
    };

    onClose(node, (removed: boolean) => {
      // Redeploy or restart: the active alerts end now; the next instance sends the `end`s (with
      // any it had not sent yet, when closed again before its flows started).
      const ends = [...unsentEnded(), ...(!removed && engine ? engine.endAll(Date.now()).map(toMsg) : [])];
      if (!removed && ends.length) endedOnClose.set(node.id, ends);
      sub.unsubscribe(); // clears every timer of the operator
      input$.complete();
      engine = null;
      status.clear();
    });
  }

  RED.nodes.registerType('emotionnet-alert', AlertNode);
};
