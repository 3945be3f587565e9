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
 *
 * `--help` prints the usage; an unknown option or a bad value is an error (exit code 2) before
 * anything runs. Used by test/integration/redeploy.test.ts with fewer redeploys.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CliSpec, parseCli, UsageError } from '../src/cli/args';

/** The command line of `npm run soak` (every `--name` of `usage` is an accepted option). */
export const SOAK_CLI: CliSpec = {
  usage: 'Usage: npm run soak -- [--redeploys 50] [--model <name|path>] [--threads 0] [--classify-threads 0] [--json]\n',
  notes:
    'Runs the demo flow (examples/01) in embedded Node-RED and redeploys it --redeploys times (full deployments), then reports\n' +
    "ffmpeg processes left behind, tf.memory().numTensors, the process's OS threads and RSS; --model replaces the flow's classifier\n" +
    "model; --threads sets the face node's detector worker threads, --classify-threads the classify node's; --json: every sample.\n",
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
function tensorsHere(tf: { memory(): { numTensors: number } }): number {
  try {
    return tf.memory().numTensors;
  } catch (e) {
    if (e instanceof Error && /No backend found/.test(e.message)) return 0;
    throw e;
  }
}

/** OS threads of this process (Linux /proc). */
export function osThreads(): number {
  return fs.readdirSync('/proc/self/task').length;
}

export async function runSoak(options: { redeploys: number; model?: string; threads?: number; classifyThreads?: number; log?: (s: string) => void }): Promise<SoakResult> {
  const threads = options.threads ?? 0;
  const classifyThreads = options.classifyThreads ?? 0;
  const log = options.log ?? (() => undefined);
  const t0 = Date.now();
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
  const samples: SoakSample[] = [];
  try {
    await waitFrames(30_000);
    for (let i = 1; i <= options.redeploys; i++) {
      await deploy();
      const flowing = await waitFrames(20_000);
      (global as { gc?: () => void }).gc?.();
      const s: SoakSample = {
        redeploy: i,
        ffmpeg: ffmpegChildren(),
        numTensors: tensorsHere(tf),
        osThreads: osThreads(),
        rssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
        framesFlowing: flowing,
      };
      samples.push(s);
      log(`redeploy ${i}/${options.redeploys}: ffmpeg ${s.ffmpeg}, tensors ${s.numTensors}, threads ${s.osThreads}, rss ${s.rssMB} MB${flowing ? '' : ', NO FRAMES'}`);
    }
  } finally {
    d.RED.hooks.remove('onReceive.soak');
    await d.stop();
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
    threads,
    classifyThreads,
    model,
    seconds: Math.round((Date.now() - t0) / 1000),
  };
}

/** The soak options of a command line (null after --help); a UsageError for unknown options or bad values. */
export function soakArgs(argv: string[]): { redeploys: number; model?: string; threads: number; classifyThreads: number; json: boolean } | null {
  const args = parseCli(argv, SOAK_CLI);
  if (!args) return null;
  const raw = args.redeploys;
  const redeploys = raw === undefined ? 50 : raw === true ? NaN : Number(raw);
  if (!Number.isInteger(redeploys) || redeploys < 1) throw new UsageError(`--redeploys must be a whole number >= 1 (got ${raw === true ? 'no value' : `"${String(raw)}"`})`);
  if (args.model === true) throw new UsageError('--model needs a model name or path');
  const count = (k: string) => {
    const rawThreads = args[k];
    const v = rawThreads === undefined ? 0 : rawThreads === true ? NaN : Number(rawThreads);
    if (!Number.isInteger(v) || v < 0 || v > 8) throw new UsageError(`--${k} must be a whole number in 0..8 (got ${rawThreads === true ? 'no value' : `"${String(rawThreads)}"`})`);
    return v;
  };
  return { redeploys, model: args.model === undefined ? undefined : String(args.model), threads: count('threads'), classifyThreads: count('classify-threads'), json: Boolean(args.json) };
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
    const { redeploys, model, threads, classifyThreads, json } = opts;
    runSoak({ redeploys, model, threads, classifyThreads, log: json ? undefined : (s) => console.error(s) }).then(
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
