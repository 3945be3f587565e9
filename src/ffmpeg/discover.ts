/**
 * Finds an ffmpeg binary that actually runs on this machine, and says which one and why.
 *
 * Order (first that exists, is executable and answers `-version` wins):
 * 1. the configured path (node config / option), then the `EMOTIONNET_FFMPEG` environment variable;
 * 2. `ffmpeg-static` (optional dependency: its install script downloads from GitHub and often
 *    fails, leaving the module without a binary);
 * 3. `@ffmpeg-installer/ffmpeg` (binaries shipped inside npm packages for x64, arm, arm64);
 * 4. `ffmpeg` on `PATH` (e.g. Debian's `apt-get install ffmpeg`, which has hardware decoders
 *    on Raspberry Pi OS and Jetson that the static builds lack).
 *
 * Probing runs `ffmpeg -version` once per candidate (asynchronously, 10 s timeout), which also
 * catches a binary for the wrong CPU ("Exec format error"). Results are cached per configured path.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Logger, silentLogger } from '../log';

export type FfmpegOrigin = 'config' | 'env' | 'ffmpeg-static' | '@ffmpeg-installer' | 'system';

export interface FfmpegInfo {
  /** Absolute path of the binary. */
  path: string;
  /** Where it came from. */
  origin: FfmpegOrigin;
  /** The version string from `ffmpeg -version` (e.g. `6.1.1`, `N-47683-g0e8eb07980-static`). */
  version: string;
  /** Numeric major.minor when the version is a release number, else null (git builds). */
  release: { major: number; minor: number } | null;
  /** Why this one was picked, including why earlier candidates were skipped. */
  reason: string;
}

export interface FindFfmpegOptions {
  /** A path configured by the user; tried first. */
  path?: string;
  logger?: Logger;
  /** Ignore the cache and probe again. @default false */
  refresh?: boolean;
}

/** Platforms for which @ffmpeg-installer/ffmpeg has a binary package (its optionalDependencies). */
const INSTALLER_PLATFORMS = ['darwin-arm64', 'darwin-x64', 'linux-arm', 'linux-arm64', 'linux-ia32', 'linux-x64', 'win32-ia32', 'win32-x64'];

/** The package that holds @ffmpeg-installer's binary for this machine (`@ffmpeg-installer/linux-x64`), or null if it has none. */
function installerPlatformPackage(): string | null {
  const platform = `${process.platform}-${process.arch}`;
  return INSTALLER_PLATFORMS.includes(platform) ? `@ffmpeg-installer/${platform}` : null;
}

export class FfmpegNotFoundError extends Error {
  readonly code = 'FFMPEG_NOT_FOUND';
  constructor(readonly tried: string[]) {
    super(
      `no working ffmpeg found (${tried.join('; ')}). Install one: \`apt-get install ffmpeg\`, ` +
        (installerPlatformPackage()
          ? `or \`npm install ${installerPlatformPackage()}\` (the bundled ffmpeg's binary, an optional dependency), `
          : '') +
        'or set the ffmpeg path in the node or EMOTIONNET_FFMPEG',
    );
    this.name = 'FfmpegNotFoundError';
  }
}

interface Candidate {
  origin: FfmpegOrigin;
  /** Resolves the binary path, or returns a reason it is unavailable. */
  resolve(): { path: string } | { skip: string };
}

const cache = new Map<string, Promise<FfmpegInfo>>();

function firstLine(e: unknown): string {
  const s = e instanceof Error ? e.message : String(e);
  return s.split('\n')[0].slice(0, 160);
}

