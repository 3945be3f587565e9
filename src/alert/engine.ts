/**
 * The alert state machine: rules → start / update / end events. It is clock-free: every call
 * passes `now`, and {@link AlertEngine.nextDeadline} says when it next needs a call without a
 * frame (so "no face for N s", face timeouts, delayed starts and updates fire on a timer even
 * when frames stop). `operators.ts` drives it from an RxJS scheduler.
 */
import { canonicalLabel } from '../classify';
import type { TrackedFace } from '../smooth/faces';
import {
  AlertEvent,
  AlertEventType,
  AlertOptions,
  AlertRule,
  resolveAlertOptions,
  resolveRules,
  ResolvedAlertOptions,
  ResolvedAlertRule,
} from './rules';

interface SeenFace {
  id: number;
  sourceId?: string;
  firstSeen: number;
  lastSeen: number;
  face: TrackedFace;
}

/** One alert's state: per rule, and per face key for `scope: 'face'`. */
interface AlertState {
  /** When the condition began to hold (null while it does not). */
  condSince: number | null;
  active: boolean;
  /** `since` reported by the active alert. */
  since: number;
  lastEmit: number;
  cooldownUntil: number;
  trackId: number | null;
  sourceId?: string;
  label: string | null;
  score: number | null;
}

interface Observation {
  ok: boolean;
  trackId: number | null;
  sourceId?: string;
  label: string | null;
  score: number | null;
  /** Override of the time the condition began (absence: the last face's time). */
  since?: number;
}

const ANY = '*';

/**
 * Turns per-frame faces into alert events according to {@link AlertRule}s.
 *
 * <span class="informal">A debounced, cooled-down, rate-limited state machine per rule (and per face).</span>
 *
 * Semantics, per rule (and per face for `scope: 'face'`):
 * - `start` when the condition has held for `minDurationMs` and no cooldown is running;
 *   exactly one `start` per alert, never two in a row.
 * - `update` every `updateIntervalMs` while active (never more often; 0 = none).
 * - `end` as soon as the condition stops holding (`reason: 'cleared'`) or the face has not been
 *   seen for `faceTimeoutMs` (`reason: 'lost'`); never an `end` without a `start`.
 * - the cooldown runs from an `end` to the next possible `start` of the same alert.
 *
 * @example
 * ```ts
 * const engine = new AlertEngine([{ name: 'sad', labels: ['sadness'], threshold: 0.6, minDurationMs: 3000 }]);
 * engine.start(Date.now());
 * const events = engine.observe(faces, Date.now());
 * ```
 */
export class AlertEngine {
  readonly rules: readonly ResolvedAlertRule[];
  readonly options: ResolvedAlertOptions;
  #faces = new Map<string, SeenFace>();
  #states: Array<Map<string, AlertState>>;
  #lastFaceAt = 0;
  /** The latest `now` seen (null before the first call). */
  #lastNow: number | null = null;

  constructor(rules: readonly AlertRule[], options: AlertOptions = {}) {
    this.rules = resolveRules(rules);
    this.options = resolveAlertOptions(options);
    this.#states = this.rules.map(() => new Map());
  }

  /** Resets all state; time `now` counts as the last time a face was seen (for `absence`). */
  start(now: number): void {
    this.#faces.clear();
    this.#states.forEach((m) => m.clear());
    this.#lastFaceAt = now;
    this.#lastNow = now;
  }

