/**
 * Per-face tracking across frames: stable ids, a constant-velocity motion model (centre and
 * size) to carry boxes and keypoints through frames without detection, a missed-frame budget,
 * and re-identification of a face that comes back after a short gap (position and appearance).
 */
import { Box, Detection, FaceKeypoints, iou, KEYPOINT_NAMES } from './types';

export interface TrackerOptions {
  /** Minimum match similarity (IoU, or centre closeness for small/fast faces) to continue a track, 0..1. @default 0.3 */
  matchThreshold?: number;
  /**
   * Missed detections (detection frames without a match) before a track leaves the view; it can
   * still be re-identified afterwards. With detection on every Nth frame this spans N x as many frames.
   * An integer >= 0. @default 10
   */
  maxMissed?: number;
  /**
   * Missed detections for which a face is still reported, moved by the motion model
   * (`detected: false`), so a single missed detection does not make it blink. An integer >= 0. @default 2
   */
  holdFrames?: number;
  /** Frames a lost track stays available for re-identification (an integer >= 0). @default 90 */
  reidFrames?: number;
  /**
   * Appearance similarity (cosine of normalised 16x16 crops) needed to re-identify a face anywhere,
   * -1..1 (the cosine's range: a bar above 1 is never reached). @default 0.85
   */
  reidSimilarity?: number;
  /** Lower appearance similarity accepted when the face returns near where it was last detected, -1..1. @default 0.5 */
  reidNearSimilarity?: number;
  /**
   * Appearance similarity enough for a face that re-enters through the same frame edge it left
   * by (half outside the view it does not look like itself yet), -1..1. @default 0.2
   */
  reidEdgeSimilarity?: number;
  /**
   * Frame interval assumed when timestamps are missing or not increasing, in ms (>= 0); two
   * detections closer than a quarter of it (frames read in a burst) do not measure motion. @default 33.3
   */
  frameIntervalMs?: number;
  /**
   * Id generator (share one between trackers to keep ids unique across sources; a FacePipeline
   * shares one among its sources, and one given here among pipelines). @default 1, 2, 3…
   */
  nextId?: () => number;
}

type Edge = 'left' | 'right' | 'top' | 'bottom' | null;

/** The view faces enter and leave by: the frame (`x`, `y` 0), or a region of it. */
export interface TrackBounds {
  x?: number;
  y?: number;
  width: number;
  height: number;
}

/** Which edge of the view a box touches (within a quarter of its width), if any. */
function edgeOf(b: Box, bounds?: TrackBounds): Edge {
  if (!bounds) return null;
  const m = b.width / 4;
  const x0 = bounds.x ?? 0;
  const y0 = bounds.y ?? 0;
  if (b.x <= x0 + m) return 'left';
  if (b.x + b.width >= x0 + bounds.width - m) return 'right';
  if (b.y <= y0 + m) return 'top';
  if (b.y + b.height >= y0 + bounds.height - m) return 'bottom';
  return null;
}

/** A detection, optionally with an appearance descriptor (see {@link appearanceDescriptor}). */
export type TrackInput = Detection & { descriptor?: Float32Array };

export interface TrackResult extends Detection {
  id: number;
  /** True when this frame's detector found it; false when carried by the motion model. */
  detected: boolean;
}

interface Track {
  id: number;
  cx: number;
  cy: number;
  w: number;
  h: number;
  /** centre velocity, px per ms */
  vx: number;
  vy: number;
  /** log-size rate per ms (zoom) */
  vs: number;
  /** centre and width of the last matched detection (for the velocity measurement) */
  measuredCx: number;
  measuredCy: number;
  measuredW: number;
  /** keypoints relative to the centre, in box widths */
  rel: Array<[number, number]>;
  score: number;
  lastTime: number;
  /** frames since the last detection matched it */
  missed: number;
  /** frames since it was lost (only for lost tracks) */
  lostFor: number;
  descriptor?: Float32Array;
  /** whether it was matched in the latest detection round (carried between detections) */
  live: boolean;
  /** detections matched so far */
  hits: number;
  /** a new id that may still turn out to be a lost face (see update) */
  fresh: boolean;
  /** time of its first detection (a track detected since then was another face) */
  born: number;
  /** frame edge its last detection touched */
  edge: Edge;
}

/**
 * A compact appearance signature of an aligned gray crop: 16x16 block means, zero-mean,
 * unit-norm, so the dot product of two signatures is their normalised correlation.
 */
