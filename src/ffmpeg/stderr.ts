/**
 * Reads ffmpeg's stderr: stream information (input codec, size, fps; output size), the
 * `-benchmark` CPU summary, and the lines that explain a failure, mapped to a short error key.
 * Credentials in URLs are redacted before any line is kept.
 */

export interface StreamInfo {
  /** Input container as ffmpeg names it (`mov,mp4,m4a,3gp,3g2,mj2`, `rtsp`, `video4linux2,v4l2`…). */
  container?: string;
  /** Input video codec (`h264`, `mjpeg`, `rawvideo`…). */
  codec?: string;
  /** Input size. */
  width?: number;
  height?: number;
  /** Input frame rate as reported (`fps`, else `tbr`). */
  fps?: number;
  /** Input duration in ms (files). */
  durationMs?: number;
  /** Size of the frames we receive (after scaling). */
  outputWidth?: number;
  outputHeight?: number;
}

export interface BenchInfo {
  /** ffmpeg's own user+system CPU time (from `-benchmark`). */
  cpuMs: number;
  /** Its wall-clock time. */
  realMs: number;
}

/**
 * Replaces `user:password@` in URLs with `***@` (ffmpeg echoes input URLs in its messages): up to
 * the last `@` before the path, so a raw `@` or a quote in a password does not end the match.
 */
export function redactUrl(text: string): string {
  // Anchored on "://", not on the scheme: matching a scheme rescanned long runs of letters from
  // every position (a 40 000-character path took 13 s), and whatever precedes "://" (`1rtsp`,
  // `-http`) does not matter. Linear: each scan stops at the next "/", and every "://" has one.
  return text.replace(/:\/\/[^/\s]*@/g, '://***@');
}

/**
 * Blanks the values of credential-bearing HTTP headers (`Authorization: Bearer …`, `Cookie: …`,
 * API keys and tokens) in one argument of a logged command line: `-headers` in the input
 * arguments carries them, and the spawn line is logged (at debug level). A value ends at a line
 * break (the next header) or the argument's end.
 */
export function redactHeaders(text: string): string {
  return text.replace(/\b((?:proxy-)?authorization|cookie|x-api-key|api-key|x-auth-token)(\s*:\s*)[^\r\n"']*/gi, '$1$2***');
}

/**
 * Replaces every occurrence of the given secrets (e.g. a password as typed and percent-encoded)
 * with `***`. Secrets shorter than 3 characters are left alone (they would garble every line).
 */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 3) out = out.split(s).join('***');
  return out;
}

/** Short, stable error classes; the Node-RED layer maps them to i18n keys `errors.<key>`. */
export type FfmpegErrorKey =
  | 'not-found'
  | 'not-video'
  | 'no-video-stream'
  | 'unreachable'
  | 'unauthorized'
  | 'no-device'
  | 'device-busy'
  | 'permission'
  | 'bad-args'
  | 'exited';

/** Line pattern → error class, most specific first; an optional hint (what to do) is appended to the line. */
const RULES: Array<[RegExp, FfmpegErrorKey, string?]> = [
  // An RTSP camera that only streams over UDP refuses our default TCP transport.
  [/461 Unsupported Transport/i, 'bad-args', 'the camera offers RTSP over UDP only: set the input args to "-rtsp_transport udp"'],
  [/401 Unauthorized|403 Forbidden|Unauthorized|authorization failed/i, 'unauthorized'],
  [/Cannot open video device|No such device/i, 'no-device'],
  [/Device or resource busy/i, 'device-busy'],
  [/Permission denied/i, 'permission'],
  [/No such file or directory/i, 'not-found'],
  [
    /Connection refused|Connection timed out|Connection reset|No route to host|Network is unreachable|Name or service not known|Failed to resolve hostname|Temporary failure in name resolution|Server returned [45]\d\d|HTTP error [45]\d\d|Operation timed out|method DESCRIBE failed|End of file.*rtsp|Immediate exit requested/i,
    'unreachable',
  ],
  [/matches no streams|does not contain any stream|Output file is empty/i, 'no-video-stream'],
  [/Invalid data found when processing input|could not find codec parameters|moov atom not found|Invalid argument|Unknown input format|unsupported codec/i, 'not-video'],
  [/Unrecognized option|No such filter|Error initializing filter|Invalid option|Missing argument/i, 'bad-args'],
  [/Option not found|Error parsing/i, 'bad-args'],
];

/** Picks the error class that best explains ffmpeg's last stderr lines (most specific first). */
export function classifyFfmpegError(lines: readonly string[]): { key: FfmpegErrorKey; line: string } {
  for (const [re, key, hint] of RULES) {
    for (let i = lines.length - 1; i >= 0; i--) {
      if (re.test(lines[i])) return { key, line: hint ? `${lines[i].trim()} (${hint})` : lines[i] };
    }
  }
  const last = [...lines].reverse().find((l) => l.trim() && !/^\s*(Metadata|Stream mapping|Press \[q\])/.test(l));
  return { key: 'exited', line: last ?? '' };
}

