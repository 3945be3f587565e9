/**
 * emotionnet-alert: rules → start / update / end events (thin wrapper around `alertEvents` in
 * src/alert). Events caused by a message go out through that message's `send`; timer events
 * ("no face for N s", face timeouts, updates) through `node.send`. Every timer lives in the
 * operator's subscription and is cleared on close.
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

  function AlertNode(this: Node, config: AlertNodeDef) {
    RED.nodes.createNode(this, config);
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- used in closures below
    const node = this;
    const status = new Status(node);

    let parsed: ReturnType<typeof parseConfig>;
    try {
      parsed = parseConfig(config);
    } catch (e) {
      rejectInputs(node, status, new ConfigError(`${t('errors.config')}: ${(e as Error).message}`), t('status.config'));
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

    onClose(node, () => {
      sub.unsubscribe(); // clears every timer of the operator
      input$.complete();
      engine = null;
      status.clear();
    });
  }

  RED.nodes.registerType('emotionnet-alert', AlertNode);
};
