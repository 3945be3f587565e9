/**
 * The one error type of the video source. `key` is a short stable class (the Node-RED node maps
 * it to the i18n key `errors.<key>` for status text); `message` is the full explanation with
 * ffmpeg's own line, credentials redacted.
 */
import type { FfmpegErrorKey } from '../ffmpeg/stderr';

export type VideoSourceErrorKey =
  | FfmpegErrorKey
  | 'no-ffmpeg'
  | 'bad-source'
  | 'stalled'
  | 'stopped'
  | 'spawn-failed';

export class VideoSourceError extends Error {
  readonly key: VideoSourceErrorKey;
  /** ffmpeg's exit code / signal, when the error comes from an exit. */
  readonly exitCode?: number | null;
  readonly signal?: NodeJS.Signals | null;

  constructor(key: VideoSourceErrorKey, message: string, exit?: { code: number | null; signal: NodeJS.Signals | null }) {
    super(message);
    this.name = 'VideoSourceError';
    this.key = key;
    this.exitCode = exit?.code;
    this.signal = exit?.signal;
  }
}
