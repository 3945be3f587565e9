/**
 * The measurement code behind the published benchmark figures: percentiles, units, the leak
 * check, the per-step kernel profile and the window of the decode stage's "ffmpeg alone".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { Histogram, percentile, toMB } from '../../bench/harness';
import { summarizeSource } from '../../bench/live-lag';
import { memoryMB } from '../../bench/soak';
import { leakCheck } from '../../bench/stages/classify';
import { ffmpegAlone } from '../../bench/stages/decode';
import { ffmpegPath } from '../../bench/stages/detect';
import { perStepProfile } from '../../bench/train-step';
import { selectBackend } from '../../src/backend';
import { findFfmpeg } from '../../src/ffmpeg';
import { silentLogger } from '../../src/log';

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const histogramOf = (xs: number[]) => {
  const h = new Histogram();
  for (const x of xs) h.add(x);
  return h;
};

test('Histogram: the same nearest-rank percentiles as percentile() over the rounded values, in bounded memory', () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (const n of [1, 2, 3, 10, 99, 1000]) {
    const xs = Array.from({ length: n }, () => Math.round(rand() * 300) + (rand() < 0.1 ? 5000 : 0));
    const h = histogramOf(xs);
    assert.equal(h.count, n);
    for (const p of [0, 1, 7, 50, 95, 99, 100]) assert.equal(h.percentile(p), percentile(xs, p), `n ${n} p ${p}`);
  }
  assert.equal(new Histogram().percentile(50), 0);
  // 100 000 samples over 50 distinct values: 50 counts kept.
  const h = new Histogram();
  for (let i = 0; i < 100_000; i++) h.add(i % 50);
  assert.equal(h.percentile(50), 24);
  assert.equal((h as unknown as { counts: Map<number, number> }).counts.size, 50);
});

test('percentile: nearest rank without a floating-point step to the next rank', () => {
  // (7 / 100) * 100 is 7.000000000000001: ceil made it rank 8.
  assert.equal(percentile(range(100), 7), 7);
  assert.equal(percentile(range(50), 14), 7);
  assert.equal(percentile(range(25), 28), 7);
  assert.equal(percentile(range(20), 95), 19);
  assert.equal(percentile([4, 1, 3, 2], 50), 2);
  assert.equal(percentile([5], 0), 5);
  assert.equal(percentile([], 50), 0);
});

test('bench:live latency percentiles are nearest-rank, like the other benches', () => {
  const row = summarizeSource('v0', { firstSeq: 10, lastSeq: 29, processed: 15, lag: 0.014, lagMax: 0.04, lagHalf: 0.01, latencies: histogramOf(range(20).reverse()) });
  // The 10th of 20 is the median, the 19th the 95th percentile (it took the 11th and the 20th).
  assert.equal(row.latencyP50Ms, 10);
  assert.equal(row.latencyP95Ms, 19);
  assert.equal(row.read, 20);
  assert.equal(row.droppedShare, 0.25);
  assert.equal(row.lagEndS, 0.01);
});

test('MB is 2^20 bytes in every bench (bench:live like soak and pipeline)', () => {
  assert.equal(toMB(300 * 2 ** 20), 300);
  assert.deepEqual(memoryMB({ rss: 300 * 2 ** 20, heapUsed: 52_345_678 }), { rssMB: 300, heapMB: 49.9 });
});

test('classify bench leak check: a classifier that leaves a backend buffer per call fails it, without any engine tensor', async () => {
  await selectBackend({ backend: 'cpu', logger: silentLogger });
  const backend = tf.engine().backend;
  const kept: Array<{ dataId: object }> = [];
  const classify = async (faces: unknown[]) => {
    // What a direct executor that forgot disposeData() would do: a buffer written straight to the backend.
    kept.push({ dataId: backend.write(new Float32Array(4), [4], 'float32') });
    return faces.map(() => ({}));
  };
  const leaky = await leakCheck({ classify } as never, 50);
  assert.equal(leaky.tensorsBefore, leaky.tensorsAfter, 'no engine tensor created');
  assert.ok(leaky.buffersAfter > leaky.buffersBefore, JSON.stringify(leaky));
  assert.equal(leaky.ok, false);
  for (const k of kept) backend.disposeData(k.dataId);
  const clean = await leakCheck({ classify: async (faces: unknown[]) => faces.map(() => ({})) } as never, 50);
  assert.equal(clean.ok, true);
  assert.equal(clean.buffersAfter, clean.buffersBefore);
});

test('bench:train --profile: kernel calls and time per timed step (not per step + 1)', () => {
  const rows = perStepProfile(
    new Map([
      ['fwd:Conv2D', { calls: 63, self: 30 }],
      ['bwd:Conv2DBackpropFilter', { calls: 63, self: 90 }],
    ]),
    3,
  );
  assert.deepEqual(rows, [
    { k: 'bwd:Conv2DBackpropFilter', calls: 21, ms: 30 },
    { k: 'fwd:Conv2D', calls: 21, ms: 10 },
  ]);
});

test('decode bench: "ffmpeg alone" is timed from spawn to exit, like the full path (its rtime leaves out the start)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decode-alone-'));
  try {
    const clip = path.join(dir, 'clip.mp4');
    execFileSync(ffmpegPath(), ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=640x480:rate=25:duration=1', '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', clip]);
    await findFfmpeg(); // found once per process (the stage has found it before timing)
    const t0 = performance.now();
    const r = await ffmpegAlone(clip, 25);
    const overCall = (25 * 1000) / (performance.now() - t0);
    // ffmpeg's start (spawn, open, probe) is a third of a 25-frame run: rtime read ~1.4x faster.
    assert.ok(r.fps <= overCall * 1.03, `${r.fps} frames/s reported, ${overCall.toFixed(1)} over the call`);
    assert.ok(r.cpuMsPerFrame > 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