function num(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const v = s.endsWith('k') ? parseFloat(s) * 1000 : parseFloat(s);
  return Number.isFinite(v) ? v : undefined;
}

/**
 * Incremental, line-based stderr reader. Feed it chunks; read {@link info}, {@link bench} and
 * {@link lastLines} at any time. `onInfo` fires once the output stream's size is known.
 */
export class StderrParser {
  readonly info: StreamInfo = {};
  bench: BenchInfo | null = null;
  #partial = '';
  #section: 'none' | 'input' | 'output' = 'none';
  #lines: string[] = [];
  readonly #keep: number;
  readonly #onInfo?: (info: StreamInfo) => void;
  readonly #onLine?: (line: string) => void;
  #infoSent = false;

  readonly #secrets: readonly string[];

  /** @param opts.secrets strings never kept or passed on (the source's password), see {@link scrubSecrets}. */
  constructor(opts: { keepLines?: number; onInfo?: (info: StreamInfo) => void; onLine?: (line: string) => void; secrets?: readonly string[] } = {}) {
    this.#keep = opts.keepLines ?? 30;
    this.#secrets = opts.secrets ?? [];
    this.#onInfo = opts.onInfo;
    this.#onLine = opts.onLine;
  }

  /** The last lines seen (redacted), for error messages. */
  get lastLines(): readonly string[] {
    return this.#lines;
  }

  get infoReady(): boolean {
    return this.#infoSent;
  }

  feed(chunk: Buffer | string): void {
    const text = this.#partial + chunk.toString();
    // ffmpeg ends progress lines with \r; treat both as line ends.
    const parts = text.split(/\r\n|\n|\r/);
    this.#partial = parts.pop() ?? '';
    if (this.#partial.length > 8192) {
      parts.push(this.#partial);
      this.#partial = '';
    }
    for (const p of parts) this.#line(p);
  }

  /** Flushes a last unterminated line (call on stream end). */
  end(): void {
    if (this.#partial) this.#line(this.#partial);
    this.#partial = '';
  }

  #line(raw: string): void {
    if (!raw.trim()) return;
    // At `-loglevel debug` (Input args) ffmpeg prints its HTTP request, with the Basic
    // credentials in base64 (of a URL's inline ones too, which are not in #secrets).
    const line = scrubSecrets(redactUrl(raw), this.#secrets).replace(/(Authorization:\s*\S+\s+)\S.*/i, '$1***');
    this.#lines.push(line);
    if (this.#lines.length > this.#keep) this.#lines.shift();
    this.#onLine?.(line);

    let m: RegExpExecArray | null;
    if ((m = /^Input #\d+, (.+?), from/.exec(line))) {
      this.#section = 'input';
      this.info.container = m[1];
      return;
    }
    if (/^Output #\d+/.test(line)) {
      this.#section = 'output';
      return;
    }
    if ((m = /Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)/.exec(line))) {
      this.info.durationMs = Math.round(((+m[1] * 60 + +m[2]) * 60 + +m[3]) * 1000);
      return;
    }
    if ((m = /bench: utime=([\d.]+)s(?: stime=([\d.]+)s)? rtime=([\d.]+)s/.exec(line))) {
      this.bench = { cpuMs: (+m[1] + (m[2] ? +m[2] : 0)) * 1000, realMs: +m[3] * 1000 };
      return;
    }
    m = /Stream #\d+:\d+.*?: Video: (\w+)(.*)$/.exec(line);
    if (!m) return;
    // Parenthesised groups may contain commas ("yuv420p(tv, bt709)"); drop them before splitting.
    const rest = m[2].replace(/\([^()]*\)/g, '');
    const size = /(?:^|[ ,])(\d{1,5})x(\d{1,5})(?=[ ,]|$)/.exec(rest);
    if (this.#section === 'input' && this.info.codec === undefined) {
      this.info.codec = m[1];
      if (size) {
        this.info.width = +size[1];
        this.info.height = +size[2];
      }
      const fps = /([\d.]+k?) fps/.exec(rest) ?? /([\d.]+k?) tbr/.exec(rest);
      this.info.fps = num(fps?.[1]);
    } else if (this.#section === 'output' && size && this.info.outputWidth === undefined) {
      this.info.outputWidth = +size[1];
      this.info.outputHeight = +size[2];
      if (!this.#infoSent) {
        this.#infoSent = true;
        this.#onInfo?.(this.info);
      }
    }
  }
}
