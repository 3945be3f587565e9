#!/usr/bin/env node
/**
 * Live overload: N video nodes play the demo clip in real time (looped, `-re`) into ONE face node
 * and ONE classify node (both under the `latest` policy) in embedded Node-RED, more frames than
 * the machine can process. For each source it reports how far the frames reaching the end of the
 * chain are behind real time (the lag: a frame's read time against the time it was due by its
 * presentation time, which ffmpeg paces in real time; continued across the clip's loops), the
 * share of frames dropped, and the end-to-end latency from read to classified.
 *
 *   npm run bench:live                                  # 3 sources x 25 fps, 60 s
 *   npm run bench:live -- --sources 2 --fps 10 --seconds 30 --json
 *   npm run bench:live -- --sources 4 --fps 25 --threads 2     # detection in 2 worker threads
 *   npm run bench:live -- --sources 6 --fps 25 --threads 1 --classify-threads 1   # and the classifier in 1
 *
 * A stage that keeps up has a lag that stays flat; one that does not must drop (and count) frames,
 * not let the lag grow. `--help` prints the usage; a bad option is an error (exit code 2).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { CliSpec, parseCli, UsageError } from '../src/cli/args';
import { ROOT } from './soak';
import { Histogram, round, toMB } from './harness';
import { ffmpegChildren, memoryMB, osThreads, rssSlopePerHour, tensorsHere } from './soak';

export const LIVE_CLI: CliSpec = {
  usage: 'Usage: npm run bench:live -- [--sources 3] [--fps 25] [--seconds 60] [--threads 0] [--classify-threads 0] [--tta none] [--every 0] [--json]\n',
  notes:
    'Plays the demo clip in real time from --sources video nodes at --fps into one face and one classify node (latest policy)\n' +
    'for --seconds, then reports per source the lag behind real time, the frames dropped and the read-to-classified latency,\n' +
    "the process's CPU (cores busy), Node-RED's own thread's CPU and event-loop use, and peak RSS. --threads sets the face node's worker threads (0: detection in Node-RED's thread),\n" +
    '--classify-threads the classify node\'s (0: the model in Node-RED\'s thread), --tta flip turns its mirror averaging on.\n' +
    '--every N (endurance: with a long --seconds) samples every N s the frames/s and lag per source, RSS, V8 heap, tensors,\n' +
    "ffmpeg processes and OS threads, and reports RSS's growth per hour over the second half.\n",
};


export interface LiveSourceResult {
  source: string;
  /** Frames the source read (sequence numbers spanned). */
  read: number;
  /** Frames that reached the end of the chain. */
  processed: number;
  /** Share of the frames read that a stage dropped (newest frame wins). */
  droppedShare: number;
  /** Lag behind real time (s) of the last frame at half time and at the end, and the largest. */
  lagHalfS: number;
  lagEndS: number;
  lagMaxS: number;
  /** Read → classified latency (ms). */
  latencyP50Ms: number;
  latencyP95Ms: number;
}

export interface LiveResult {
  sources: number;
  fps: number;
  seconds: number;
  /** The face node's detector worker threads (0: in Node-RED's thread). */
  threads: number;
  /** The classify node's worker threads (0: in Node-RED's thread). */
  classifyThreads: number;
  /** The classify node's mirror averaging (`flip`: about twice its work). */
  tta: 'none' | 'flip';
  /**
   * Time per second of the window the frames that reached the end spent in each stage (the sum of
   * their `msg.timing.detect` and `timing.classify`, ms per s / 1000): with the stage in Node-RED's
   * thread, the share of that thread it took; in worker threads, time in flight (waits included).
   */
  stageBusy: { detect: number; classify: number };
  /**
   * Event-loop utilisation of Node-RED's own thread over the window (0..1): the share of time it
   * was busy running JavaScript (the nodes, message passing, the stages in that thread); what is
   * left is its headroom for other flows and the editor.
   */
  mainThreadBusy: number;
  /**
   * CPU time of Node-RED's own thread per second of the window (cores; Linux only, else null).
   * Unlike {@link LiveResult.mainThreadBusy} (wall time), it leaves out the time the thread waited
   * for a core: with more busy threads than cores, event-loop utilisation overstates the work.
   */
  mainThreadCpu: number | null;
  /** CPU time of the Node-RED process (all its threads; ffmpeg not included) per second of the window: cores busy. */
  cpuCores: number;
  /** Peak RSS of the Node-RED process over the window (MB; ffmpeg not included). */
  rssPeakMb: number;
  /** Drops the face and classify nodes counted (their status `-N`). */
  faceDrops: number;
  classifyDrops: number;
  /** Messages each node received over the window (the frames that reached it). */
  received: { face: number; classify: number; end: number };
  perSource: LiveSourceResult[];
  /** With --every: one sample per interval, and RSS's least-squares growth over the second half (null with < 4 samples). */
  samples?: LiveSample[];
  rssSlopeSecondHalfMBPerHour?: number | null;
}

