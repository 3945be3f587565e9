/**
 * `decode`: how fast a 640x480 H.264 clip becomes raw rgb24 frames in our process through
 * VideoSource (ffmpeg child → stdout pipe → byte-exact frame splitting → Frame objects), as fast
 * as possible (`pacing: 'fast'`, no fps cap, no scaling).
 *
 * cpuMsPerFrame = (ffmpeg's own user+system CPU, from `-benchmark`) + (this process's CPU while
 * decoding, from process.cpuUsage()), divided by the frame count. Measured for ffmpeg's default
 * threading (what the node uses) and for `-threads 1` (one core: the figure for a busy Pi), and
 * next to it the same decode by ffmpeg alone into the null muxer (`ffmpegAlone`): on a shared
 * machine that is the ceiling at this moment, which separates our overhead from the load.
 */
import { execFile } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import { findFfmpeg } from '../../src/ffmpeg';
import { createVideoSource, EofEvent } from '../../src/video';
import { BenchContext, BenchStage, median, round } from '../harness';

async function makeClip(ctx: BenchContext, seconds: number): Promise<string> {
  const ff = await findFfmpeg();
  const file = path.join(ctx.workDir, `decode-640x480-${seconds}s.mp4`);
  await new Promise<void>((resolve, reject) =>
    execFile(
      ff.path,
      ['-hide_banner', '-nostdin', '-y', '-f', 'lavfi', '-i', `testsrc2=size=640x480:rate=25:duration=${seconds}`,
        '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-pix_fmt', 'yuv420p', '-g', '50', file],
      (err, _o, stderr) => (err ? reject(new Error(`clip generation failed: ${err.message}\n${stderr}`)) : resolve()),
    ),
  );
  return file;
}

interface RunResult {
  frames: number;
  wallMs: number;
  ffmpegCpuMs: number;
  nodeCpuMs: number;
}

async function decodeOnce(clip: string, threads: number): Promise<RunResult> {
  const src = createVideoSource({ source: clip, pacing: 'fast', format: 'rgb24', threads, benchmark: true, maxRestarts: 0 });
  let frames = 0;
  let bytes = 0;
  src.frames$.subscribe((f) => {
    frames++;
    bytes += f.data.length; // touch the frame like a consumer would
  });
  const eof = new Promise<EofEvent>((resolve, reject) => {
    src.eof$.subscribe(resolve);
    src.status$.subscribe((s) => s.state === 'failed' && reject(s.error));
  });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await src.start();
  const ev = await eof;
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await src.dispose();
  if (bytes !== frames * 640 * 480 * 3) throw new Error(`frame size mismatch: ${bytes} bytes for ${frames} frames`);
  return { frames, wallMs, ffmpegCpuMs: ev.ffmpegCpuMs ?? NaN, nodeCpuMs: (cpu.user + cpu.system) / 1000 };
}

/**
 * The same decode by ffmpeg alone (rgb24 into the null muxer, no pipe, no Node): the ceiling on
 * this machine at this moment, to separate our overhead from the machine's load. Its frames/s
 * is timed like {@link decodeOnce}'s, from the spawn to the exit: ffmpeg's own `rtime` starts
 * after it has opened and probed the input, which the full path's time includes.
 */
export async function ffmpegAlone(clip: string, frames: number): Promise<{ fps: number; cpuMsPerFrame: number }> {
  const ff = await findFfmpeg();
  const t0 = performance.now();
  const stderr = await new Promise<string>((resolve, reject) =>
    execFile(
      ff.path,
      ['-hide_banner', '-nostdin', '-nostats', '-benchmark', '-i', clip, '-map', '0:v:0', '-c:v', 'rawvideo', '-pix_fmt', 'rgb24', '-f', 'null', '-'],
      (err, _o, se) => (err ? reject(new Error(se)) : resolve(se)),
    ),
  );
  const wallMs = performance.now() - t0;
  const m = /bench: utime=([\d.]+)s(?: stime=([\d.]+)s)? rtime=([\d.]+)s/.exec(stderr);
  if (!m) throw new Error('no -benchmark line from ffmpeg');
  return { fps: round((frames * 1000) / wallMs, 1), cpuMsPerFrame: round(((+m[1] + (m[2] ? +m[2] : 0)) * 1000) / frames, 3) };
}

function summarise(runs: RunResult[]) {
  const fps = median(runs.map((r) => (r.frames * 1000) / r.wallMs));
  const ff = median(runs.map((r) => r.ffmpegCpuMs / r.frames));
  const nodeMs = median(runs.map((r) => r.nodeCpuMs / r.frames));
  return { fps: round(fps, 1), cpuMsPerFrame: round(ff + nodeMs, 3), ffmpegCpuMsPerFrame: round(ff, 3), nodeCpuMsPerFrame: round(nodeMs, 3) };
}

export const stage: BenchStage = {
  name: 'decode',
  title: '640x480 H.264 → raw rgb24 frames through VideoSource',
  async run(ctx) {
    const seconds = ctx.quick ? 4 : 20;
    const reps = ctx.quick ? 1 : 3;
    ctx.progress(`[decode] generating a ${seconds} s 640x480 H.264 clip…`);
    const clip = await makeClip(ctx, seconds);
    const ff = await findFfmpeg();
    const auto: RunResult[] = [];
    const one: RunResult[] = [];
    const alone: Array<{ fps: number; cpuMsPerFrame: number }> = [];
    for (let i = 0; i < reps; i++) {
      ctx.progress(`[decode] run ${i + 1}/${reps} (ffmpeg threads: auto)…`);
      auto.push(await decodeOnce(clip, 0));
      ctx.progress(`[decode] run ${i + 1}/${reps} (ffmpeg -threads 1)…`);
      one.push(await decodeOnce(clip, 1));
      ctx.progress(`[decode] run ${i + 1}/${reps} (ffmpeg alone, no pipe)…`);
      alone.push(await ffmpegAlone(clip, auto[0].frames));
    }
    const a = summarise(auto);
    return {
      fps: a.fps,
      cpuMsPerFrame: a.cpuMsPerFrame,
      ffmpegCpuMsPerFrame: a.ffmpegCpuMsPerFrame,
      nodeCpuMsPerFrame: a.nodeCpuMsPerFrame,
      threads1: summarise(one),
      ffmpegAlone: { fps: median(alone.map((x) => x.fps)), cpuMsPerFrame: median(alone.map((x) => x.cpuMsPerFrame)) },
      frames: auto[0].frames,
      target: '>= 300 fps',
      met: a.fps >= 300,
      ffmpeg: `${ff.version} (${ff.origin})`,
      loadAvg: os.loadavg().map((x) => round(x, 2)).join(' '),
    };
  },
};