export function appearanceDescriptor(crop: { width: number; height: number; data: Uint8Array }): Float32Array {
  const n = 16;
  const out = new Float32Array(n * n);
  const bw = crop.width / n;
  const bh = crop.height / n;
  for (let y = 0; y < crop.height; y++) {
    const by = Math.min(n - 1, Math.floor(y / bh));
    for (let x = 0; x < crop.width; x++) out[by * n + Math.min(n - 1, Math.floor(x / bw))] += crop.data[y * crop.width + x];
  }
  let mean = 0;
  for (const v of out) mean += v;
  mean /= out.length;
  let norm = 0;
  for (let i = 0; i < out.length; i++) {
    out[i] -= mean;
    norm += out[i] * out[i];
  }
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < out.length; i++) out[i] /= norm;
  return out;
}

function similarity(a?: Float32Array, b?: Float32Array): number {
  if (!a || !b || a.length !== b.length) return 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * Assigns stable ids to the faces of successive frames of ONE source.
 *
 * @example
 * ```ts
 * const tracker = new FaceTracker({ maxMissed: 10 });
 * const faces = tracker.update(await detector.detect(frame), frame.timestamp); // with ids
 * const carried = tracker.predict(next.timestamp); // between detections
 * ```
 */
export class FaceTracker {
  readonly options: Required<Omit<TrackerOptions, 'nextId'>>;
  #tracks: Track[] = [];
  #lost: Track[] = [];
  readonly #newId: () => number;
  #bounds: TrackBounds | undefined;
  #lastTime: number | null = null;

  constructor(options: TrackerOptions = {}) {
    const o = {
      matchThreshold: options.matchThreshold ?? 0.3,
      maxMissed: options.maxMissed ?? 10,
      holdFrames: options.holdFrames ?? 2,
      reidFrames: options.reidFrames ?? 90,
      reidSimilarity: options.reidSimilarity ?? 0.85,
      reidNearSimilarity: options.reidNearSimilarity ?? 0.5,
      reidEdgeSimilarity: options.reidEdgeSimilarity ?? 0.2,
      frameIntervalMs: options.frameIntervalMs ?? 1000 / 30,
    };
    // Similarities are cosines (-1..1), the match threshold an IoU or closeness (0..1): a threshold
    // above 1 is never reached (matching or re-identification would be silently off).
    const limits = (k: string): [min: number, max: number, integer: boolean] =>
      k.endsWith('Similarity') ? [-1, 1, false] : k === 'matchThreshold' ? [0, 1, false] : k === 'frameIntervalMs' ? [0, Infinity, false] : [0, Infinity, true];
    for (const [k, v] of Object.entries(o)) {
      const [min, max, integer] = limits(k);
      if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
        const range = max === Infinity ? `>= ${min}` : `in ${min}..${max}`;
        throw new TypeError(`Expected \`${k}\` to be ${integer ? 'an integer' : 'a finite number'} ${range}, got \`${String(v)}\``);
      }
    }
    this.options = o;
    let next = 1;
    this.#newId = options.nextId ?? (() => next++);
  }

  /** Number of faces currently tracked (in view). */
  get size(): number {
    return this.#tracks.length;
  }

  /** Forgets every track (ids continue to increase). */
  reset(): void {
    this.#tracks = [];
    this.#lost = [];
    this.#lastTime = null;
  }

  #step(time: number): number {
    const last = this.#lastTime;
    // A missing time (a Frame without `timestamp`) must not become the clock: NaN never compares,
    // so every velocity was lost and a track made this frame looked like one missed by it.
    const t = Number.isFinite(time) ? time : null;
    const dt = last === null || t === null || !(t > last) ? this.options.frameIntervalMs : Math.min(t - last, 1000);
    this.#lastTime = last === null ? t ?? 0 : t !== null && t > last ? t : last + dt;
    return dt;
  }

  #advance(t: Track, dt: number): void {
    t.cx += t.vx * dt;
    t.cy += t.vy * dt;
    const g = Math.exp(t.vs * dt);
    t.w *= g;
    t.h *= g;
  }

  #box(t: Track): Box {
    return { x: t.cx - t.w / 2, y: t.cy - t.h / 2, width: t.w, height: t.h };
  }

  #output(t: Track, detected: boolean, det?: Detection): TrackResult {
    if (det) return { id: t.id, detected, box: det.box, score: det.score, keypoints: det.keypoints };
    const kp = {} as FaceKeypoints;
    KEYPOINT_NAMES.forEach((name, i) => (kp[name] = { x: t.cx + t.rel[i][0] * t.w, y: t.cy + t.rel[i][1] * t.w }));
    return { id: t.id, detected, box: this.#box(t), score: t.score, keypoints: kp };
  }

  #absorb(t: Track, d: TrackInput, time: number): void {
    const cx = d.box.x + d.box.width / 2;
    const cy = d.box.y + d.box.height / 2;
    const dt = time - t.lastTime;
    // Frames read in a burst (a live source stamps each on arrival: a few ms apart after a stall)
    // have no real time between them: a velocity over that gap was tens of times too high, and
    // the motion model blew the box up and away (a ghost beside the face, which got a new id).
    // The velocity measured before is kept.
    if (dt > 0 && dt >= this.options.frameIntervalMs / 4 && t.missed <= 1) {
      // Blend the measured velocity in (a light alpha-beta filter).
      t.vx = 0.6 * ((cx - t.measuredCx) / dt) + 0.4 * t.vx;
      t.vy = 0.6 * ((cy - t.measuredCy) / dt) + 0.4 * t.vy;
      t.vs = 0.6 * (Math.log(d.box.width / t.measuredW) / dt) + 0.4 * t.vs;
    } else if (t.missed > 1) {
      t.vx = t.vy = t.vs = 0;
    }
    t.cx = t.measuredCx = cx;
    t.cy = t.measuredCy = cy;
    t.w = t.measuredW = d.box.width;
    t.h = d.box.height;
    t.rel = KEYPOINT_NAMES.map((n) => [(d.keypoints[n].x - cx) / d.box.width, (d.keypoints[n].y - cy) / d.box.width]);
    t.score = d.score;
    t.edge = edgeOf(d.box, this.#bounds);
    t.lastTime = time;
    t.missed = 0;
    t.lostFor = 0;
    t.live = true;
    t.hits++;
    if (d.descriptor) {
      if (!t.descriptor) t.descriptor = Float32Array.from(d.descriptor);
      else {
        let norm = 0;
        for (let i = 0; i < t.descriptor.length; i++) {
          t.descriptor[i] = 0.8 * t.descriptor[i] + 0.2 * d.descriptor[i];
          norm += t.descriptor[i] ** 2;
        }
        norm = Math.sqrt(norm) || 1;
        for (let i = 0; i < t.descriptor.length; i++) t.descriptor[i] /= norm;
      }
    }
  }

  /**
   * Feeds the detections of a frame; returns every face of this frame with its track id: first
   * one result per detection, in the same order, then any held (briefly undetected) faces.
   * @param time Frame time in ms (pts or capture time); frames are assumed in order.
   * @param bounds The view (the frame's size, or the region of it that is watched, in frame
   *   coordinates): enables re-identification of faces re-entering through one of its edges.
   */
  update(detections: TrackInput[], time: number, bounds?: TrackBounds): TrackResult[] {
    this.#bounds = bounds;
    const dt = this.#step(time);
    const now = this.#lastTime as number;
    for (const t of this.#tracks) this.#advance(t, dt);
    for (const t of this.#lost) t.lostFor++;
    // Greedy matching on similarity: IoU, or centre closeness for fast or small faces.
    const pairs: Array<[number, number, number]> = [];
    this.#tracks.forEach((t, ti) => {
      const pb = this.#box(t);
      detections.forEach((d, di) => {
        const ratio = d.box.width / t.w;
        if (ratio < 0.5 || ratio > 2) return;
        const dx = d.box.x + d.box.width / 2 - t.cx;
        const dy = d.box.y + d.box.height / 2 - t.cy;
        const closeness = 1 - Math.hypot(dx, dy) / ((t.w + d.box.width) / 2);
        const sim = Math.max(iou(pb, d.box), closeness);
        if (sim >= this.options.matchThreshold) pairs.push([sim, ti, di]);
      });
    });
    pairs.sort((a, b) => b[0] - a[0]);
    const trackOf = new Map<number, number>();
    const usedT = new Set<number>();
    for (const [, ti, di] of pairs) {
      if (usedT.has(ti) || trackOf.has(di)) continue;
      usedT.add(ti);
      trackOf.set(di, ti);
    }
    const matched = new Set<Track>();
    const assigned: Array<[Track, TrackInput]> = [];
    detections.forEach((d, di) => {
      let t: Track | undefined = trackOf.has(di) ? this.#tracks[trackOf.get(di)!] : undefined;
      if (!t) t = this.#reidentify(d, usedT, now);
      if (!t) {
        t = {
          id: this.#newId(), cx: 0, cy: 0, w: 1, h: 1, vx: 0, vy: 0, vs: 0, rel: [], score: 0, lastTime: now,
          missed: 0, lostFor: 0, live: true, measuredCx: 0, measuredCy: 0, measuredW: 1, hits: 0, fresh: true, born: now, edge: null,
        };
        this.#tracks.push(t);
      }
      this.#absorb(t, d, now);
      matched.add(t);
      assigned.push([t, d]);
    });
    // A face that came back half outside the view may not look like itself at first: while a
    // new track is young, keep checking whether it is a lost face and take over its id.
    for (const [t] of assigned) {
      if (!t.fresh) continue;
      if (t.hits > 8) {
        t.fresh = false;
        continue;
      }
      // Only a face lost before this one appeared: one detected alongside it is someone else.
      const before = this.#lost.filter((o) => o.lastTime < t.born);
      const old = this.#bestLost(t.descriptor, { x: t.cx, y: t.cy, w: t.w, edge: t.edge }, before);
      if (old) {
        this.#lost.splice(this.#lost.indexOf(old), 1);
        t.id = old.id;
        t.fresh = false;
      }
    }
    const out = assigned.map(([t, d]) => this.#output(t, true, d));
    // Unmatched tracks coast (held in the output for a few missed detections while their centre
    // stays in the frame); past the budget they move to the lost list.
    const keep: Track[] = [];
    for (const t of this.#tracks) {
      if (matched.has(t)) {
        keep.push(t);
        continue;
      }
      t.missed++;
      // Coasting slows down so a face that stopped is not carried away.
      t.vx *= 0.5;
      t.vy *= 0.5;
      t.vs *= 0.5;
      // In the view: the frame, or the region (whose corner is not the frame's).
      const x0 = bounds?.x ?? 0;
      const y0 = bounds?.y ?? 0;
      const inside = !bounds || (t.cx >= x0 && t.cy >= y0 && t.cx < x0 + bounds.width && t.cy < y0 + bounds.height);
      t.live = t.live && inside && t.missed <= this.options.holdFrames;
      if (t.live) out.push(this.#output(t, false));
      if (t.missed > this.options.maxMissed) this.#lose(t);
      else keep.push(t);
    }
    this.#tracks = keep;
    this.#lost = this.#lost.filter((t) => t.lostFor <= this.options.reidFrames);
    return out;
  }

  /**
   * Advances every face seen at the latest detection by the motion model, for frames that skip
   * detection. Returns them with `detected: false`.
   */
  predict(time: number): TrackResult[] {
    const dt = this.#step(time);
    const out: TrackResult[] = [];
    for (const t of this.#tracks) {
      this.#advance(t, dt);
      if (t.live) out.push(this.#output(t, false));
    }
    for (const t of this.#lost) t.lostFor++;
    return out;
  }

  #lose(t: Track): void {
    t.lostFor = 0;
    t.live = false;
    this.#lost.push(t);
    if (this.#lost.length > 64) this.#lost.shift();
  }

  /**
   * The lost track that best matches an appearance at a place: anywhere when it looks very
   * similar, or with a lower bar near where that track was last detected.
   */
  #bestLost(descriptor: Float32Array | undefined, at: { x: number; y: number; w: number; edge: Edge }, pool: Track[]): Track | undefined {
    if (!descriptor) return undefined;
    let best: Track | undefined;
    let bestS = -Infinity;
    for (const t of pool) {
      const ratio = at.w / t.measuredW;
      if (ratio < 0.4 || ratio > 2.5) continue;
      const s = similarity(descriptor, t.descriptor);
      const near = Math.hypot(at.x - t.measuredCx, at.y - t.measuredCy) < 2 * Math.max(t.measuredW, at.w);
      const sameEdge = at.edge !== null && at.edge === t.edge;
      const need = sameEdge
        ? this.options.reidEdgeSimilarity
        : near ? this.options.reidNearSimilarity : this.options.reidSimilarity;
      if (s >= need && s > bestS) {
        best = t;
        bestS = s;
      }
    }
    return best;
  }

  /**
   * The track an unmatched detection belongs to by appearance, or undefined: a track not matched
   * by position this round (it moved too fast for the motion model, or was missed), or a lost
   * one (revived).
   */
  #reidentify(d: TrackInput, usedTracks: Set<number>, now: number): Track | undefined {
    const at = { x: d.box.x + d.box.width / 2, y: d.box.y + d.box.height / 2, w: d.box.width, edge: edgeOf(d.box, this.#bounds) };
    const missed = this.#tracks.filter((t, i) => !usedTracks.has(i) && t.lastTime !== now);
    const t = this.#bestLost(d.descriptor, at, [...missed, ...this.#lost]);
    if (!t) return undefined;
    const li = this.#lost.indexOf(t);
    if (li >= 0) {
      this.#lost.splice(li, 1);
      this.#tracks.push(t);
    } else {
      usedTracks.add(this.#tracks.indexOf(t));
    }
    // A revived track restarts its motion model where it reappears.
    t.vx = t.vy = t.vs = 0;
    t.missed = 2;
    return t;
  }
}
