/**
 * Builds ffmpeg's argument array (never a shell string) for decoding one video stream to frames
 * on stdout. Frame rate and size are applied inside ffmpeg, so a Raspberry Pi never converts
 * or copies pixels it will throw away.
 */
import type { PixelFormat } from '../frame';

export interface OutputOptions {
  /** `rgb24`/`gray`: raw frames; `jpeg`: one JPEG per frame (image2pipe). */
  format: PixelFormat;
  /** Frame-rate cap in frames/s; 0 = none. It only drops frames, never duplicates them. @default 0 */
  fps?: number;
  /** Output width; 0 keeps the source width (or follows the aspect ratio if height is set). @default 0 */
  width?: number;
  /** Output height; 0 keeps the source height (or follows the aspect ratio if width is set). @default 0 */
  height?: number;
  /** JPEG quality 1..100 (mapped to ffmpeg's -q:v 31..2). @default 80 */
  jpegQuality?: number;
  /** Decoder threads; 0 lets ffmpeg decide (one per core). @default 0 */
  threads?: number;
}

export interface BuildArgsOptions {
  /** Everything up to and including `-i <input>` (from the source resolver). */
  input: readonly string[];
  output: OutputOptions;
  /** ffmpeg release (from discovery); picks `-fps_mode` (≥ 5.1) or `-vsync`. */
  release?: { major: number; minor: number } | null;
  /** Add `-benchmark` so stderr reports ffmpeg's own CPU time at exit. @default false */
  benchmark?: boolean;
}

/** Maps quality 1..100 (higher is better) onto mjpeg's -q:v 31..2 (lower is better). */
export function jpegQscale(quality: number): number {
  const q = Math.min(100, Math.max(1, Math.round(quality)));
  return Math.round(2 + ((100 - q) * 29) / 99);
}

/**
 * The `-vf` filter chain, or null when nothing is needed.
 *
 * The fps cap uses `select` on one frame per 1/fps time slot instead of the `fps` filter,
 * because `fps` also *duplicates* frames when the source is slower than the cap (a 5 fps
 * camera capped at 15 would triple the work downstream). Frames without timestamps pass.
 */
export function filterChain({ fps = 0, width = 0, height = 0 }: OutputOptions): string | null {
  const parts: string[] = [];
  if (fps > 0) {
    const n = Number(fps.toFixed(6));
    // + 0.01 slot: frame times land on slot boundaries when the cap equals the source's rate, and
    // floating point puts some just below (0.12 s x 25 = 2.9999999999999996): without it a 25 fps
    // clip capped at 25 lost 22 of 1200 frames into the previous slot.
    parts.push(`select='if(isnan(prev_selected_t)+isnan(t),1,gt(floor(t*${n}+0.01),floor(prev_selected_t*${n}+0.01)))'`);
  }
  if (width > 0 || height > 0) {
    const w = width > 0 ? Math.round(width) : -2;
    const h = height > 0 ? Math.round(height) : -2;
    parts.push(`scale=${w}:${h}:flags=bilinear`);
  }
  return parts.length ? parts.join(',') : null;
}

/**
 * Builds the complete argument array.
 *
 * @example
 * ```ts
 * buildFfmpegArgs({ input: ['-i', 'clip.mp4'], output: { format: 'rgb24', fps: 10, width: 640 } });
 * // ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info', '-i', 'clip.mp4', '-map', '0:v:0', …, 'pipe:1']
 * ```
 */
export function buildFfmpegArgs({ input, output, release = null, benchmark = false }: BuildArgsOptions): string[] {
  const args = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info'];
  if (benchmark) args.push('-benchmark');
  if (output.threads && output.threads > 0) args.push('-threads', String(Math.round(output.threads)));
  args.push(...input);
  args.push('-map', '0:v:0', '-an', '-sn', '-dn');
  const vf = filterChain(output);
  if (vf) args.push('-vf', vf);
  const modern = release !== null && (release.major > 5 || (release.major === 5 && release.minor >= 1));
  // Pass frames through as they come: the raw muxers would otherwise default to constant frame
  // rate and re-duplicate the frames the cap dropped. JPEG: the mjpeg encoder fails on a frame
  // whose timestamp equals the previous one ("Invalid pts (0) <= last (0)", exit 1), which an
  // uncapped MJPEG camera gives every few frames (arrival times, stamped in 1/25 s): `vfr` drops
  // such a frame instead, and never duplicates either.
  args.push(modern ? '-fps_mode' : '-vsync', output.format === 'jpeg' ? 'vfr' : 'passthrough');
  if (output.format === 'jpeg') {
    args.push('-c:v', 'mjpeg', '-q:v', String(jpegQscale(output.jpegQuality ?? 80)), '-f', 'image2pipe');
  } else {
    args.push('-pix_fmt', output.format === 'gray' ? 'gray' : 'rgb24', '-f', 'rawvideo');
  }
  // One write() per frame instead of one per 32 KiB avio buffer: fewer wake-ups of both
  // processes (measured: ~20-30 % more frames/s through the pipe at 640x480 rgb24).
  args.push('-avioflags', 'direct', 'pipe:1');
  return args;
}

/**
 * Splits an "extra arguments" string into an array like a shell would split words (spaces,
 * single and double quotes, backslash escapes) — without running a shell.
 */
export function splitArgs(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (quote) throw new SyntaxError(`unterminated ${quote} quote in "${s}"`);
  if (has) out.push(cur);
  return out;
}
