/**
 * `classify` benchmark: EmotionNet Nano-A and Nano-B on the wasm backend (one core, SIMD),
 * through the public `load()`/`classify()` API (includes input packing, softmax and reading the
 * result): faces/s at batch 16, single-face latency, MACs and the GFLOP/s achieved, against a
 * dense 3x3 convolution measured in the same run (how close the models get to the machine's
 * limit). Also checks that 10 000 classifications leave `tf.memory().numTensors` and the backend's
 * data buffers unchanged.
 * The same rows with mirror averaging (`load({ tta: 'flip' })`: each face and its mirror image in
 * one batch) as `nano-a-tta-flip` / `nano-b-tta-flip`; their GFLOP/s count both passes.
 *
 * Uses the shipped weights when present; otherwise random weights of the same architecture
 * (timing does not depend on weight values) and says so in `weights`. Each row names the
 * `executor` that `load()` picked by default (`direct` on wasm; bench/executor-ab.ts compares
 * it with `graph`).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { EmotionClassifier, load, listModels, countCost, variantSpec, resolveSpec, foldBatchNorm, writeModelDir } from '../../src/model';
import { initTrainWeights } from '../../src/model/graph';
import { BenchContext, BenchStage, median, round } from '../harness';

const CLASSES7 = ['anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise'];

/** Writes a folded model of `variant` with random weights to `dir`/random-<variant>; returns its path. */
export async function randomModel(variant: string, dir: string): Promise<string> {
  const spec = variantSpec(variant);
  const r = resolveSpec(spec);
  const init = initTrainWeights(r, CLASSES7.length, 1);
  const tw: Record<string, tf.Tensor> = {};
  for (const [k, t] of Object.entries(init)) tw[k] = tf.tensor(t.data, t.shape);
  const f = foldBatchNorm(r, tw);
  const arrays: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [k, t] of Object.entries(f)) arrays[k] = { shape: t.shape.slice(), data: (await t.data()) as Float32Array };
  tf.dispose([...Object.values(tw), ...Object.values(f)]);
  const out = path.join(dir, `random-${variant}`);
  writeModelDir(out, { name: `random-${variant}`, variant, classes: CLASSES7, spec, folded: true }, arrays);
  return out;
}

/** `n` fixed synthetic 48x48 faces. */
export function faces(n: number): Array<{ width: number; height: number; data: Uint8Array }> {
  return Array.from({ length: n }, (_, i) => ({ width: 48, height: 48, data: new Uint8Array(48 * 48).map((_, j) => (j * 31 + i * 97) % 256) }));
}

/** Median ms of `fn` over `iters` runs after `warm` warm-up runs. */
async function timeIt(fn: () => Promise<unknown>, iters: number, warm = 5): Promise<number> {
  for (let i = 0; i < warm; i++) await fn();
  const ts: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

async function denseConvGflops(quick: boolean): Promise<number> {
  // A dense, well-shaped 3x3 convolution (64 → 64 channels, 24x24, batch 16, bias + ReLU).
  const x = tf.randomNormal([16, 24, 24, 64]) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 64, 64]) as tf.Tensor4D;
  const b = tf.zeros([64]) as tf.Tensor1D;
  const ms = await timeIt(async () => {
    const y = tf.fused.conv2d({ x, filter: w, bias: b, strides: 1, pad: 'same', activation: 'relu' });
    await y.data();
    y.dispose();
  }, quick ? 5 : 30);
  tf.dispose([x, w, b]);
  return (2 * 16 * 24 * 24 * 9 * 64 * 64) / (ms * 1e6);
}

async function benchModel(clf: EmotionClassifier, quick: boolean) {
  const one = faces(1);
  const sixteen = faces(16);
  const singleMs = await timeIt(() => clf.classify(one), quick ? 20 : 200, 10);
  const batchMs = await timeIt(() => clf.classify(sixteen), quick ? 5 : 50, 5);
  const facesPerSec = 16000 / batchMs;
  // Forward passes per face: 2 with mirror averaging (the face and its mirror image).
  const passes = clf.tta === 'flip' ? 2 : 1;
  return {
    facesPerSec: round(facesPerSec, 1),
    singleMs: round(singleMs, 3),
    batch16Ms: round(batchMs, 2),
    macs: clf.cost.macs,
    params: clf.cost.params,
    gflops: round((2 * clf.cost.macs * passes * facesPerSec) / 1e9, 2),
  };
}