  /** Number of alerts currently active (between their `start` and `end`). */
  get activeCount(): number {
    let n = 0;
    for (const m of this.#states) for (const s of m.values()) if (s.active) n++;
    return n;
  }

  /**
   * Ends every active alert at `now` with `reason: 'closed'` (the application stops watching,
   * e.g. a Node-RED redeploy) and returns those `end` events; the engine then holds no active
   * alert. Cooldowns are not started: a new engine starts from scratch.
   */
  endAll(now: number): AlertEvent[] {
    const out: AlertEvent[] = [];
    this.rules.forEach((rule, i) => {
      for (const s of this.#states[i].values()) {
        if (!s.active) continue;
        s.active = false;
        s.condSince = null;
        out.push(this.#event('end', rule, s, now, 'closed'));
      }
    });
    return out;
  }

  /** Faces currently remembered (seen within `faceTimeoutMs`). */
  get faceCount(): number {
    return this.#faces.size;
  }

  /**
   * One frame's faces observed at `now`; returns the events it causes (possibly none). Faces
   * must have passed `checkFaces(…, { requireEmotion: false })`.
   */
  observe(faces: readonly TrackedFace[], now: number, sourceId?: string): AlertEvent[] {
    for (const face of faces) {
      const key = faceKey(face.id, sourceId);
      const seen = this.#faces.get(key);
      this.#faces.delete(key); // re-insert: the map stays ordered by recency
      this.#faces.set(key, { id: face.id, sourceId, firstSeen: seen?.firstSeen ?? now, lastSeen: now, face });
    }
    while (this.#faces.size > this.options.maxFaces) this.#faces.delete(this.#faces.keys().next().value as string);
    if (faces.length > 0) this.#lastFaceAt = now;
    return this.#evaluate(now);
  }

  /** Advances time without a frame (timer); returns the events due by `now`. */
  tick(now: number): AlertEvent[] {
    return this.#evaluate(now);
  }

  /**
   * The earliest time after `now` at which {@link tick} has something to do, or null. Every
   * deadline is the same sum (`lastSeen + faceTimeoutMs`, …) that the due checks compare `now`
   * with (`now >= sum`, never `now - lastSeen >= faceTimeoutMs`, which rounds differently with
   * fractional ms): a tick at a deadline always acts on it, so a deadline left out here as not
   * after `now` has been done.
   */
  nextDeadline(now: number): number | null {
    const { faceTimeoutMs, updateIntervalMs } = this.options;
    let due = Infinity;
    const at = (t: number) => {
      if (t > now && t < due) due = t;
    };
    for (const f of this.#faces.values()) at(f.lastSeen + faceTimeoutMs);
    this.rules.forEach((rule, i) => {
      if (rule.type === 'absence' && !this.#states[i].get(ANY)?.active) {
        at(Math.max(this.#lastFaceAt + rule.minDurationMs, this.#states[i].get(ANY)?.cooldownUntil ?? 0));
      }
      for (const s of this.#states[i].values()) {
        if (s.active) {
          if (updateIntervalMs > 0) at(s.lastEmit + updateIntervalMs);
        } else if (s.condSince !== null) {
          at(Math.max(s.condSince + rule.minDurationMs, s.cooldownUntil));
        } else {
          at(s.cooldownUntil); // to forget a departed face's state once its cooldown is over
        }
      }
    });
    return Number.isFinite(due) ? due : null;
  }

  /**
   * For a caller whose `now` is one wall clock (the operators' `scheduler.now()`): call it with
   * each reading, before {@link observe} or {@link tick}. A reading `faceTimeoutMs` or more
   * before the previous one means the clock stepped back (NTP, a manual change): every
   * remembered time moves back by the same step, so timeouts, minimum durations, cooldowns and
   * update intervals go on counting elapsed time instead of waiting until the clock is back
   * where it was (a face that left stayed present, and "no face" did not fire, for as long as the
   * step). The time between the previous reading and this one counts as none. A smaller step
   * back changes nothing. Not for frame times of several sources, which may lag one another.
   */
  syncClock(now: number): void {
    const last = this.#lastNow;
    this.#lastNow = now;
    if (last === null || !(last - now >= this.options.faceTimeoutMs)) return;
    const d = now - last;
    for (const f of this.#faces.values()) {
      f.firstSeen += d;
      f.lastSeen += d;
    }
    this.#lastFaceAt += d;
    for (const states of this.#states) {
      for (const s of states.values()) {
        if (s.condSince !== null) s.condSince += d;
        s.since += d;
        s.lastEmit += d;
        s.cooldownUntil += d;
      }
    }
  }

  #evaluate(now: number): AlertEvent[] {
    const events: AlertEvent[] = [];
    for (const [key, f] of this.#faces) {
      if (now >= f.lastSeen + this.options.faceTimeoutMs) this.#faces.delete(key);
    }
    this.rules.forEach((rule, i) => {
      const states = this.#states[i];
      if (rule.type === 'absence') {
        const ok = now >= this.#lastFaceAt + rule.minDurationMs;
        this.#step(rule, states, ANY, { ok, trackId: null, label: null, score: null, since: this.#lastFaceAt }, now, 'cleared', events);
        return;
      }
      if (rule.scope === 'any') {
        let best: Observation | null = null;
        for (const f of this.#faces.values()) {
          const o = this.#observe(rule, f);
          if (o.ok && (!best || (o.score ?? 0) > (best.score ?? 0))) best = o;
        }
        // `lost` when the face that holds the alert has left (other faces may still be in view).
        const holder = states.get(ANY);
        const holderGone = holder?.trackId != null && !this.#faces.has(faceKey(holder.trackId, holder.sourceId));
        const reason = this.#faces.size === 0 || holderGone ? 'lost' : 'cleared';
        this.#step(rule, states, ANY, best ?? { ok: false, trackId: null, label: null, score: null }, now, reason, events);
        return;
      }
      for (const [key, f] of this.#faces) this.#step(rule, states, key, this.#observe(rule, f), now, 'cleared', events);
      for (const [key, s] of states) {
        if (this.#faces.has(key)) continue;
        const gone: Observation = { ok: false, trackId: s.trackId, sourceId: s.sourceId, label: s.label, score: s.score };
        this.#step(rule, states, key, gone, now, 'lost', events);
        if (!s.active && s.cooldownUntil <= now) states.delete(key);
      }
      // Departed faces still cooling down are bounded too (oldest first), so a long cooldown
      // with many passers-by cannot grow memory.
      for (const key of states.keys()) {
        if (states.size <= this.options.maxFaces) break;
        if (!this.#faces.has(key)) states.delete(key);
      }
    });
    return events;
  }

  /** Whether a face satisfies a (non-absence) rule right now, with what label and score. */
  #observe(rule: ResolvedAlertRule, f: SeenFace): Observation {
    const e = rule.source === 'raw' ? f.face.emotion : rule.source === 'smoothed' ? f.face.smoothed : (f.face.smoothed ?? f.face.emotion);
    const label = e ? canonicalLabel(e.label) : null;
    if (rule.type === 'presence') {
      const score = typeof f.face.score === 'number' ? f.face.score : null;
      return { ok: true, trackId: f.id, sourceId: f.sourceId, label, score, since: f.firstSeen };
    }
    const score = e ? e.confidence : null;
    const ok = label !== null && score !== null && rule.labels.includes(label) && score >= rule.threshold;
    return { ok, trackId: f.id, sourceId: f.sourceId, label, score };
  }

  #step(
    rule: ResolvedAlertRule,
    states: Map<string, AlertState>,
    key: string,
    o: Observation,
    now: number,
    reason: 'cleared' | 'lost',
    out: AlertEvent[],
  ): void {
    let s = states.get(key);
    if (!s) {
      if (!o.ok) return;
      s = { condSince: null, active: false, since: now, lastEmit: 0, cooldownUntil: 0, trackId: null, label: null, score: null };
      states.set(key, s);
    }
    if (!o.ok) {
      s.condSince = null;
      if (s.active) {
        s.active = false;
        s.cooldownUntil = now + rule.cooldownMs;
        out.push(this.#event('end', rule, s, now, reason));
      }
      return;
    }
    s.condSince ??= o.since ?? now;
    s.trackId = o.trackId;
    s.sourceId = o.sourceId;
    s.label = o.label;
    s.score = o.score;
    if (!s.active) {
      if (now >= s.condSince + rule.minDurationMs && now >= s.cooldownUntil) {
        s.active = true;
        s.since = s.condSince;
        s.lastEmit = now;
        out.push(this.#event('start', rule, s, now));
      }
    } else if (this.options.updateIntervalMs > 0 && now >= s.lastEmit + this.options.updateIntervalMs) {
      s.lastEmit = now;
      out.push(this.#event('update', rule, s, now));
    }
  }

  #event(event: AlertEventType, rule: ResolvedAlertRule, s: AlertState, now: number, reason?: AlertEvent['reason']): AlertEvent {
    const ev: AlertEvent = {
      event,
      rule: rule.name,
      type: rule.type,
      trackId: s.trackId,
      label: s.label,
      score: s.score,
      since: s.since,
      duration: now - s.since,
      timestamp: now,
    };
    if (s.sourceId !== undefined) ev.sourceId = s.sourceId;
    if (reason) ev.reason = reason;
    return ev;
  }
}

function faceKey(id: number, sourceId?: string): string {
  return sourceId === undefined ? `${id}` : `${sourceId}\u0000${id}`;
}
