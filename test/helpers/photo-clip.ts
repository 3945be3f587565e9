/** A short H.264 clip of one demo photo (several faces), for example flows run on real video. */
import { execFile } from 'child_process';
import * as path from 'path';
import { findFfmpeg } from '../../src/ffmpeg';

/** Writes `name` in `dir`: `seconds` of `photo` at 10 fps, 640 px wide; resolves to its path. */
export async function photoClip(photo: string, dir: string, seconds: number, name = 'faces.mp4'): Promise<string> {
  const clip = path.join(dir, name);
  const ff = await findFfmpeg();
  const args = ['-hide_banner', '-nostdin', '-y', '-loop', '1', '-i', photo, '-t', String(seconds), '-r', '10', '-vf', 'scale=640:-2', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', clip];
  await new Promise<void>((resolve, reject) => execFile(ff.path, args, (e, _o, err) => (e ? reject(new Error(`${e.message}\n${err}`)) : resolve())));
  return clip;
}
