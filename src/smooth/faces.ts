/**
 * The per-face shapes that smoothing and alerts read, and the one validator both use.
 *
 * Only the fields these stages need are typed; every other field of a face (box, crop,
 * keypoints…) passes through untouched.
 */

/** The classifier's output for one face (message contract: `face.emotion`). */
export interface EmotionResult {
  label: string;
  confidence: number;
  probabilities: Record<string, number>;
}

/** The smoothing stage's output for one face (message contract: `face.smoothed`). */
export interface SmoothedEmotion {
  /** The stable label (changes only after the hysteresis dwell and margin). */
  label: string;
  /** Smoothed score of the stable label (mean/EMA probability, or vote share for `majority`). */
  confidence: number;
  /** Smoothed probabilities per label (they sum to ~1). */
  probabilities: Record<string, number>;
  /** Time (ms) at which the stable label began. */
  since: number;
}

/** A face as our nodes pass it on: a track id plus, after the classifier, `emotion`. */
export interface TrackedFace {
  /** Track id from the face stage: a non-negative integer, stable while the face is tracked. */
  id: number;
  /** Detector confidence, when known. */
  score?: number;
  emotion?: EmotionResult;
  smoothed?: SmoothedEmotion;
  [key: string]: unknown;
}

/** A face that has a classifier result. */
export type EmotionFace = TrackedFace & { emotion: EmotionResult };

export interface CheckFacesOptions {
  /** Require `face.emotion` on every face (smoothing does; alerts do not). @default true */
  requireEmotion?: boolean;
}

/**
 * Checks that `payload` is a `Face[]` as the message contract defines it and returns a clear
 * message for the first problem found, or `null` when it is valid. `face.emotion` and, when
 * present (not `undefined` or `null`), `face.smoothed` must each be a valid
 * `{label, confidence, probabilities}`: a malformed `smoothed` is an error rather than being
 * preferred over (or silently hiding) a valid `emotion`. Nothing is thrown, so a
 * Node-RED wrapper can turn the message into `done(err)` and a library user into an Error.
 *
 * @example
 * ```ts
 * const problem = checkFaces(msg.payload);
 * if (problem) return done(new Error(problem));
 * ```
 */
export function checkFaces(payload: unknown, options: CheckFacesOptions = {}): string | null {
  const requireEmotion = options.requireEmotion ?? true;
  if (!Array.isArray(payload)) {
    return `msg.payload must be an array of faces (Face[]), got ${describeValue(payload)}`;
  }
  const seen = new Set<number>();
  for (let i = 0; i < payload.length; i++) {
    const face = payload[i] as Partial<TrackedFace> | null;
    if (!face || typeof face !== 'object') return `face ${i} is ${describeValue(face)}, expected an object`;
    const id = face.id;
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
      return `face ${i} has an invalid track id ${describeValue(id)}: expected an integer >= 0 (wire the face node, which tracks faces, before this one)`;
    }
    if (seen.has(id)) return `track id ${id} appears twice in one frame`;
    seen.add(id);
    if (face.emotion === undefined) {
      if (requireEmotion) return `face ${i} (track ${id}) has no emotion: wire the classifier before this node`;
    } else {
      const problem = checkEmotion(face.emotion, 'emotion');
      if (problem) return `face ${i} (track ${id}): ${problem}`;
    }
    // Alerts prefer `smoothed` over `emotion`, so a malformed one must not pass unnoticed.
    if (face.smoothed !== undefined && face.smoothed !== null) {
      const problem = checkEmotion(face.smoothed, 'smoothed');
      if (problem) return `face ${i} (track ${id}): ${problem}`;
    }
  }
  return null;
}

/** Checks a `{label, confidence, probabilities}` result; `field` names it in messages. */
function checkEmotion(e: unknown, field: 'emotion' | 'smoothed'): string | null {
  if (!e || typeof e !== 'object') return `${field} is ${describeValue(e)}, expected {label, confidence, probabilities}`;
  const em = e as Partial<EmotionResult>;
  if (typeof em.label !== 'string' || em.label === '') return `${field}.label must be a non-empty string, got ${describeValue(em.label)}`;
  if (!isProbability(em.confidence)) return `${field}.confidence must be a number in [0, 1], got ${describeValue(em.confidence)}`;
  const p = em.probabilities;
  if (p === undefined) return null; // {label: confidence} is used instead (documented)
  if (!p || typeof p !== 'object' || Array.isArray(p)) return `${field}.probabilities must be an object {label: p}, got ${describeValue(p)}`;
  const entries = Object.entries(p);
  if (entries.length === 0) return `${field}.probabilities is empty`;
  for (const [label, v] of entries) {
    if (!isProbability(v)) return `${field}.probabilities.${label} must be a number in [0, 1], got ${describeValue(v)}`;
  }
  return null;
}

function isProbability(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1;
}

/** The probabilities of a checked emotion result (`{label: confidence}` when none are given). */
export function probabilitiesOf(e: EmotionResult): Record<string, number> {
  return e.probabilities ?? { [e.label]: e.confidence };
}

/** Short description of a value for error messages: type and a bounded preview. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Buffer.isBuffer(v)) return `a Buffer (${v.length} bytes)`;
  if (Array.isArray(v)) return `an array (${v.length} items)`;
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : `${v}`;
  if (typeof v === 'string') return `"${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}