/** One --every sample of a long run. */
export interface LiveSample {
  atSeconds: number;
  rssMB: number;
  heapMB: number;
  /** Tensors alive in Node-RED's thread (0 with every model in worker threads). */
  numTensors: number;
  ffmpeg: number;
  osThreads: number;
  /** Per source: frames reaching the end of the chain per second over the interval, and the lag behind real time (s). */
  perSource: Array<{ source: string; fps: number; lagS: number }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What runLive gathers per source over the window (the frames that reached the end of the chain). */
export interface LiveSourceState {
  firstSeq: number;
  lastSeq: number;
  processed: number;
  lag: number;
  lagMax: number;
  lagHalf: number;
  /** Read → classified latencies (ms), counted per millisecond: bounded over any run length. */
  latencies: Histogram;
}

/** One source's row of the result; latency percentiles are nearest-rank, like every bench's (bench/harness.ts). */
export function summarizeSource(source: string, s: LiveSourceState): LiveSourceResult {
  const read = s.lastSeq - s.firstSeq + 1;
  return {
    source,
    read,
    processed: s.processed,
    droppedShare: round(1 - s.processed / read, 3),
    lagHalfS: round(s.lagHalf),
    lagEndS: round(s.lag),
    lagMaxS: round(s.lagMax),
    latencyP50Ms: s.latencies.percentile(50),
    latencyP95Ms: s.latencies.percentile(95),
  };
}

export async function runLive(options: { sources: number; fps: number; seconds: number; threads?: number; classifyThreads?: number; tta?: 'none' | 'flip'; every?: number; log?: (s: string) => void }): Promise<LiveResult> {
  const every = options.every ?? 0;
  const { sources, fps, seconds } = options;
  const threads = options.threads ?? 0;
  const classifyThreads = options.classifyThreads ?? 0;
  const tta = options.tta ?? 'none';
  const log = options.log ?? (() => undefined);
  const demo = require(path.join(ROOT, 'scripts', 'demo.js'));
  const base = demo.demoFlow({ mqtt: null }) as Array<Record<string, unknown>>;
  const tab = base.find((n) => n.type === 'tab')?.id ?? 'live';
  const model = String(base.find((n) => n.type === 'emotionnet-classify')?.model ?? 'nano-b-wild');
  const flow: Array<Record<string, unknown>> = [{ id: tab, type: 'tab', label: 'live overload' }];
  for (let i = 0; i < sources; i++) {
    flow.push({ id: `v${i}`, z: tab, type: 'emotionnet-video', sourceType: 'default', source: '', fps, loop: true, pacing: 'realtime', autostart: true, wires: [['face'], []] });
  }
  flow.push({ id: 'face', z: tab, type: 'emotionnet-face', policy: 'latest', threads, wires: [['classify']] });
  flow.push({ id: 'classify', z: tab, type: 'emotionnet-classify', model, policy: 'latest', threads: classifyThreads, tta, wires: [['end']] });
  flow.push({ id: 'end', z: tab, type: 'debug', active: false, console: false });

  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'emotionnet-live-'));
  const d = await demo.startDemo({ port: 0, host: '127.0.0.1', userDir, flow, logLevel: 'warn' });
  const per = new Map<
    string,
    { firstSeq: number; firstAt: number; lastSeq: number; processed: number; lag: number; lagMax: number; lagHalf: number; latencies: Histogram; pts0: number; lastPts: number; loopOffset: number }
  >();
  const drops = { face: 0, classify: 0 };
  let rssPeak = 0;
  const samples: LiveSample[] = [];
  let cpuCores = NaN;
  const received = { face: 0, classify: 0, end: 0 };
  const busyMs = { detect: 0, classify: 0 };
  let windowMs = NaN;
  let elu = NaN;
  let mainCpu: number | null = null;
  let counting = false;
  d.RED.hooks.add('onReceive.live', (ev: { msg: { frame?: { sourceId: string; seq: number; timestamp: number; pts?: number }; timing?: Record<string, number> }; destination: { id: string } }) => {
    const to = ev.destination?.id as keyof typeof received;
    if (counting && to in received) received[to]++;
    if (to !== 'end' || !ev.msg.frame) return;
    if (counting) for (const k of ['detect', 'classify'] as const) busyMs[k] += ev.msg.timing?.[k] ?? 0;
    const f = ev.msg.frame;
    const pts = typeof f.pts === 'number' ? f.pts : (f.seq * 1000) / fps;
    let s = per.get(f.sourceId);
    if (!s) {
      s = { firstSeq: f.seq, firstAt: f.timestamp, lastSeq: f.seq, processed: 0, lag: 0, lagMax: 0, lagHalf: 0, latencies: new Histogram(), pts0: pts, lastPts: pts, loopOffset: 0 };
      per.set(f.sourceId, s);
    }
    // The clip loops: its time starts again at 0; continue from where the loop ended.
    if (pts + s.loopOffset < s.lastPts - 1000) s.loopOffset = s.lastPts + 1000 / fps - pts;
    const media = pts + s.loopOffset;
    s.lastPts = media;
    s.processed++;
    s.lastSeq = f.seq;
    s.lag = (f.timestamp - (s.firstAt + (media - s.pts0))) / 1000;
    s.lagMax = Math.max(s.lagMax, s.lag);
    s.latencies.add(Date.now() - f.timestamp);
  });
  // The nodes' own drop counts, from their status text ("… -N").
  const statusDrops = () => {
    for (const id of ['face', 'classify'] as const) {
      const text = String(d.RED.nodes.getNode(id)?.__lastStatus?.text ?? '');
      const m = / -(\d+)$/.exec(text);
      if (m) drops[id] = Number(m[1]);
    }
  };
  try {
    // Wait for the first classified frame of every source (models load, ffmpeg starts).
    const end = Date.now() + 60_000;
    while (per.size < sources && Date.now() < end) await sleep(100);
    if (per.size < sources) throw new Error(`only ${per.size} of ${sources} sources reached the end of the chain within 60 s`);
    for (const id of ['face', 'classify']) {
      const node = d.RED.nodes.getNode(id);
      const status = node.status.bind(node);
      node.status = (st: { text?: string }) => {
        node.__lastStatus = st;
        return status(st);
      };
    }
    per.clear(); // measure from here
    counting = true;
    const t0 = Date.now();
    const cpu0 = process.cpuUsage();
    const elu0 = performance.eventLoopUtilization();
    const main0 = mainThreadCpuMs();
    let half = false;
    const tf = require('@tensorflow/tfjs-core');
    let lastSampleAt = t0;
    let lastProcessed = new Map<string, number>();
    while (Date.now() - t0 < seconds * 1000) {
      await sleep(1000);
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      // Samples fall due at t0 + k x every (the last one at the end of the window).
      if (every > 0 && (Date.now() - t0 >= (samples.length + 1) * every * 1000 || Date.now() - t0 >= seconds * 1000)) {
        const now = Date.now();
        (global as { gc?: () => void }).gc?.();
        const processed = new Map([...per.entries()].map(([k, st]) => [k, st.processed]));
        samples.push({
          atSeconds: Math.round((now - t0) / 1000),
          ...memoryMB(process.memoryUsage()),
          numTensors: tensorsHere(tf),
          ffmpeg: ffmpegChildren(),
          osThreads: osThreads(),
          perSource: [...per.entries()].map(([source, st]) => ({
            source,
            fps: round(((st.processed - (lastProcessed.get(source) ?? 0)) * 1000) / Math.max(1, now - lastSampleAt), 1),
            lagS: round(st.lag),
          })),
        });
        lastProcessed = processed;
        lastSampleAt = now;
        const x = samples[samples.length - 1];
        log(`sample ${x.atSeconds} s: rss ${x.rssMB} MB, heap ${x.heapMB} MB, tensors ${x.numTensors}, ffmpeg ${x.ffmpeg}, threads ${x.osThreads}, ` + x.perSource.map((p) => `${p.source} ${p.fps} fps lag ${p.lagS} s`).join(', '));
      }
      statusDrops();
      const el = (Date.now() - t0) / 1000;
      if (!half && el >= seconds / 2) {
        half = true;
        for (const s of per.values()) s.lagHalf = s.lag;
      }
      if (Math.round(el) % 10 === 0) log(`${Math.round(el)} s: ` + [...per.entries()].map(([k, s]) => `${k} lag ${s.lag.toFixed(1)} s`).join(', '));
    }
    counting = false;
    const c = process.cpuUsage(cpu0);
    windowMs = Date.now() - t0;
    elu = performance.eventLoopUtilization(elu0).utilization;
    cpuCores = (c.user + c.system) / 1000 / windowMs;
    const main1 = mainThreadCpuMs();
    mainCpu = main0 === null || main1 === null ? null : (main1 - main0) / windowMs;
  } finally {
    d.RED.hooks.remove('*.live');
    await d.stop();
  }
  return {
    sources,
    fps,
    seconds,
    threads,
    classifyThreads,
    tta,
    stageBusy: { detect: round(busyMs.detect / windowMs), classify: round(busyMs.classify / windowMs) },
    mainThreadBusy: round(elu),
    mainThreadCpu: mainCpu === null ? null : round(mainCpu),
    cpuCores: round(cpuCores),
    rssPeakMb: Math.round(toMB(rssPeak)),
    faceDrops: drops.face,
    classifyDrops: drops.classify,
    received,
    perSource: [...per.entries()].map(([source, s]) => summarizeSource(source, s)),
    ...(every > 0 ? { samples, rssSlopeSecondHalfMBPerHour: rssSlopePerHour(samples) } : {}),
  };
}


