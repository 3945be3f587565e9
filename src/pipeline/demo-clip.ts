/**
 * Builds the embedded default video: a 640x480 clip of slow pans and zooms over the six demo
 * photos that ship inside `@vladmandic/face-api` (MIT licence, demo/sample1..6.jpg), with 3 to
 * 4 faces in view at any time. Generated once with ffmpeg into `.cache/demo/default.mp4`
 * (git-ignored), which the video source's `default` input prefers. No image is committed.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { findFfmpeg } from '../ffmpeg';
import { DEFAULT_SAMPLE_FILE } from '../video/default-sample';
import { Logger, silentLogger } from '../log';

/**
 * One shot per photo: a 4:3 region (source pixels) that holds the faces, then a zoom to `zoom`
 * towards the focus point (fractions of the region). Regions were chosen from BlazeFace
 * detections on the photos so that every shot shows 3–4 faces of about 70–140 px.
 */
interface Shot {
  photo: number;
  x: number;
  y: number;
  w: number;
  zoom: number;
  fx: number;
  fy: number;
}

export const DEMO_SHOTS: readonly Shot[] = [
  { photo: 3, x: 400, y: 100, w: 1400, zoom: 1.3, fx: 0.5, fy: 0.3 },
  { photo: 1, x: 250, y: 60, w: 1600, zoom: 1.5, fx: 0.82, fy: 0.23 },
  { photo: 4, x: 150, y: 20, w: 1400, zoom: 1.2, fx: 0.5, fy: 0.25 },
  { photo: 6, x: 150, y: 150, w: 1650, zoom: 1.2, fx: 0.5, fy: 0.35 },
  { photo: 2, x: 200, y: 50, w: 1600, zoom: 1.2, fx: 0.5, fy: 0.25 },
  { photo: 5, x: 520, y: 100, w: 1200, zoom: 1.2, fx: 0.5, fy: 0.35 },
];

export interface DemoClipOptions {
  /** Output file. @default `<package>/.cache/demo/default.mp4` */
  file?: string;
  /** Seconds per photo. @default 8 */
  secondsPerShot?: number;
  /** @default 25 */
  fps?: number;
  /** Regenerate even if the file exists. @default false */
  force?: boolean;
  /** ffmpeg binary (else discovered like the video source does). */
  ffmpegPath?: string;
  logger?: Logger;
}

/** Directory of the demo photos (throws with a clear message if the package is missing). */
export function demoPhotoDir(): string {
  let pkg: string;
  try {
    pkg = path.dirname(require.resolve('@vladmandic/face-api/package.json'));
  } catch {
    throw new Error(
      'the demo photos come from the npm package @vladmandic/face-api (MIT; a devDependency): in a clone of the ' +
        'repository run `npm install`; where the package is installed (e.g. ~/.node-red) run ' +
        '`npm install --no-save @vladmandic/face-api` there first (README, "Demo clip")',
    );
  }
  return path.join(pkg, 'demo');
}

/** The ffmpeg arguments that render the clip (exposed for tests). */
export function demoClipArgs(photoDir: string, out: string, secondsPerShot = 8, fps = 25): string[] {
  const frames = Math.round(secondsPerShot * fps);
  const args: string[] = ['-y', '-hide_banner', '-loglevel', 'error'];
  for (const s of DEMO_SHOTS) args.push('-i', path.join(photoDir, `sample${s.photo}.jpg`));
  const parts = DEMO_SHOTS.map((s, i) => {
    const h = Math.round((s.w * 3) / 4);
    // Zoom and focus ramp linearly over the shot (`on` = output frame number).
    const k = `(on/${frames})`;
    const z = `1+${(s.zoom - 1).toFixed(3)}*${k}`;
    const cx = `(0.5+${(s.fx - 0.5).toFixed(3)}*${k})*iw`;
    const cy = `(0.5+${(s.fy - 0.5).toFixed(3)}*${k})*ih`;
    return (
      `[${i}:v]crop=${s.w}:${h}:${s.x}:${s.y},scale=1280:960,` +
      `zoompan=z='${z}':x='max(0,min(iw-iw/zoom,${cx}-iw/zoom/2))':y='max(0,min(ih-ih/zoom,${cy}-ih/zoom/2))':` +
      `d=${frames}:s=640x480:fps=${fps},setsar=1,format=yuv420p[v${i}]`
    );
  });
  const concat = `${DEMO_SHOTS.map((_, i) => `[v${i}]`).join('')}concat=n=${DEMO_SHOTS.length}:v=1:a=0[out]`;
  args.push('-filter_complex', [...parts, concat].join(';'), '-map', '[out]');
  args.push('-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', '-g', String(fps), '-pix_fmt', 'yuv420p', '-movflags', '+faststart', out);
  return args;
}

/**
 * Returns the path of the demo clip, rendering it first if it does not exist (about 10–30 s
 * of one core). The file is written under a temporary name and renamed, so a crash never
 * leaves a half-written clip behind.
 *
 * @example
 * ```ts
 * const file = await ensureDemoClip(); // .cache/demo/default.mp4
 * ```
 */
export async function ensureDemoClip(options: DemoClipOptions = {}): Promise<string> {
  const file = options.file ?? DEFAULT_SAMPLE_FILE;
  const log = options.logger ?? silentLogger;
  if (!options.force && fs.existsSync(file) && fs.statSync(file).size > 0) return file;
  const photos = demoPhotoDir();
  const ff = await findFfmpeg({ path: options.ffmpegPath, logger: log });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp.mp4`;
  log.info(`rendering the demo clip from @vladmandic/face-api's demo photos (MIT) into ${file} …`);
  const t0 = Date.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(ff.path, demoClipArgs(photos, tmp, options.secondsPerShot ?? 8, options.fps ?? 25), { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg failed to render the demo clip (exit ${code}): ${err.trim()}`))));
  }).catch((e) => {
    fs.rmSync(tmp, { force: true });
    throw e;
  });
  fs.renameSync(tmp, file);
  log.info(`demo clip ready (${(fs.statSync(file).size / 1e6).toFixed(1)} MB, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  return file;
}
