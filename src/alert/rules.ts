/**
 * Alert rules and events: the types, defaults and validation (on a copy) shared by the engine,
 * the operator and the Node-RED editor's rule list.
 */
import { notAnObject } from '../options';
import { CANONICAL_LABELS, canonicalLabel, isKnownLabel, LABEL_SYNONYMS } from '../classify';

/**
 * - `emotion`: a face shows one of `labels` with confidence ≥ `threshold` for `minDurationMs`.
 * - `presence`: a face is in view for `minDurationMs` (start = appeared, end = left).
 * - `absence`: no face has been seen for `minDurationMs` (fires on a timer; ends when a face appears).
 */
export type AlertRuleType = 'emotion' | 'presence' | 'absence';

/** `face`: one alert per track id; `any`: one alert for the rule, held by whichever face qualifies. */
export type AlertScope = 'face' | 'any';

/** Where an `emotion` rule reads label and confidence: `auto` = `face.smoothed` when present, else `face.emotion`. */
export type EmotionSource = 'auto' | 'smoothed' | 'raw';

export interface AlertRule {
  /** Identifies the rule in `payload.rule` and in the topic: letters, digits, `_`, `-`, `.`. */
  name: string;
  /** @default 'emotion' */
  type?: AlertRuleType;
  /**
   * `emotion`: any of these labels: the labels the models emit ({@link CANONICAL_LABELS}) or a
   * synonym (`sad`, `angry`, … are mapped); any other name is an error.
   */
  labels?: string[];
  /** `emotion`: minimum confidence, 0..1 (ignored by other rule types). @default 0.5 */
  threshold?: number;
  /**
   * How long (ms) the condition must hold before `start`. For `absence` this is the N of
   * "no face for N ms". @default 0 (`absence`: 10000)
   */
  minDurationMs?: number;
  /** After an `end`, no new `start` of the same rule (and face) for this long (ms). @default 0 */
  cooldownMs?: number;
  /** @default 'face' (`absence` is always `any`) */
  scope?: AlertScope;
  /** @default 'auto' */
  source?: EmotionSource;
}

export type ResolvedAlertRule = Required<AlertRule>;

export interface AlertOptions {
  /** Minimum ms between `update` events of one alert; 0 disables updates. @default 5000 */
  updateIntervalMs?: number;
  /** A face not seen for this long (ms) has left: its alerts end with reason `lost`. @default 2000 */
  faceTimeoutMs?: number;
  /** At most this many faces are remembered (the least recently seen is dropped). @default 256 */
  maxFaces?: number;
}

export type ResolvedAlertOptions = Required<AlertOptions>;

export const ALERT_DEFAULTS: ResolvedAlertOptions = Object.freeze({
  updateIntervalMs: 5000,
  faceTimeoutMs: 2000,
  maxFaces: 256,
});

export type AlertEventType = 'start' | 'update' | 'end';

/** One alert event (message contract: `msg.payload` of the alert node). */
export interface AlertEvent {
  event: AlertEventType;
  /** The rule's name. */
  rule: string;
  /** The rule's type. */
  type: AlertRuleType;
  /** Track id of the face the alert is about; `null` for `absence`. */
  trackId: number | null;
  /** The face's label (the stable label when smoothed); `null` when unknown or for `absence`. */
  label: string | null;
  /** `emotion`: the label's confidence; `presence`: the detector score; otherwise `null`. */
  score: number | null;
  /** When (ms) the condition began to hold. */
  since: number;
  /** `timestamp − since` (ms). */
  duration: number;
  /** When (ms) the event happened. */
  timestamp: number;
  /** `frame.sourceId` of the face, when known. */
  sourceId?: string;
  /** `end` only: `cleared` (condition no longer holds), `lost` (face left / timed out) or `closed` (the alert stopped watching: {@link AlertEngine.endAll}, a Node-RED redeploy). */
  reason?: 'cleared' | 'lost' | 'closed';
}

/**
 * "unknown label `joyful`; use one of …": names the label, the labels the models emit and the
 * synonyms that are understood.
 */
function unknownLabelMessage(label: string): string {
  const synonyms = Object.keys(LABEL_SYNONYMS).filter((k) => !(CANONICAL_LABELS as readonly string[]).includes(k));
  return `unknown label \`${label}\`; use one of ${CANONICAL_LABELS.join(', ')} (the labels the models emit) or a synonym: ${synonyms.join(', ')}`;
}

const TYPES: readonly AlertRuleType[] = ['emotion', 'presence', 'absence'];
const SCOPES: readonly AlertScope[] = ['face', 'any'];
const SOURCES: readonly EmotionSource[] = ['auto', 'smoothed', 'raw'];
export const RULE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Validates rules and fills defaults, on copies; throws a `TypeError` naming the rule and field.
 *
 * @example
 * ```ts
 * resolveRules([{ name: 'sad', labels: ['sad'], threshold: 0.6, minDurationMs: 3000 }]);
 * // → [{ name: 'sad', type: 'emotion', labels: ['sadness'], threshold: 0.6, ... }]
 * ```
 */
