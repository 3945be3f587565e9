/**
 * Options objects given as something else. A bare string where an options object belongs
 * (`loadClassifier('nano-b')`, `createVideoSource('rtsp://…')`) reads no option at all, and the
 * defaults (the default model, the demo clip) would run in its place, plausibly: the callers
 * refuse it, naming what they got.
 */

/** How `x` reads in an error when it is not an object (`the string "nano-b"`, `null`), or null when it is one. */
export function notAnObject(x: unknown): string | null {
  if (x !== null && typeof x === 'object') return null;
  return typeof x === 'string' ? `the string ${JSON.stringify(x)}` : String(x);
}
