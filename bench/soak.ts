#!/usr/bin/env node
/**
 * Redeploy soak: runs the demo flow (examples/01 on the default video) in embedded Node-RED and
 * redeploys it N times through the admin API (full deployment: every node closed and recreated,
 * ffmpeg killed and respawned, models disposed and reloaded). Reports ffmpeg processes left
 * behind, tf.memory().numTensors and RSS after each redeploy.
 *
 *   npm run soak                 # 50 redeploys
 *   npm run soak -- --redeploys 10 --json
 *   npm run soak -- --threads 2     # the face node detecting in 2 worker threads
 *   npm run soak -- --threads 1 --classify-threads 1   # and the classifier in 1
 *   npm run soak -- --minutes 60    # no redeploys: one deployment running for an hour, sampled every 30 s
 *
 * `--help` prints the usage; an unknown option or a bad value is an error (exit code 2) before
 * anything runs. Used by test/integration/redeploy.test.ts with fewer redeploys.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CliSpec, parseCli, UsageError } from '../src/cli/args';
import { toMB } from './harness';

/** The command line of `npm run soak` (every `--name` of `usage` is an accepted option). */
export const SOAK_CLI: CliSpec = {
  usage: 'Usage: npm run soak -- [--redeploys 50 | --minutes <m> [--every 30]] [--model <name|path>] [--threads 0] [--classify-threads 0] [--json]\n',
  notes:
    'Runs the demo flow (examples/01) in embedded Node-RED and redeploys it --redeploys times (full deployments), then reports\n' +
    "ffmpeg processes left behind, tf.memory().numTensors, the process's OS threads and RSS; --model replaces the flow's classifier\n" +
    "model; --threads sets the face node's detector worker threads, --classify-threads the classify node's; --json: every sample.\n" +
    '--minutes runs one deployment for that long instead (no redeploys), sampling every --every seconds: frames/s reaching the\n' +
    "preview, RSS, V8 heap, tensors, ffmpeg processes and OS threads, and RSS's growth per hour over the second half.\n",
};

/** The package root, from bench/ (tsx) or dist/bench/ (compiled). */
export const ROOT = fs.existsSync(path.join(__dirname, '..', 'package.json')) ? path.resolve(__dirname, '..') : path.resolve(__dirname, '..', '..');

export interface SoakSample {
  redeploy: number;
  ffmpeg: number;
  numTensors: number;
  /** OS threads of this process (/proc/self/task): worker threads not stopped on close would add up. */
  osThreads: number;
  rssMB: number;
  framesFlowing: boolean;
}

export interface SoakResult {
  redeploys: number;
  samples: SoakSample[];
  /** ffmpeg children of this process after the flows were stopped at the end. */
  ffmpegAfterStop: number;
  numTensorsFirst: number;
  numTensorsLast: number;
  rssFirstMB: number;
  rssLastMB: number;
  rssGrowthMB: number;
  osThreadsFirst: number;
  osThreadsLast: number;
  /** The face node's detector worker threads. */
  threads: number;
  /** The classify node's worker threads. */
  classifyThreads: number;
  model: string;
  seconds: number;
}

/** Child processes of this process whose executable name contains "ffmpeg" (Linux /proc). */
export function ffmpegChildren(pid = process.pid): number {
  let n = 0;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
      if (m && Number(m[2]) === pid && m[1].includes('ffmpeg')) n++;
    } catch {
      /* exited meanwhile */
    }
  }
  return n;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Tensors alive in this thread. With every model in worker threads, this thread never loads a
 * TensorFlow.js backend, and tf.memory() then throws "No backend found": it holds no tensor.
 */
export function tensorsHere(tf: { memory(): { numTensors: number } }): number {
  try {
    return tf.memory().numTensors;
  } catch (e) {
    if (e instanceof Error && /No backend found/.test(e.message)) return 0;
    throw e;
  }
}

/** RSS (whole MB) and V8 heap in use (MB, one decimal), in the benchmarks' MB (2^20 bytes, bench/harness.ts). */
export function memoryMB(mem: Pick<NodeJS.MemoryUsage, 'rss' | 'heapUsed'>): { rssMB: number; heapMB: number } {
  return { rssMB: Math.round(toMB(mem.rss)), heapMB: Math.round(toMB(mem.heapUsed) * 10) / 10 };
}