/**
 * CPU time (user + system, ms) of this process's main thread from /proc (Linux; its thread id is
 * the process id), or null where there is no /proc. Ticks are USER_HZ, 100 per second on Linux.
 */
export function mainThreadCpuMs(stat = `/proc/self/task/${process.pid}/stat`): number | null {
  let text: string;
  try {
    text = fs.readFileSync(stat, 'utf8');
  } catch {
    return null;
  }
  // Fields after the command name (which may hold spaces and parentheses): state is the first, utime the 12th, stime the 13th.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]);
  return Number.isFinite(ticks) ? ticks * 10 : null;
}

/** The options of a command line (null after --help); a UsageError for unknown options or bad values. */
export function liveArgs(argv: string[]): { sources: number; fps: number; seconds: number; threads: number; classifyThreads: number; tta: 'none' | 'flip'; every: number; json: boolean } | null {
  const args = parseCli(argv, LIVE_CLI);
  if (!args) return null;
  const int = (k: string, def: number, min: number, max = Infinity) => {
    const raw = args[k];
    const v = raw === undefined ? def : raw === true ? NaN : Number(raw);
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new UsageError(`--${k} must be a whole number ${max === Infinity ? `>= ${min}` : `in ${min}..${max}`} (got ${raw === true ? 'no value' : `"${String(raw)}"`})`);
    }
    return v;
  };
  const tta = args.tta === undefined ? 'none' : args.tta;
  if (tta !== 'none' && tta !== 'flip') throw new UsageError(`--tta must be none or flip (got ${tta === true ? 'no value' : `"${String(tta)}"`})`);
  return { tta, sources: int('sources', 3, 1), fps: int('fps', 25, 1), seconds: int('seconds', 60, 5), threads: int('threads', 0, 0, 8), classifyThreads: int('classify-threads', 0, 0, 8), every: int('every', 0, 0), json: Boolean(args.json) };
}

if (require.main === module) {
  let opts: ReturnType<typeof liveArgs>;
  try {
    opts = liveArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`bench:live: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  }
  if (opts) {
    const { json, ...o } = opts;
    runLive({ ...o, log: json ? undefined : (s) => console.error(s) }).then(
      (r) => {
        console.log(JSON.stringify(r, null, 2));
        process.exit(0);
      },
      (e) => {
        console.error(e);
        process.exit(1);
      },
    );
  }
}
