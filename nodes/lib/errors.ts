/**
 * Typed errors for the Node-RED layer. Each carries an i18n key (for status text and the
 * message) so errors read the same in the debug sidebar, in Catch nodes and in status.
 */
export type ErrorKind = 'config' | 'input' | 'model' | 'source';

export class EmotionNetError extends Error {
  /** i18n key under the node's namespace, e.g. `errors.bad-payload`. */
  readonly key: string;
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, key: string, message: string) {
    super(message);
    this.name = `${kind[0].toUpperCase()}${kind.slice(1)}Error`;
    this.kind = kind;
    this.key = key;
  }
}

/** Invalid node configuration (reported once, at construction). */
export class ConfigError extends EmotionNetError {
  constructor(message: string, key = 'errors.config') {
    super('config', key, message);
  }
}

/** A message the node cannot process (wrong type, missing field, corrupt image). */
export class InputError extends EmotionNetError {
  constructor(message: string, key = 'errors.input') {
    super('input', key, message);
  }
}

/** A model that could not be loaded or run. */
export class ModelError extends EmotionNetError {
  constructor(message: string, key = 'errors.model') {
    super('model', key, message);
  }
}

/** A video source that failed (ffmpeg missing, unreachable URL, device gone). */
export class SourceError extends EmotionNetError {
  constructor(message: string, key = 'errors.source') {
    super('source', key, message);
  }
}

/** Normalises anything thrown into an Error with a useful message. */
export function toError(e: unknown): Error {
  if (e instanceof Error) return e;
  return new Error(typeof e === 'string' ? e : JSON.stringify(e));
}
