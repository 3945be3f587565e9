/**
 * Per-track temporal smoothing of classifier output with hysteresis on the stable label.
 *
 * {@link EmotionSmoother} is the plain, clock-free core (every call passes the time);
 * {@link smoothFaces} in `operators.ts` wraps it as an RxJS operator with a scheduler for the
 * track-timeout sweep.
 */
import { notAnObject } from '../options';
import { argmax, EmaEstimator, Estimator, MajorityEstimator, MeanEstimator, ownValue, SmoothMethod } from './estimators';
import { EmotionFace, probabilitiesOf, SmoothedEmotion } from './faces';

export interface SmoothOptions {
  /**
   * `ema`: exponential moving average with {@link halfLifeMs}; `mean`: sliding-window mean over
   * {@link windowMs}; `majority`: majority vote of the per-frame top labels over {@link windowMs}.
   * @default 'ema'
   */
  method?: SmoothMethod;
  /** EMA half-life in ms: an observation's weight halves after this long. @default 500 */
  halfLifeMs?: number;
  /** Window length in ms for `mean` and `majority`. @default 1000 */
  windowMs?: number;
  /** A challenger must beat the stable label for this long (ms) before it takes over. @default 300 */
  minDwellMs?: number;
  /** …and by at least this much score (probability, or vote share for `majority`). @default 0.1 */
  margin?: number;
  /** A track not observed for this long (ms) is forgotten and reported once as lost. @default 2000 */
  trackTimeoutMs?: number;
  /** At most this many tracks are kept; beyond it the least recently seen one is dropped. @default 256 */
  maxTracks?: number;
  /** At most this many observations per track window (bounds memory at high fps). @default 512 */
  maxSamples?: number;
}

export type ResolvedSmoothOptions = Required<SmoothOptions>;

export const SMOOTH_DEFAULTS: ResolvedSmoothOptions = Object.freeze({
  method: 'ema',
  halfLifeMs: 500,
  windowMs: 1000,
  minDwellMs: 300,
  margin: 0.1,
  trackTimeoutMs: 2000,
  maxTracks: 256,
  maxSamples: 512,
});

const METHODS: readonly SmoothMethod[] = ['ema', 'mean', 'majority'];

/**
 * Fills defaults into a copy of `options` and validates it; throws a `TypeError` that names the
 * option, what was expected and what was given.
 */
export function resolveSmoothOptions(options: SmoothOptions = {}): ResolvedSmoothOptions {
  // A bare string (`smooth: 'ema'`) set no option: the defaults ran in its place.
  const notObject = notAnObject(options);
  if (notObject) throw new TypeError(`smoothing options must be an object, e.g. { method: 'ema' }, got ${notObject}`);
  const o: ResolvedSmoothOptions = { ...SMOOTH_DEFAULTS };
  for (const [k, v] of Object.entries(options)) {
    if (v !== undefined && Object.hasOwn(SMOOTH_DEFAULTS, k)) (o as unknown as Record<string, unknown>)[k] = v;
  }
  if (!METHODS.includes(o.method)) {
    throw new TypeError(`Expected \`method\` to be one of ${METHODS.join(', ')}, got \`${String(o.method)}\``);
  }
  const need = (name: keyof ResolvedSmoothOptions, ok: (v: number) => boolean, what: string) => {
    const v = o[name] as unknown;
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) {
      throw new TypeError(`Expected \`${name}\` to be ${what}, got \`${String(v)}\` (${typeof v})`);
    }
  };
  need('halfLifeMs', (v) => v > 0, 'a number of ms > 0');
  need('windowMs', (v) => v > 0, 'a number of ms > 0');
  need('minDwellMs', (v) => v >= 0, 'a number of ms >= 0');
  need('margin', (v) => v >= 0 && v < 1, 'a number in [0, 1)');
  need('trackTimeoutMs', (v) => v > 0, 'a number of ms > 0');
  need('maxTracks', (v) => Number.isInteger(v) && v >= 1, 'an integer >= 1');
  need('maxSamples', (v) => Number.isInteger(v) && v >= 1, 'an integer >= 1');
  return o;
}

/** Reported once for a track that was forgotten (timeout, or `maxTracks` exceeded). */
export interface LostTrack {
  id: number;
  /** `frame.sourceId` of the track's frames, when known. */
  sourceId?: string;
  /** The stable label at the time the track was last seen. */
  label: string;
  confidence: number;
  since: number;
  /** Timestamp (ms) of the track's last observation. */
  lastSeen: number;
  /**
   * `timeout`: not observed for `trackTimeoutMs`; `capacity`: evicted (too many tracks); `clock`:
   * its frames' time jumped back by `trackTimeoutMs` or more (a restarted sender, a clock change),
   * so the track starts afresh.
   */
  reason: 'timeout' | 'capacity' | 'clock';
}

