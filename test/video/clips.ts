/** Test clips generated with the discovered (bundled) ffmpeg into a temp dir. */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { findFfmpeg } from '../../src/ffmpeg';

export const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'emotionnet-video-test-'));

/** `ffmpeg -f lavfi -i testsrc… -c:v libx264` → an H.264 MP4 of exactly seconds*fps frames. */
export async function makeClip(name: string, { seconds = 2, fps = 25, size = '320x240' } = {}): Promise<string> {
  const file = path.join(tmpDir, name);
  if (fs.existsSync(file)) return file;
  const ff = await findFfmpeg();
  await new Promise<void>((resolve, reject) =>
    execFile(
      ff.path,
      ['-hide_banner', '-nostdin', '-y', '-f', 'lavfi', '-i', `testsrc=size=${size}:rate=${fps}:duration=${seconds}`,
        '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', file],
      (err, _o, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve()),
    ),
  );
  return file;
}

export function cleanup(): void {
  fs.rmSync(tmpDir, { recursive: true, force: true });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves when `cond()` is true (polls every 20 ms) or rejects after `ms`. */
export async function waitFor(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}
