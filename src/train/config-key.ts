/**
 * Checkpoint compatibility keys (JSON objects of the options that shape a run): when a
 * checkpoint's key differs from the current run's, the trainers refuse to resume and name the
 * options that differ, instead of silently starting over or mixing two configurations.
 */

/** How a key field is shown: the CLI option it comes from, and the word for "absent". */
export interface KeyField {
  option: string;
  /** Shown when the field is absent (default: `default`). */
  absent?: string;
  /** The value is too large to show (an architecture, augmentation settings): say `other`. */
  opaque?: boolean;
}

/** Key fields both trainers use, under the same short names. */
export const COMMON_KEY_FIELDS: Record<string, KeyField> = {
  v: { option: '--variant' },
  s: { option: 'architecture', opaque: true },
  b: { option: '--batch' },
  lr: { option: '--lr' },
  wd: { option: '--wd' },
  ls: { option: 'label smoothing' },
  seed: { option: '--seed' },
  a: { option: 'augmentation', opaque: true },
  n: { option: 'training images' },
  pre: { option: '--init', absent: 'none' },
  ema: { option: '--ema', absent: 'off' },
};

function parseKey(k: string): Record<string, unknown> {
  try {
    const v = JSON.parse(k) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The options in which two config keys differ, e.g. `--init (checkpoint: x, now: none)`. */
export function describeKeyDifferences(saved: string, now: string, fields: Record<string, KeyField>, what = 'checkpoint'): string[] {
  const [a, b] = [parseKey(saved), parseKey(now)];
  const show = (f: string, v: unknown) => (v === undefined ? (fields[f]?.absent ?? 'default') : fields[f]?.opaque ? 'other' : JSON.stringify(v));
  return [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .filter((f) => JSON.stringify(a[f]) !== JSON.stringify(b[f]))
    .map((f) => `${fields[f]?.option ?? f} (${what}: ${show(f, a[f])}, now: ${show(f, b[f])})`);
}

/** The error thrown when `--work` holds a checkpoint of another configuration. */
export function checkpointMismatchError(dir: string, saved: string | undefined, now: string, fields: Record<string, KeyField>): Error {
  if (saved === undefined) {
    return new Error(`${dir} holds a model but no training checkpoint (no training state in its model.json); pass an empty or new --work directory`);
  }
  const diff = describeKeyDifferences(saved, now, fields);
  return new Error(`Checkpoint in ${dir} was written with a different configuration or data${diff.length ? ` (${diff.join('; ')})` : ''}; move it away or pass the same options (or a new --work directory)`);
}