/**
 * The stable label of one track: a challenger replaces it only after beating it by `margin`
 * continuously for `minDwellMs`. The new label's `since` is when the challenger started to win.
 *
 * During the first `warmupMs` of a track the estimate is still settling, so the label simply
 * follows the top score: one misread first frame must not become a sticky label.
 */
export class Hysteresis {
  label: string | null = null;
  since = 0;
  #first = 0;
  #pending: { label: string; since: number } | null = null;
  constructor(
    readonly minDwellMs: number,
    readonly margin: number,
    readonly warmupMs = 0,
  ) {}

  update(t: number, scores: Record<string, number>, tieBreak?: Record<string, number>): void {
    const candidate = argmax(scores, tieBreak);
    if (this.label === null) this.#first = t;
    if (this.label === null || (t - this.#first < this.warmupMs && candidate !== this.label)) {
      this.label = candidate;
      this.since = t;
      this.#pending = null;
      return;
    }
    const lead = (ownValue(scores, candidate) ?? 0) - (ownValue(scores, this.label) ?? 0);
    if (candidate === this.label || !(lead > 0) || lead < this.margin - 1e-12) {
      this.#pending = null;
      return;
    }
    if (this.#pending?.label !== candidate) this.#pending = { label: candidate, since: t };
    if (t - this.#pending.since >= this.minDwellMs) {
      this.label = candidate;
      this.since = this.#pending.since;
      this.#pending = null;
    }
  }
}

interface Track {
  id: number;
  sourceId?: string;
  estimator: Estimator;
  stable: Hysteresis;
  /** Last observation time in message time (ms). */
  lastT: number;
  /** Last observation time on the smoother's clock (scheduler.now() of the caller). */
  lastClock: number;
  last: SmoothedEmotion;
}

export interface ObserveContext {
  /** `frame.sourceId`: tracks of different sources never mix. */
  sourceId?: string;
  /** The caller's clock now (for the timeout sweep); defaults to `t`. */
  clock?: number;
}

export interface ObserveResult<F> {
  faces: Array<F & { smoothed: SmoothedEmotion }>;
  /** Tracks forgotten since the previous call (each reported exactly once). */
  lost: LostTrack[];
}

/**
 * Smooths each track's emotion over time and keeps a stable label per track.
 *
 * <span class="informal">One estimator and one hysteresis per track id, forgotten after a timeout.</span>
 *
 * @example
 * ```ts
 * const s = new EmotionSmoother({ method: 'ema', halfLifeMs: 500 });
 * const { faces } = s.observe(msg.payload, msg.frame.timestamp);
 * faces[0].smoothed; // { label: 'happy', confidence: 0.82, probabilities: {...}, since: 1700000000000 }
 * ```
 */
export class EmotionSmoother {
  readonly options: ResolvedSmoothOptions;
  #tracks = new Map<string, Track>();
  #lost: LostTrack[] = [];
  /** The latest caller's clock seen (null before the first call). */
  #clock: number | null = null;

  constructor(options: SmoothOptions = {}) {
    this.options = resolveSmoothOptions(options);
  }

  /** Number of tracks currently remembered. */
  get size(): number {
    return this.#tracks.size;
  }

  /** Stable label → number of tracks with it (for status displays). */
  labelCounts(): Record<string, number> {
    const counts = new Map<string, number>();
    for (const tr of this.#tracks.values()) counts.set(tr.last.label, (counts.get(tr.last.label) ?? 0) + 1);
    return Object.fromEntries(counts); // own properties, whatever the labels are called
  }

  /**
   * Adds one frame's faces observed at time `t` (ms) and returns them with `smoothed` added
   * (new face objects; the inputs are not changed). Faces must have passed {@link checkFaces}.
   * Tracks of the same source not observed for `trackTimeoutMs` (in message time) are
   * forgotten first, so a face that comes back after the timeout starts afresh; so are tracks
   * whose time `t` jumped back by `trackTimeoutMs` or more (reason `clock`: a restarted sender or
   * a clock change; a smaller step back is taken as an out-of-order frame and clamped).
   * @throws TypeError when `t` is not a finite number.
   */
  observe<F extends EmotionFace>(faces: readonly F[], t: number, ctx: ObserveContext = {}): ObserveResult<F> {
    if (typeof t !== 'number' || !Number.isFinite(t)) throw new TypeError(`Expected \`t\` (the frame time, ms) to be a finite number, got \`${String(t)}\``);
    const clock = ctx.clock ?? t;
    // Only a caller's own clock: frame times (the default) of several sources may lag one another.
    if (ctx.clock !== undefined) this.#clockStep(clock);
    const { trackTimeoutMs } = this.options;
    for (const [key, tr] of this.#tracks) {
      if (tr.sourceId !== ctx.sourceId) continue;
      if (t - tr.lastT >= trackTimeoutMs) this.#forget(key, tr, 'timeout');
      else if (tr.lastT - t >= trackTimeoutMs) this.#forget(key, tr, 'clock');
    }
    const out = faces.map((face) => {
      const key = trackKey(face.id, ctx.sourceId);
      let tr = this.#tracks.get(key);
      if (!tr) tr = this.#create(key, face.id, ctx.sourceId, t);
      // Out-of-order or repeated timestamps never move a track's time backwards.
      const tt = Math.max(t, tr.lastT);
      tr.estimator.add(tt, probabilitiesOf(face.emotion));
      const probabilities = tr.estimator.probabilities();
      const scores = tr.estimator.scores();
      tr.stable.update(tt, scores, probabilities);
      const label = tr.stable.label as string;
      tr.last = { label, confidence: ownValue(scores, label) ?? 0, probabilities, since: tr.stable.since };
      tr.lastT = tt;
      tr.lastClock = clock;
      // Refresh the insertion order so the map stays ordered by recency (for capacity eviction).
      this.#tracks.delete(key);
      this.#tracks.set(key, tr);
      return { ...face, smoothed: { ...tr.last, probabilities: { ...probabilities } } };
    });
    return { faces: out, lost: this.#lost.splice(0) };
  }

  /**
   * Forgets tracks not observed for `trackTimeoutMs` on the caller's clock (used by a timer when
   * frames stop arriving). Returns how many were forgotten; they are reported by the next
   * {@link observe} in `lost`.
   */
  sweep(clock: number): number {
    this.#clockStep(clock);
    let n = 0;
    for (const [key, tr] of this.#tracks) {
      // The sum nextExpiry() reports (not `clock - lastClock >= timeout`, which rounds differently
      // with fractional ms): a sweep at the expiry it was timed for always forgets the track.
      if (clock >= tr.lastClock + this.options.trackTimeoutMs) {
        this.#forget(key, tr, 'timeout');
        n++;
      }
    }
    return n;
  }

  /** The caller's clock time at which the next track would time out, or null when none. */
  nextExpiry(): number | null {
    let min = Infinity;
    for (const tr of this.#tracks.values()) min = Math.min(min, tr.lastClock + this.options.trackTimeoutMs);
    return Number.isFinite(min) ? min : null;
  }

  /** Forgets everything (tracks and unreported losses). */
  reset(): void {
    this.#tracks.clear();
    this.#lost = [];
    this.#clock = null;
  }

  /**
   * A caller's clock (`ctx.clock`, `sweep`'s argument) `trackTimeoutMs` or more before the latest
   * one means it stepped back (NTP, a manual change): every track's last observation on that
   * clock moves back by the same step, so the sweep still forgets a track `trackTimeoutMs` after
   * it was last seen (the tracks of a source that stopped at the step stayed for as long as the
   * step). The time between the last call before the step and the first one after it counts as
   * none. A smaller step back changes nothing.
   */
  #clockStep(clock: number): void {
    const last = this.#clock;
    this.#clock = clock;
    if (last === null || !(last - clock >= this.options.trackTimeoutMs)) return;
    for (const tr of this.#tracks.values()) tr.lastClock += clock - last;
  }

  #create(key: string, id: number, sourceId: string | undefined, t: number): Track {
    const o = this.options;
    if (this.#tracks.size >= o.maxTracks) {
      const [oldKey, oldest] = this.#tracks.entries().next().value as [string, Track];
      this.#forget(oldKey, oldest, 'capacity');
    }
    const estimator =
      o.method === 'ema'
        ? new EmaEstimator(o.halfLifeMs)
        : o.method === 'mean'
          ? new MeanEstimator(o.windowMs, o.maxSamples)
          : new MajorityEstimator(o.windowMs, o.maxSamples);
    const tr: Track = {
      id,
      sourceId,
      estimator,
      // warm-up: the time the estimate needs to forget a misread first frame (an EMA gives the
      // first frame weight 1/4 after two half-lives; a window forgets it after one window)
      stable: new Hysteresis(o.minDwellMs, o.margin, o.method === 'ema' ? 2 * o.halfLifeMs : o.windowMs),
      lastT: t,
      lastClock: t,
      last: { label: '', confidence: 0, probabilities: {}, since: t },
    };
    this.#tracks.set(key, tr);
    return tr;
  }

  #forget(key: string, tr: Track, reason: LostTrack['reason']): void {
    this.#tracks.delete(key);
    const lost: LostTrack = {
      id: tr.id,
      label: tr.last.label,
      confidence: tr.last.confidence,
      since: tr.last.since,
      lastSeen: tr.lastT,
      reason,
    };
    if (tr.sourceId !== undefined) lost.sourceId = tr.sourceId;
    this.#lost.push(lost);
  }
}

function trackKey(id: number, sourceId?: string): string {
  return sourceId === undefined ? `${id}` : `${sourceId}\u0000${id}`;
}