/**
 * `total` classifications must leave both counts unchanged: the engine's tensors, and the
 * backend's data buffers, where the direct executor (the default on wasm) keeps its
 * intermediates: it creates no engine tensor, so numTensors alone cannot see it leak.
 */
export async function leakCheck(clf: Pick<EmotionClassifier, 'classify'>, total: number) {
  const one = faces(1);
  const sixteen = faces(16);
  await clf.classify(one);
  const backend = tf.engine().backend;
  const before = tf.memory().numTensors;
  const buffersBefore = backend.numDataIds();
  let n = 0;
  while (n < total) {
    n += (await clf.classify(n % 160 === 0 && total - n >= 16 ? sixteen : one)).length;
  }
  const after = tf.memory().numTensors;
  const buffersAfter = backend.numDataIds();
  return { classifications: n, tensorsBefore: before, tensorsAfter: after, buffersBefore, buffersAfter, ok: before === after && buffersBefore === buffersAfter };
}

export const stage: BenchStage = {
  name: 'classify',
  title: 'EmotionNet Nano-A/B on wasm, plain and with mirror averaging (tta flip): faces/s at batch 16, single-face ms, GFLOP/s',
  async run(ctx: BenchContext) {
    const backend = await selectBackend({ backend: 'wasm', logger: silentLogger });
    if (backend.name !== 'wasm') throw new Error(`classify bench needs the wasm backend (active: ${backend.label})`);
    const shipped = new Map(listModels().map((m) => [m.id, m.available]));
    const tmp = fs.mkdtempSync(path.join(ctx.workDir || os.tmpdir(), 'classify-'));
    const result: Record<string, unknown> = { backend: backend.label, threads: 1, load: os.loadavg().map((l) => round(l, 2)) };
    try {
      ctx.progress('[classify] dense 3x3 convolution reference');
      result.denseConv3x3Gflops = round(await denseConvGflops(ctx.quick), 2);
      for (const v of ['nano-a', 'nano-b']) {
        const src = shipped.get(v) ? v : await randomModel(v, tmp);
        const weights = shipped.get(v) ? 'shipped' : 'random (weights not shipped yet)';
        for (const tta of ['none', 'flip'] as const) {
          const key = tta === 'none' ? v : `${v}-tta-flip`;
          ctx.progress(`[classify] ${key}`);
          const clf = await load({ model: src, backend: 'wasm', tta, logger: silentLogger });
          try {
            const r = await benchModel(clf, ctx.quick);
            const expect = countCost(variantSpec(v), clf.classes.length);
            result[key] = { ...r, executor: clf.executor, weights, macsCheck: expect.macs === r.macs, ...(tta === 'none' ? {} : { tta, costVsPlain: round((result[v] as { facesPerSec: number }).facesPerSec / r.facesPerSec, 2) }) };
            if (v === 'nano-b') {
              ctx.progress(`[classify] leak check (${key})`);
              const lc = await leakCheck(clf, tta === 'none' ? (ctx.quick ? 1000 : 10000) : ctx.quick ? 200 : 2000);
              if (tta === 'none') result.leakCheck = lc;
              else result.leakCheckTtaFlip = lc;
            }
          } finally {
            clf.dispose();
          }
        }
      }
      const dense = result.denseConv3x3Gflops as number;
      for (const v of ['nano-a', 'nano-b', 'nano-a-tta-flip', 'nano-b-tta-flip']) {
        const r = result[v] as { gflops: number };
        (r as Record<string, unknown>).fractionOfDenseConv = round(r.gflops / dense, 3);
      }
      result.loadAfter = os.loadavg().map((l) => round(l, 2));
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    return result;
  },
};
