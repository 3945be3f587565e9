/**
 * What to decode: parses a source string into a typed spec, checks it before spawning (so a
 * missing file or camera gets a clear error at once), and builds ffmpeg's input arguments.
 */
import * as fs from 'fs';
import * as path from 'path';
import { fileURLToPath } from 'url';
import { splitArgs } from '../ffmpeg/args';
import { redactUrl } from '../ffmpeg/stderr';
import { defaultSampleInput } from './default-sample';
import { VideoSourceError } from './errors';

export type SourceKind = 'default' | 'file' | 'url' | 'device' | 'lavfi';
export type SourceType = 'auto' | SourceKind;
export const SOURCE_TYPES: readonly SourceType[] = ['auto', 'default', 'file', 'url', 'device', 'lavfi'];

export interface SourceSpec {
  kind: SourceKind;
  /** Path, URL, device path or lavfi graph (for `default`: "default"). */
  target: string;
}

const URL_RE = /^(rtsps?|rtmps?|https?|udp|tcp|srt|rtp):\/\//i;
/**
 * Any `scheme:/` (two letters at least: `C:/` is a Windows drive). Such a source that is not a
 * {@link URL_RE} URL is refused instead of read as a relative file path, whose errors showed the
 * credentials in it (`mmsh://bob:pw@cam` → "file not found: /home/…/mmsh:/bob:pw@cam").
 */
const ANY_URL_RE = /^([a-z][a-z0-9+.-]+):\//i;

/** Longest accepted source text (paths and URLs are far shorter; this bounds error texts and logs). */
export const MAX_SOURCE_LENGTH = 4096;

/**
 * Parses a source string. `auto` recognises `default` (or empty), URLs (rtsp, rtmp, http(s),
 * udp, tcp, srt, rtp), `/dev/videoN` (V4L2), `lavfi:<graph>` and `file:/…` URLs (any case);
 * another `scheme:/…` is refused; anything else is a file path.
 *
 * @throws {@link VideoSourceError} `bad-source` for an unusable string or type.
 */
export function parseSource(source: unknown, type: SourceType = 'auto'): SourceSpec {
  if (source !== undefined && source !== null && typeof source !== 'string') {
    throw new VideoSourceError('bad-source', `source must be a string, got ${typeof source}`);
  }
  const s = (source ?? '').trim();
  if (s.length > MAX_SOURCE_LENGTH) {
    throw new VideoSourceError('bad-source', `source is too long (${s.length} characters, at most ${MAX_SOURCE_LENGTH}): ${redactSource(s).slice(0, 60)}…`);
  }
  if (!SOURCE_TYPES.includes(type)) throw new VideoSourceError('bad-source', `unknown source type "${String(type)}"`);
  if (type === 'default' || (type === 'auto' && (s === '' || s.toLowerCase() === 'default'))) {
    return { kind: 'default', target: 'default' };
  }
  if (!s) throw new VideoSourceError('bad-source', `no ${type} given`);
  if (type === 'lavfi' || (type === 'auto' && s.startsWith('lavfi:'))) {
    return { kind: 'lavfi', target: s.replace(/^lavfi:/, '') };
  }
  if (type === 'url' || (type === 'auto' && URL_RE.test(s))) {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw new VideoSourceError('bad-source', `not a valid URL: ${redactSource(s)}`);
    }
    if (!URL_RE.test(u.href)) throw new VideoSourceError('bad-source', `unsupported URL scheme "${u.protocol}"`);
    return { kind: 'url', target: s };
  }
  if (type === 'device' || (type === 'auto' && /^\/dev\/video\d+$/.test(s))) return { kind: 'device', target: s };
  // Any case and `file:/…` too (the URL class takes both): a `FILE://bob:pw@host/…` read as a
  // relative path showed its password in "file not found".
  if (/^file:\//i.test(s)) {
    try {
      // Decoded (`%20` is a space); a host other than localhost is refused, not dropped.
      return { kind: 'file', target: fileURLToPath(s) };
    } catch (e) {
      throw new VideoSourceError('bad-source', `not a valid file URL: ${redactSource(s)} (${(e as Error).message})`);
    }
  }
  const scheme = ANY_URL_RE.exec(s)?.[1];
  if (scheme) {
    const known = URL_RE.test(`${scheme}://`);
    throw new VideoSourceError('bad-source', !known
      ? `unsupported URL scheme "${scheme}:" (stream URLs start with rtsp, rtsps, rtmp, rtmps, http, https, udp, tcp, srt or rtp)`
      : URL_RE.test(s)
        ? `a ${scheme} stream URL is not a file: set the source type to URL (or Auto)` // (only type 'file' gets here with one)
        : `not a valid URL: "${scheme}:" must be followed by "//"`);
  }
  return { kind: 'file', target: path.resolve(s) };
}

