#!/usr/bin/env node
/**
 * Training-throughput benchmark and per-kernel profile of the real trainers on synthetic data:
 *
 *   node --import tsx bench/train-step.ts --variant nano-b --batch 64 --steps 20 [--trainer fer|ck]
 *        [--warmup 3] [--profile] [--backend wasm] [--json]
 *
 * `--trainer fer` runs trainFer (FER2013 loop: wild augmentation, two heads, AdamW, EMA);
 * `--trainer ck` runs trainModel (CK+ loop: augmentation, one head, AdamW). Each step is timed
 * between two progress callbacks (so it includes augmentation, forward, backward, optimiser and
 * bookkeeping, exactly as in training); the first `--warmup` steps are skipped.
 * `--profile` wraps every kernel of the backend and reports time per kernel (self time, i.e.
 * without the kernels it calls), split into forward (inside the loss function) and backward.
 * Runs through tsx because tfjs-core's gradients only load that way. `--help` prints the usage;
 * an unknown option or a bad value is an error (exit code 2) before anything runs.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { selectBackend } from '../src/backend';
import { silentLogger } from '../src/log';
import { countCost, variantSpec } from '../src/model/spec';
import { mulberry32 } from '../src/model/graph';
import { registerWasmGradientKernels } from '../src/train/kernels';
import { DEFAULT_FER_CONFIG, FerSample, trainFer, N8, N7 } from '../src/train/fer-trainer';
import { DEFAULT_TRAIN_CONFIG, trainModel } from '../src/train/trainer';
import { Sample } from '../src/train/data';
import { CliSpec, parseCli, UsageError } from '../src/cli/args';

/** The trainers `--trainer` chooses from. */
export const TRAINERS: readonly string[] = ['fer', 'ck'];

/** The command line of `npm run bench:train` (every `--name` of `usage` is an accepted option). */
export const TRAIN_STEP_CLI: CliSpec = {
  usage:
    'Usage: npm run bench:train -- [--variant nano-b] [--batch 64] [--steps 20] [--warmup 3] [--trainer fer|ck]\n' +
    '       [--profile [--top 40]] [--backend wasm] [--json]\n',
  notes:
    '  --trainer  fer: trainFer (FER2013 loop: wild augmentation, two heads, AdamW, EMA); ck: trainModel (CK+ loop);\n' +
    '             default ck at --batch 16, else fer\n' +
    '  --warmup   steps run before timing starts\n' +
    '  --profile  time per kernel (self time), forward and backward; --top: how many kernels to list\n' +
    '  --json     one JSON line instead of the text summary\n',
};

/** A whole-number option >= `min` (default when absent); a UsageError otherwise. */
function count(args: Record<string, string | boolean>, k: string, def: number, min: number): number {
  const raw = args[k];
  const v = raw === undefined ? def : raw === true ? NaN : Number(raw);
  if (!Number.isInteger(v) || v < min) throw new UsageError(`--${k} must be a whole number >= ${min} (got ${args[k] === true ? 'no value' : `"${String(args[k])}"`})`);
  return v;
}

/** Smooth random 48x48 "faces" (blobs + noise), seeded. */
function syntheticImage(size: number, rand: () => number): Uint8Array {
  const d = new Uint8Array(size * size);
  const blobs = Array.from({ length: 5 }, () => ({ x: rand() * size, y: rand() * size, r: 4 + rand() * 12, v: rand() * 200 - 100 }));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let v = 110 + rand() * 20;
      for (const b of blobs) v += b.v * Math.exp(-((x - b.x) ** 2 + (y - b.y) ** 2) / (b.r * b.r));
      d[y * size + x] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return d;
}

export interface KernelStat {
  calls: number;
  self: number;
}