export function resolveRules(rules: readonly AlertRule[]): ResolvedAlertRule[] {
  if (!Array.isArray(rules)) throw new TypeError(`Expected \`rules\` to be an array, got ${typeof rules}`);
  const names = new Set<string>();
  return rules.map((r, i) => {
    const where = `rule ${i + 1}${r && typeof r.name === 'string' && r.name ? ` (${r.name})` : ''}`;
    if (!r || typeof r !== 'object') throw new TypeError(`${where}: expected an object`);
    if (typeof r.name !== 'string' || !RULE_NAME.test(r.name)) {
      throw new TypeError(`${where}: \`name\` must be 1-64 letters, digits, _ - or . (it becomes a topic level), got \`${String(r.name)}\``);
    }
    if (names.has(r.name)) throw new TypeError(`${where}: the name \`${r.name}\` is used twice`);
    names.add(r.name);
    const type = r.type ?? 'emotion';
    if (!TYPES.includes(type)) throw new TypeError(`${where}: \`type\` must be one of ${TYPES.join(', ')}, got \`${String(type)}\``);
    const scope = type === 'absence' ? 'any' : (r.scope ?? 'face');
    if (!SCOPES.includes(scope)) throw new TypeError(`${where}: \`scope\` must be face or any, got \`${String(scope)}\``);
    const source = r.source ?? 'auto';
    if (!SOURCES.includes(source)) throw new TypeError(`${where}: \`source\` must be one of ${SOURCES.join(', ')}, got \`${String(source)}\``);
    const rawLabels: unknown[] = Array.isArray(r.labels) ? r.labels : [];
    const labels = rawLabels.map((l) => (typeof l === 'string' ? canonicalLabel(l) : '')).filter((l: string, j: number, a: string[]) => a.indexOf(l) === j);
    if (type === 'emotion' && (labels.length === 0 || labels.includes(''))) {
      throw new TypeError(`${where}: an emotion rule needs at least one label (e.g. happy, sadness), got ${JSON.stringify(r.labels ?? [])}`);
    }
    const unknown = type === 'emotion' ? rawLabels.find((l) => !isKnownLabel(l as string)) : undefined;
    if (unknown !== undefined) throw new TypeError(`${where}: ${unknownLabelMessage(String(unknown))}`);
    const num = (name: 'threshold' | 'minDurationMs' | 'cooldownMs', dflt: number, max = Infinity) => {
      const v = r[name] ?? dflt;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > max) {
        throw new TypeError(`${where}: \`${name}\` must be a number in [0, ${max}], got \`${String(v)}\``);
      }
      return v;
    };
    const minDurationMs = num('minDurationMs', type === 'absence' ? 10_000 : 0);
    if (type === 'absence' && minDurationMs <= 0) throw new TypeError(`${where}: an absence rule needs \`minDurationMs\` > 0 (no face for how long?)`);
    return {
      name: r.name,
      type,
      labels: type === 'emotion' ? labels : [],
      // Only emotion rules have a threshold; the editor keeps a hidden one on the others.
      threshold: type === 'emotion' ? num('threshold', 0.5, 1) : 0.5,
      minDurationMs,
      cooldownMs: num('cooldownMs', 0),
      scope,
      source,
    };
  });
}

/** Fills defaults into a copy of `options` and validates it. */
export function resolveAlertOptions(options: AlertOptions = {}): ResolvedAlertOptions {
  const notObject = notAnObject(options); // a bare string set no option
  if (notObject) throw new TypeError(`alert options must be an object, e.g. { updateIntervalMs: 1000 }, got ${notObject}`);
  const o = { ...ALERT_DEFAULTS };
  if (options.updateIntervalMs !== undefined) o.updateIntervalMs = options.updateIntervalMs;
  if (options.faceTimeoutMs !== undefined) o.faceTimeoutMs = options.faceTimeoutMs;
  if (options.maxFaces !== undefined) o.maxFaces = options.maxFaces;
  const bad = (name: string, v: unknown, what: string) =>
    new TypeError(`Expected \`${name}\` to be ${what}, got \`${String(v)}\` (${typeof v})`);
  if (!Number.isFinite(o.updateIntervalMs) || o.updateIntervalMs < 0) throw bad('updateIntervalMs', o.updateIntervalMs, 'a number of ms >= 0');
  if (!Number.isFinite(o.faceTimeoutMs) || o.faceTimeoutMs <= 0) throw bad('faceTimeoutMs', o.faceTimeoutMs, 'a number of ms > 0');
  if (!Number.isInteger(o.maxFaces) || o.maxFaces < 1) throw bad('maxFaces', o.maxFaces, 'an integer >= 1');
  return o;
}