/** OS threads of this process (Linux /proc). */
export function osThreads(): number {
  return fs.readdirSync('/proc/self/task').length;
}

interface SoakOptions {
  model?: string;
  threads?: number;
  classifyThreads?: number;
  log?: (s: string) => void;
}

/** The demo flow running in embedded Node-RED, with a count of the frames reaching its preview node. */
async function startSoakFlow(options: SoakOptions) {
  const threads = options.threads ?? 0;
  const classifyThreads = options.classifyThreads ?? 0;
  const demo = require(path.join(ROOT, 'scripts', 'demo.js'));
  const tf = require('@tensorflow/tfjs-core');
  const base = demo.demoFlow({ mqtt: null }) as Array<Record<string, unknown>>;
  const model = options.model ?? String(base.find((n) => n.type === 'emotionnet-classify')?.model ?? 'nano-a');
  const flow = base.map((n) =>
    n.type === 'emotionnet-classify'
      ? { ...n, ...(model !== n.model ? { model: 'custom', modelPath: model } : {}), threads: classifyThreads }
      : n.type === 'debug'
        ? { ...n, console: false }
        : n.type === 'emotionnet-face'
          ? { ...n, threads }
          : n,
  );
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'emotionnet-soak-'));
  const d = await demo.startDemo({ port: 0, host: '127.0.0.1', userDir, flow, logLevel: 'warn' });
  let frames = 0;
  // Count messages reaching the preview node (frames really flow through the whole chain).
  d.RED.hooks.add('onReceive.soak', (ev: { destination: { node: { type: string } } }) => {
    if (ev.destination?.node?.type === 'emotionnet-preview') frames++;
  });
  const deploy = async () => {
    const res = await fetch(`${d.url}flows`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full', 'Node-RED-API-Version': 'v1' },
      body: JSON.stringify(flow),
    });
    if (!res.ok) throw new Error(`deploy failed: HTTP ${res.status} ${await res.text()}`);
  };
  const waitFrames = async (ms: number) => {
    const start = frames;
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (frames - start >= 3) return true;
      await sleep(100);
    }
    return false;
  };
  const stop = async () => {
    d.RED.hooks.remove('onReceive.soak');
    await d.stop();
  };
  return { threads, classifyThreads, model, tensors: () => tensorsHere(tf), frames: () => frames, deploy, waitFrames, stop };
}

export async function runSoak(options: SoakOptions & { redeploys: number }): Promise<SoakResult> {
  const log = options.log ?? (() => undefined);
  const t0 = Date.now();
  const run = await startSoakFlow(options);
  const samples: SoakSample[] = [];
  try {
    await run.waitFrames(30_000);
    for (let i = 1; i <= options.redeploys; i++) {
      await run.deploy();
      const flowing = await run.waitFrames(20_000);
      (global as { gc?: () => void }).gc?.();
      const s: SoakSample = {
        redeploy: i,
        ffmpeg: ffmpegChildren(),
        numTensors: run.tensors(),
        osThreads: osThreads(),
        rssMB: memoryMB(process.memoryUsage()).rssMB,
        framesFlowing: flowing,
      };
      samples.push(s);
      log(`redeploy ${i}/${options.redeploys}: ffmpeg ${s.ffmpeg}, tensors ${s.numTensors}, threads ${s.osThreads}, rss ${s.rssMB} MB${flowing ? '' : ', NO FRAMES'}`);
    }
  } finally {
    await run.stop();
  }
  await sleep(500);
  const first = samples[Math.min(2, samples.length - 1)];
  const last = samples[samples.length - 1];
  return {
    redeploys: options.redeploys,
    samples,
    ffmpegAfterStop: ffmpegChildren(),
    numTensorsFirst: first.numTensors,
    numTensorsLast: last.numTensors,
    rssFirstMB: first.rssMB,
    rssLastMB: last.rssMB,
    rssGrowthMB: last.rssMB - first.rssMB,
    osThreadsFirst: first.osThreads,
    osThreadsLast: last.osThreads,
    threads: run.threads,
    classifyThreads: run.classifyThreads,
    model: run.model,
    seconds: Math.round((Date.now() - t0) / 1000),
  };
}