/** Wraps every kernel of `backend` to accumulate self time per (phase, kernel). */
function installProfiler(backend: string, phase: () => string): Map<string, KernelStat> {
  const stats = new Map<string, KernelStat>();
  const stack: number[] = []; // accumulated child time of each open kernel
  const names: string[] = [];
  const detail = process.env.PROFILE_DETAIL === '1';
  for (const k of tf.getKernelsForBackend(backend)) {
    const orig = k.kernelFunc;
    const name = k.kernelName;
    tf.unregisterKernel(name, backend);
    tf.registerKernel({
      ...k,
      kernelFunc: (a) => {
        const parent = names.length ? `${names[names.length - 1]}>` : '';
        stack.push(0);
        names.push(name);
        const t0 = performance.now();
        const out = orig(a);
        const dt = performance.now() - t0;
        names.pop();
        const child = stack.pop() as number;
        if (stack.length) stack[stack.length - 1] += dt;
        let key = `${phase()}:${parent}${name}`;
        if (detail && name.startsWith('Conv2D')) {
          const ins = a.inputs as unknown as Record<string, { shape: number[] }>;
          key += ` ${Object.values(ins).map((t) => t.shape.join('x')).join(',')} ${JSON.stringify((a.attrs as Record<string, unknown>).strides)}/${JSON.stringify((a.attrs as Record<string, unknown>).dilations)}`;
        }
        const s = stats.get(key) ?? { calls: 0, self: 0 };
        s.calls++;
        s.self += dt - child;
        stats.set(key, s);
        return out;
      },
    });
  }
  return stats;
}

/**
 * Calls and self time per step of each (phase, kernel), slowest first, from the statistics of
 * `steps` timed steps (those between the callback that cleared them and the last one).
 */
export function perStepProfile(stats: ReadonlyMap<string, KernelStat>, steps: number): Array<{ k: string; calls: number; ms: number }> {
  const n = Math.max(1, steps);
  return [...stats.entries()].map(([k, s]) => ({ k, calls: s.calls / n, ms: s.self / n })).sort((x, y) => y.ms - x.ms);
}