/** True for sources that cannot be paused or replayed (cameras, network streams, synthetic). */
export function isLive(spec: SourceSpec, resolvedKind?: 'file' | 'lavfi'): boolean {
  if (spec.kind === 'default') return resolvedKind !== 'file';
  return spec.kind === 'url' || spec.kind === 'device' || spec.kind === 'lavfi';
}

/** Inserts credentials into a URL that has none (`rtsp://user:pass@host/…`). */
export function withCredentials(url: string, username?: string, password?: string): string {
  if (!username && !password) return url;
  const u = new URL(url);
  if (u.username || u.password) return url;
  u.username = username ?? '';
  u.password = password ?? '';
  return u.href;
}

/**
 * URL paths and queries of MJPEG cameras: `.mjpg`/`.mjpeg` files, `…/mjpg/…`, CGI scripts
 * (`video.cgi`, `videostream.cgi`), mjpg-streamer's `?action=stream`, Panasonic's `nphMotionJpeg`.
 * Anything else over HTTP may be a file or a timed stream (MPEG-TS, FLV, HLS), whose own
 * timestamps must be kept: time-by-arrival would collapse a file read at full speed to a frame.
 */
const MJPEG_HTTP = /mjpe?g|\.cgi$|[?&]action=stream|nphMotionJpeg/i;

/** An http(s) URL that looks like an MJPEG camera (no timestamps of its own), by path and query. */
export function isMjpegUrl(url: string): boolean {
  if (!/^https?:/i.test(url)) return false;
  try {
    const u = new URL(url);
    return MJPEG_HTTP.test(u.pathname) || MJPEG_HTTP.test(u.search);
  } catch {
    return false;
  }
}

/**
 * The user information of a source that is one URL: from `://` to its last `@` before the path.
 * Unlike {@link redactUrl}, which reads log lines word by word, it may hold spaces (a password
 * typed with a raw space is still a password). Anchored at the start, so linear.
 */
const SOURCE_USERINFO = /^([a-z][\w+.-]*:\/\/)([^/]*)@/i;

/** A source string with its inline credentials (`rtsp://user:pass@…`) replaced by `***`, then any other URL in it redacted. */
export function redactSource(source: string): string {
  return redactUrl(source.replace(SOURCE_USERINFO, '$1***@'));
}

/** The user information written into a URL source (`rtsp://bob:pa ss@cam/…` → `bob:pa ss`), as typed; '' when it has none. */
export function inlineUserinfo(source: string): string {
  return SOURCE_USERINFO.exec(source.trim())?.[2] ?? '';
}

/** A loggable form of the source (credentials removed). */
export function describeSource(spec: SourceSpec): string {
  return spec.kind === 'default' ? 'default sample' : `${spec.kind} ${redactSource(spec.target)}`;
}

export interface InputOptions {
  /** Loop files forever. @default false */
  loop?: boolean;
  /** `realtime` reads files at their native rate (-re); `fast` as fast as the pipeline takes them. @default 'realtime' */
  pacing?: 'realtime' | 'fast';
  /** Extra input arguments for experts, inserted before `-i`. */
  extraArgs?: string | readonly string[];
  username?: string;
  password?: string;
  /** Start position in ms (files; used to resume after a crash). */
  seekMs?: number;
}

export interface PreparedInput {
  /** Input arguments ending with `-i <input>` (may contain credentials: never log). */
  args: string[];
  /** Cannot be paused or replayed (see {@link isLive}). */
  live: boolean;
  /** What the default sample resolved to, or the spec's kind. */
  resolvedKind: SourceKind;
  /** Ends by itself (a file played once). */
  finite: boolean;
  description: string;
  /**
   * `default` only, when no demo clip was found and ffmpeg's synthetic pattern (no faces) plays
   * instead: the clip path that was looked for.
   */
  missingSample?: string;
}