function candidates(configured: string | undefined): Candidate[] {
  const list: Candidate[] = [];
  if (configured) list.push({ origin: 'config', resolve: () => ({ path: configured }) });
  const env = process.env.EMOTIONNET_FFMPEG;
  if (env) list.push({ origin: 'env', resolve: () => ({ path: env }) });
  list.push({
    origin: 'ffmpeg-static',
    resolve: () => {
      try {
        const p = require('ffmpeg-static') as string | null;
        return p ? { path: p } : { skip: 'ffmpeg-static has no binary for this platform' };
      } catch (e) {
        return { skip: `ffmpeg-static not installed (${firstLine(e)})` };
      }
    },
  });
  list.push({
    origin: '@ffmpeg-installer',
    resolve: () => {
      try {
        const m = require('@ffmpeg-installer/ffmpeg') as { path: string };
        return { path: m.path };
      } catch (e) {
        // Its binary is in a per-platform package, an optional dependency that --omit=optional
        // (or a failed install) leaves out: then it throws a string listing three long paths.
        if (/^Could not find ffmpeg executable/.test(String(e)) && installerPlatformPackage()) {
          return { skip: `@ffmpeg-installer/ffmpeg has no binary (${installerPlatformPackage()} is not installed)` };
        }
        return { skip: `@ffmpeg-installer/ffmpeg not usable (${firstLine(e)})` };
      }
    },
  });
  list.push({
    origin: 'system',
    resolve: () => {
      const names = process.platform === 'win32' ? ['ffmpeg.exe'] : ['ffmpeg'];
      for (const dir of (process.env.PATH || '').split(path.delimiter)) {
        if (!dir) continue;
        for (const n of names) {
          const p = path.join(dir, n);
          if (isExecutable(p)) return { path: p };
        }
      }
      return { skip: 'no ffmpeg on PATH' };
    },
  });
  return list;
}

function isExecutable(p: string): boolean {
  try {
    const st = fs.statSync(p);
    if (!st.isFile()) return false;
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Runs `<bin> -version` and returns the version token, or throws with the reason. */
export function probeFfmpeg(bin: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    // SIGKILL: execFile waits for the exit, and a binary that ignores SIGTERM (a wrapper script,
    // a hung mount) left the probe, every start of every source using this path, pending forever.
    execFile(bin, ['-hide_banner', '-version'], { timeout: timeoutMs, killSignal: 'SIGKILL', windowsHide: true }, (err, stdout) => {
      if (err) return reject(err);
      const m = /ffmpeg version (\S+)/.exec(String(stdout));
      if (!m) return reject(new Error('not an ffmpeg binary (no "ffmpeg version" in its output)'));
      resolve(m[1]);
    });
  });
}

/** Parses `6.1.1`, `n7.0`, `4.4.2-0ubuntu1` → {major, minor}; git builds (`N-47683-…`) → null. */
export function parseRelease(version: string): { major: number; minor: number } | null {
  const m = /^n?(\d+)\.(\d+)/.exec(version);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : null;
}

async function discover(configured: string | undefined, logger: Logger): Promise<FfmpegInfo> {
  const skipped: string[] = [];
  for (const c of candidates(configured)) {
    const r = c.resolve();
    if ('skip' in r) {
      skipped.push(r.skip);
      continue;
    }
    if (!isExecutable(r.path)) {
      skipped.push(`${c.origin}: ${r.path} does not exist or is not executable`);
      continue;
    }
    try {
      const version = await probeFfmpeg(r.path);
      const reason = skipped.length ? `${c.origin} (${skipped.join('; ')})` : c.origin;
      const info: FfmpegInfo = { path: r.path, origin: c.origin, version, release: parseRelease(version), reason };
      if (configured && c.origin !== 'config') logger.warn(`configured ffmpeg not usable; using ${r.path}: ${reason}`);
      logger.info(`ffmpeg ${version} from ${c.origin}: ${r.path}${skipped.length ? ` (skipped: ${skipped.join('; ')})` : ''}`);
      return info;
    } catch (e) {
      skipped.push(`${c.origin}: ${r.path} does not run (${firstLine(e)})`);
    }
  }
  throw new FfmpegNotFoundError(skipped);
}

/**
 * Finds a working ffmpeg (see the module comment for the order) and caches the answer.
 *
 * @example
 * ```ts
 * const ff = await findFfmpeg({ logger: consoleLogger() });
 * console.log(ff.path, ff.origin, ff.version);
 * ```
 * @throws {@link FfmpegNotFoundError} listing every candidate and why it was skipped.
 */
export function findFfmpeg({ path: configured, logger = silentLogger, refresh = false }: FindFfmpegOptions = {}): Promise<FfmpegInfo> {
  const key = `${configured || ''}|${process.env.EMOTIONNET_FFMPEG || ''}`;
  let p = refresh ? undefined : cache.get(key);
  if (!p) {
    p = discover(configured || undefined, logger);
    cache.set(key, p);
    // A failure is not cached: the user may install ffmpeg and press "start" again.
    p.catch(() => cache.delete(key));
  }
  return p;
}