async function main(): Promise<void> {
  const args = parseCli(process.argv.slice(2), TRAIN_STEP_CLI);
  if (!args) return;
  const variant = String(args.variant ?? 'nano-b');
  const batch = count(args, 'batch', 64, 1);
  const steps = count(args, 'steps', 20, 1);
  const warmup = count(args, 'warmup', 3, 0);
  const top = count(args, 'top', 40, 1);
  const trainer = String(args.trainer ?? (batch === 16 ? 'ck' : 'fer'));
  if (!TRAINERS.includes(trainer)) throw new UsageError(`--trainer must be one of ${TRAINERS.join(', ')} (got ${args.trainer === true ? 'no value' : `"${trainer}"`})`);
  let spec: ReturnType<typeof variantSpec>;
  try {
    spec = variantSpec(variant);
  } catch (e) {
    throw new UsageError(`--variant: ${(e as Error).message}`);
  }
  const backend = await selectBackend({ backend: String(args.backend ?? 'wasm'), logger: silentLogger });
  registerWasmGradientKernels();
  const size = spec.inputSize;
  const rand = mulberry32(7);
  const nImages = Math.max(batch * (steps + warmup + 1), 256);

  // Phase tagging for the profiler: tfjs runs the loss function in a scope named 'forward' and
  // the gradient functions in one named 'backward'; the rest of the step is "step".
  const engineState = (tf.engine() as unknown as { state: { scopeStack: Array<{ name: string }> } }).state;
  const phase = (): string => {
    for (const sc of engineState.scopeStack) {
      if (sc.name === 'forward') return 'fwd';
      if (sc.name === 'backward') return 'bwd';
    }
    return 'step';
  };
  const stats = args.profile ? installProfiler(backend.name, phase) : null;
  // Wall time per step, and process CPU time (user + system): on a shared, busy machine the CPU
  // time per step is the steadier figure (wasm runs on one thread).
  const stepTimes: number[] = [];
  const cpuTimes: number[] = [];
  let last = 0;
  let lastCpu = 0;
  let seenSteps = 0;
  const total = steps + warmup + 1;
  let profiled: Map<string, KernelStat> | null = null;
  const onStep = () => {
    const now = performance.now();
    const u = process.cpuUsage();
    const cpu = (u.user + u.system) / 1000;
    if (seenSteps > warmup) {
      stepTimes.push(now - last);
      cpuTimes.push(cpu - lastCpu);
    }
    if (seenSteps === warmup && stats) stats.clear();
    // The last timed step: what runs after it (the final checkpoint, the ck trainer's weight
    // folding) is no step's work.
    if (seenSteps === total - 1 && stats) profiled = new Map([...stats].map(([k, s]) => [k, { ...s }]));
    last = now;
    lastCpu = cpu;
    seenSteps++;
  };
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'emotionnet-train-bench-'));
  try {
    if (trainer === 'fer') {
      const samples: FerSample[] = [];
      for (let i = 0; i < nImages; i++) {
        const soft8 = new Float32Array(N8);
        soft8[i % N8] = 0.7;
        soft8[(i * 3 + 1) % N8] += 0.3;
        samples.push({ data: syntheticImage(size, rand), soft8: i % 10 === 0 ? null : soft8, label7: i % N7 });
      }
      const cfg = { ...DEFAULT_FER_CONFIG, variant, spec, batchSize: batch, epochs: 100 };
      await trainFer(samples, null, cfg, { checkpointDir: work, checkpointMinutes: 1e6, maxSteps: total, onProgress: onStep });
    } else {
      const classes = ['anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise'];
      const samples: Sample[] = [];
      for (let i = 0; i < nImages; i++) samples.push({ data: syntheticImage(size, rand), label: i % classes.length, file: `s${i}` } as Sample);
      const cfg = { ...DEFAULT_TRAIN_CONFIG, variant, spec, classes, batchSize: batch, onePerGroup: false, epochs: 1 };
      // One epoch holds nImages/batch >= total steps; stop timing after `total` steps.
      await trainModel(samples.slice(0, batch * total), cfg, { onProgress: onStep, maxEpochs: 1 });
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  stepTimes.sort((x, y) => x - y);
  const med = stepTimes[Math.floor(stepTimes.length / 2)];
  const mean = stepTimes.reduce((s, v) => s + v, 0) / stepTimes.length;
  cpuTimes.sort((x, y) => x - y);
  const cpuMed = cpuTimes[Math.floor(cpuTimes.length / 2)];
  const macs = countCost(spec, trainer === 'fer' ? N8 + N7 : 7).macs;
  const res = {
    variant,
    trainer,
    batch,
    steps: stepTimes.length,
    msPerStepMedian: Math.round(med * 10) / 10,
    msPerStepMean: Math.round(mean * 10) / 10,
    imagesPerSec: Math.round((batch / med) * 1000 * 10) / 10,
    imagesPerSecMean: Math.round((batch / mean) * 1000 * 10) / 10,
    cpuMsPerStepMedian: Math.round(cpuMed * 10) / 10,
    imagesPerCpuSec: Math.round((batch / cpuMed) * 1000 * 10) / 10,
    gflopsFwdBwd: Math.round(((3 * 2 * macs * batch) / med / 1e6) * 100) / 100,
    backend: backend.label,
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
  if (args.json) process.stdout.write(JSON.stringify(res) + '\n');
  else process.stdout.write(`${variant} ${trainer} batch ${batch}: ${res.imagesPerSec} img/s (median ${res.msPerStepMedian} ms/step, mean ${res.msPerStepMean} ms → ${res.imagesPerSecMean} img/s); CPU ${res.cpuMsPerStepMedian} ms/step → ${res.imagesPerCpuSec} img/CPU-s; ${res.gflopsFwdBwd} GFLOP/s fwd+bwd, load ${res.loadavg.join(' ')}\n`);
  if (stats) {
    const rows = perStepProfile(profiled ?? stats, stepTimes.length);
    const kernelTotal = rows.reduce((s, r) => s + r.ms, 0);
    const byPhase: Record<string, number> = {};
    for (const r of rows) byPhase[r.k.split(':')[0]] = (byPhase[r.k.split(':')[0]] ?? 0) + r.ms;
    process.stdout.write(`per step: kernels ${kernelTotal.toFixed(1)} ms (${Object.entries(byPhase).map(([p, v]) => `${p} ${v.toFixed(1)}`).join(', ')}), outside kernels ${(mean - kernelTotal).toFixed(1)} ms\n`);
    for (const r of rows.slice(0, top)) process.stdout.write(`  ${r.k.padEnd(40)} ${r.ms.toFixed(2).padStart(8)} ms  ${r.calls.toFixed(0).padStart(5)} calls\n`);
  }
}

if (require.main === module) {
  main().catch((e) => {
    if (e instanceof UsageError) {
      process.stderr.write(`bench:train: ${e.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