export interface EnduranceSample {
  /** Seconds since the first frame reached the preview. */
  atSeconds: number;
  /** Frames that reached the preview node per second over the interval. */
  fps: number;
  rssMB: number;
  /** V8 heap in use in Node-RED's thread. */
  heapMB: number;
  numTensors: number;
  ffmpeg: number;
  osThreads: number;
}

export interface EnduranceResult {
  minutes: number;
  everySeconds: number;
  samples: EnduranceSample[];
  /** Lowest and median frames/s over the intervals. */
  fpsMin: number;
  fpsMedian: number;
  rssFirstMB: number;
  rssLastMB: number;
  /** Least-squares slope of RSS over the second half of the samples, in MB per hour (null under 4 samples). */
  rssSlopeSecondHalfMBPerHour: number | null;
  heapFirstMB: number;
  heapLastMB: number;
  numTensorsFirst: number;
  numTensorsLast: number;
  osThreadsFirst: number;
  osThreadsLast: number;
  /** Largest ffmpeg count seen while running (1: the demo's one source). */
  ffmpegMax: number;
  ffmpegAfterStop: number;
  threads: number;
  classifyThreads: number;
  model: string;
}

/** Least-squares slope of y over x (null for fewer than 2 points or no spread in x). */
export function slope(points: Array<[number, number]>): number | null {
  const n = points.length;
  if (n < 2) return null;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const [x, y] of points) {
    sxx += (x - mx) ** 2;
    sxy += (x - mx) * (y - my);
  }
  return sxx > 0 ? sxy / sxx : null;
}

/** RSS's least-squares growth (MB per hour, one decimal) over the second half of the samples; null with fewer than 4. */
export function rssSlopePerHour(samples: Array<{ atSeconds: number; rssMB: number }>): number | null {
  if (samples.length < 4) return null;
  const perSecond = slope(samples.slice(Math.floor(samples.length / 2)).map((x) => [x.atSeconds, x.rssMB]));
  return perSecond === null ? null : Math.round(perSecond * 3600 * 10) / 10;
}

/**
 * One deployment of the demo flow running for `minutes`, sampled every `everySeconds`: a leak
 * that redeploys do not show (a queue, a cache, a tensor per frame) grows here. The garbage
 * collector runs before each sample when `--expose-gc` is on (npm run soak sets it).
 */
export async function runEndurance(options: SoakOptions & { minutes: number; everySeconds?: number }): Promise<EnduranceResult> {
  const log = options.log ?? (() => undefined);
  const every = options.everySeconds ?? 30;
  const run = await startSoakFlow(options);
  const samples: EnduranceSample[] = [];
  try {
    if (!(await run.waitFrames(30_000))) throw new Error('no frames reached the preview within 30 s');
    const t0 = Date.now();
    const end = t0 + options.minutes * 60_000;
    let lastFrames = run.frames();
    let lastAt = t0;
    // Samples fall due at t0 + k x every (the time a sample takes does not push the next ones
    // later), the last one at the end.
    for (let k = 1, due = 0; due < end; k++) {
      due = Math.min(t0 + k * every * 1000, end);
      await sleep(Math.max(0, due - Date.now()));
      const now = Date.now();
      const frames = run.frames();
      (global as { gc?: () => void }).gc?.();
      const s: EnduranceSample = {
        atSeconds: Math.round((now - t0) / 1000),
        fps: Math.round(((frames - lastFrames) / Math.max(1, now - lastAt)) * 10_000) / 10,
        ...memoryMB(process.memoryUsage()),
        numTensors: run.tensors(),
        ffmpeg: ffmpegChildren(),
        osThreads: osThreads(),
      };
      lastFrames = frames;
      lastAt = now;
      samples.push(s);
      log(`${s.atSeconds} s: ${s.fps} fps, rss ${s.rssMB} MB, heap ${s.heapMB} MB, tensors ${s.numTensors}, ffmpeg ${s.ffmpeg}, threads ${s.osThreads}`);
    }
  } finally {
    await run.stop();
  }
  await sleep(500);
  if (samples.length === 0) throw new Error('no sample taken: --minutes is shorter than one interval');
  const first = samples[0];
  const last = samples[samples.length - 1];
  const fps = samples.map((x) => x.fps).sort((a, b) => a - b);
  return {
    minutes: options.minutes,
    everySeconds: every,
    samples,
    fpsMin: fps[0],
    fpsMedian: fps[Math.floor(fps.length / 2)],
    rssFirstMB: first.rssMB,
    rssLastMB: last.rssMB,
    rssSlopeSecondHalfMBPerHour: rssSlopePerHour(samples),
    heapFirstMB: first.heapMB,
    heapLastMB: last.heapMB,
    numTensorsFirst: first.numTensors,
    numTensorsLast: last.numTensors,
    osThreadsFirst: first.osThreads,
    osThreadsLast: last.osThreads,
    ffmpegMax: Math.max(...samples.map((x) => x.ffmpeg)),
    ffmpegAfterStop: ffmpegChildren(),
    threads: run.threads,
    classifyThreads: run.classifyThreads,
    model: run.model,
  };
}