/** What a run decodes, without the ffmpeg arguments (they may hold credentials). */
export type ResolvedInput = Omit<PreparedInput, 'args'>;

/**
 * Checks the source and builds ffmpeg input arguments.
 *
 * @throws {@link VideoSourceError} `not-found` (file), `not-video` (a directory), `no-device`
 *   (a V4L2 path that does not exist or is not a character device), `bad-source` (bad extra args).
 */
export async function prepareInput(spec: SourceSpec, opts: InputOptions = {}): Promise<PreparedInput> {
  const { loop = false, pacing = 'realtime', username, password, seekMs = 0 } = opts;
  let extra: string[];
  try {
    extra = typeof opts.extraArgs === 'string' ? splitArgs(opts.extraArgs) : [...(opts.extraArgs ?? [])];
  } catch (e) {
    throw new VideoSourceError('bad-source', `extra input arguments: ${(e as Error).message}`);
  }
  if (extra.includes('-i')) throw new VideoSourceError('bad-source', 'extra input arguments must not contain -i');
  const seek = seekMs > 0 ? ['-ss', (seekMs / 1000).toFixed(3)] : [];

  switch (spec.kind) {
    case 'default': {
      const d = defaultSampleInput();
      const at = d.inputArgs.indexOf('-i');
      const args = [...d.inputArgs.slice(0, at), ...(d.kind === 'file' ? seek : []), ...extra, ...d.inputArgs.slice(at)];
      return { args, live: d.kind !== 'file', resolvedKind: d.kind, finite: false, description: `default sample (${d.description})`, missingSample: d.missing };
    }
    case 'file': {
      let st: fs.Stats;
      try {
        st = await fs.promises.stat(spec.target);
      } catch {
        throw new VideoSourceError('not-found', `file not found: ${redactSource(spec.target)}`);
      }
      if (!st.isFile()) throw new VideoSourceError('not-video', `not a file: ${redactSource(spec.target)}`);
      const args = [
        ...(pacing === 'realtime' ? ['-re'] : []),
        ...(loop ? ['-stream_loop', '-1'] : []),
        ...seek,
        ...extra,
        '-i',
        spec.target,
      ];
      return { args, live: false, resolvedKind: 'file', finite: !loop, description: describeSource(spec) };
    }
    case 'device': {
      let st: fs.Stats;
      try {
        st = await fs.promises.stat(spec.target);
      } catch {
        throw new VideoSourceError('no-device', `video device not found: ${redactSource(spec.target)}`);
      }
      if (!st.isCharacterDevice()) throw new VideoSourceError('no-device', `not a video device: ${redactSource(spec.target)}`);
      const fmt = extra.includes('-f') ? [] : ['-f', process.platform === 'linux' ? 'v4l2' : 'avfoundation'];
      return { args: [...fmt, ...extra, '-i', spec.target], live: true, resolvedKind: 'device', finite: false, description: describeSource(spec) };
    }
    case 'url': {
      const url = withCredentials(spec.target, username, password);
      // TCP by default for RTSP: UDP loses packets over Wi-Fi and through NAT (smeared frames).
      const transport = /^rtsps?:/i.test(url) && !extra.includes('-rtsp_transport') ? ['-rtsp_transport', 'tcp'] : [];
      // An HTTP MJPEG camera sends no timestamps: ffmpeg would assume 25 fps and the fps cap would
      // keep 10 of every 25 frames whatever the camera's real rate (a 5 fps camera gave 2 fps).
      // Time such streams by arrival; other HTTP sources keep their own timestamps.
      const wallclock = isMjpegUrl(spec.target) && !extra.includes('-use_wallclock_as_timestamps') ? ['-use_wallclock_as_timestamps', '1'] : [];
      return { args: [...transport, ...wallclock, ...extra, '-i', url], live: true, resolvedKind: 'url', finite: false, description: describeSource(spec) };
    }
    case 'lavfi':
      return {
        args: [...(pacing === 'realtime' ? ['-re'] : []), ...extra, '-f', 'lavfi', '-i', spec.target],
        live: true,
        resolvedKind: 'lavfi',
        finite: false,
        description: describeSource(spec),
      };
  }
}