export interface SoakArgs {
  redeploys: number;
  /** Set: one deployment for this long, no redeploys. */
  minutes?: number;
  everySeconds: number;
  model?: string;
  threads: number;
  classifyThreads: number;
  json: boolean;
}

/** The soak options of a command line (null after --help); a UsageError for unknown options or bad values. */
export function soakArgs(argv: string[]): SoakArgs | null {
  const args = parseCli(argv, SOAK_CLI);
  if (!args) return null;
  const shown = (v: unknown) => (v === true ? 'no value' : `"${String(v)}"`);
  const raw = args.redeploys;
  const redeploys = raw === undefined ? 50 : raw === true ? NaN : Number(raw);
  if (!Number.isInteger(redeploys) || redeploys < 1) throw new UsageError(`--redeploys must be a whole number >= 1 (got ${shown(raw)})`);
  let minutes: number | undefined;
  if (args.minutes !== undefined) {
    if (raw !== undefined) throw new UsageError('--minutes runs one deployment without redeploys: give --redeploys or --minutes, not both');
    minutes = args.minutes === true ? NaN : Number(args.minutes);
    if (!(minutes > 0 && minutes <= 7 * 24 * 60)) throw new UsageError(`--minutes must be a number > 0 (at most a week; got ${shown(args.minutes)})`);
  }
  const everySeconds = args.every === undefined ? 30 : args.every === true ? NaN : Number(args.every);
  if (!(everySeconds >= 1 && everySeconds <= 3600)) throw new UsageError(`--every must be a number of seconds in 1..3600 (got ${shown(args.every)})`);
  if (args.every !== undefined && minutes === undefined) throw new UsageError('--every only applies with --minutes');
  if (args.model === true) throw new UsageError('--model needs a model name or path');
  const count = (k: string) => {
    const rawThreads = args[k];
    const v = rawThreads === undefined ? 0 : rawThreads === true ? NaN : Number(rawThreads);
    if (!Number.isInteger(v) || v < 0 || v > 8) throw new UsageError(`--${k} must be a whole number in 0..8 (got ${shown(rawThreads)})`);
    return v;
  };
  return {
    redeploys,
    ...(minutes !== undefined ? { minutes } : {}),
    everySeconds,
    model: args.model === undefined ? undefined : String(args.model),
    threads: count('threads'),
    classifyThreads: count('classify-threads'),
    json: Boolean(args.json),
  };
}

if (require.main === module) {
  let opts: ReturnType<typeof soakArgs>;
  try {
    opts = soakArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`soak: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  }
  if (opts) {
    const { redeploys, minutes, everySeconds, model, threads, classifyThreads, json } = opts;
    const log = json ? undefined : (line: string) => console.error(line);
    const job: Promise<{ samples: unknown[] }> =
      minutes !== undefined ? runEndurance({ minutes, everySeconds, model, threads, classifyThreads, log }) : runSoak({ redeploys, model, threads, classifyThreads, log });
    job.then(
      (r) => {
        if (json) console.log(JSON.stringify(r, null, 2));
        else {
          const { samples, ...summary } = r;
          void samples;
          console.log(JSON.stringify(summary, null, 2));
        }
        process.exit(0);
      },
      (e) => {
        console.error(e);
        process.exit(1);
      },
    );
  }
}
