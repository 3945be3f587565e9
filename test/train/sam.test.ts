/**
 * Sharpness-aware minimisation for train:fer (`--sam <rho>`): the perturbed gradient against
 * hand arithmetic on a quadratic, exact restoration of the weights (also when the second pass
 * fails), the option and config key, and a tiny CLI run (no ../shared/datasets needed).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { readModelDir } from '../../src/model/io';
import { variantSpec } from '../../src/model/spec';
import { samOption } from '../../src/cli/train-fer';
import { parseArgs } from '../../src/cli/args';
import { DEFAULT_FER_CONFIG, ferConfigKey, FerTrainConfig, GradResult, keyDifferences, samGradients, trainFer } from '../../src/train/fer-trainer';
import { tmpDir } from '../model/helpers';
import { assertClose as close, runCli, writeTinyFer } from './fer-tiny';

const cli = (args: string[]) => runCli('train-fer.ts', args);

before(async () => {
  await selectBackend({ backend: 'wasm', logger: silentLogger });
});

/** Loss Σ c·p³/3 over both parameters: gradient c·p², so the perturbation is visible in it. */
const C = { a: [1, 2], b: [0.5] };
function gradientsAt(params: Record<string, tf.Variable>, seen: number[][]): Promise<GradResult> {
  seen.push([...params.a.dataSync(), ...params.b.dataSync()]);
  const g = (n: 'a' | 'b') => Array.from(params[n].dataSync(), (p, i) => C[n][i] * p * p);
  return Promise.resolve({ n: 1, loss: 42, pred8: new Int32Array([3]), stats: [{ id: 'bn', mean: new Float32Array([1]), variance: new Float32Array([2]) }], grads: { a: { shape: [2], data: Float32Array.from(g('a')) }, b: { shape: [1], data: Float32Array.from(g('b')) } } });
}

test('samGradients: the gradient at w + rho·g/‖g‖ (hand arithmetic), loss, predictions and BN statistics of the first pass, weights restored exactly, no tensor left', async () => {
  const start = tf.memory().numTensors;
  const params = tf.tidy(() => ({ a: tf.variable(tf.tensor1d([0.3, -0.7])), b: tf.variable(tf.tensor1d([1.1])) }));
  const w0 = [0.3, -0.7, 1.1].map((x) => Math.fround(x));
  const seen: number[][] = [];
  const first = await gradientsAt(params, seen);
  const rho = 0.05;
  const out = await samGradients(params, first, rho, () => gradientsAt(params, seen));

  const g = [...first.grads.a.data, ...first.grads.b.data];
  const norm = Math.hypot(...g);
  const moved = w0.map((w, i) => w + (rho * g[i]) / norm);
  close(seen[1], moved, 1e-6, 'the second pass sees the moved weights');
  const cs = [...C.a, ...C.b];
  close([...out.grads.a.data, ...out.grads.b.data], moved.map((p, i) => cs[i] * p * p), 1e-6, 'returned gradient = gradient at the moved weights');
  assert.notDeepEqual(Array.from(out.grads.a.data), Array.from(first.grads.a.data));
  assert.equal(out.loss, 42);
  assert.equal(out.pred8, first.pred8);
  assert.equal(out.stats, first.stats, 'moving statistics follow the unperturbed pass');
  assert.deepEqual(Array.from(params.a.dataSync()), w0.slice(0, 2), 'exact old weights back (not w + e − e)');
  assert.deepEqual(Array.from(params.b.dataSync()), w0.slice(2));

  // A zero gradient: nothing to move along, no second pass.
  const zero: GradResult = { ...first, grads: { a: { shape: [2], data: new Float32Array(2) }, b: { shape: [1], data: new Float32Array(1) } } };
  let calls = 0;
  assert.equal(
    await samGradients(params, zero, rho, () => {
      calls++;
      return gradientsAt(params, seen);
    }),
    zero,
  );
  assert.equal(calls, 0);

  // A failing second pass still puts the weights back.
  await assert.rejects(samGradients(params, first, rho, () => Promise.reject(new Error('worker died'))), /worker died/);
  assert.deepEqual(Array.from(params.a.dataSync()), w0.slice(0, 2));
  await assert.rejects(samGradients(params, first, 0, () => gradientsAt(params, seen)), /SAM radius must be > 0/);
  const nan: GradResult = { ...first, grads: { a: { shape: [2], data: new Float32Array([NaN, 1]) }, b: first.grads.b } };
  await assert.rejects(samGradients(params, nan, rho, () => gradientsAt(params, seen)), /SAM: gradient norm is NaN/);
  await assert.rejects(samGradients({ a: params.a }, first, rho, () => gradientsAt(params, seen)), /SAM: no trainable parameter "b"/);
  assert.deepEqual(Array.from(params.a.dataSync()), w0.slice(0, 2), 'restored after a missing parameter too');

  tf.dispose(Object.values(params));
  assert.equal(tf.memory().numTensors, start, 'no tensor left behind');
});

test('--sam: parsed and validated (also by trainFer); it enters the config key only when on, and keyDifferences names it', async () => {
  assert.equal(samOption(parseArgs([])), 0);
  assert.equal(samOption(parseArgs(['--sam', '0.05'])), 0.05);
  assert.equal(samOption(parseArgs(['--sam', '0'])), 0);
  for (const bad of ['-0.1', 'x', '11']) assert.throws(() => samOption(parseArgs(['--sam', bad])), /--sam needs a radius in \[0, 10\]/);
  assert.throws(() => samOption(parseArgs(['--sam'])), /--sam needs a radius/);

  const cfg: FerTrainConfig = { ...DEFAULT_FER_CONFIG, variant: 'nano-b', spec: variantSpec('nano-b') };
  const old = ferConfigKey(cfg, 100);
  assert.equal(ferConfigKey({ ...cfg, sam: 0 }, 100), old, 'older checkpoints keep resuming');
  assert.deepEqual(keyDifferences(old, ferConfigKey({ ...cfg, sam: 0.05 }, 100)), ['--sam (checkpoint: none, now: 0.05)']);
  const sample = { data: new Uint8Array(48 * 48), soft8: null, label7: 0 };
  for (const bad of [-0.1, NaN]) await assert.rejects(trainFer([sample], null, { ...cfg, sam: bad }, { checkpointDir: '/nonexistent' }), /SAM radius \(--sam\) must be a number >= 0/);
});

test('train:fer --sam trains, resumes to the same weights as a straight run, differs from a run without it, and refuses a resume without --sam', () => {
  const data = tmpDir('fer-sam-data-');
  writeTinyFer(data);
  const work = tmpDir('fer-sam-work-');
  const base = ['--variant', 'nano-b', '--data', data, '--batch', '2', '--val-limit', '2', '--no-augment', '--quiet', '--backend', 'wasm', '--warmup', '0'];
  const common = [...base, '--sam', '0.05'];
  const straight = cli([...common, '--epochs', '2', '--work', path.join(work, 'a'), '--out', path.join(work, 'ma'), '--name', 'a']);
  assert.equal(straight.status, 0, straight.stderr);
  assert.match(straight.stderr, /SAM: gradients at radius 0\.05/);
  const first = cli([...common, '--epochs', '1', '--work', path.join(work, 'b'), '--out', path.join(work, 'mb'), '--name', 'b']);
  assert.equal(first.status, 0, first.stderr);
  const resumed = cli([...common, '--epochs', '2', '--work', path.join(work, 'b'), '--out', path.join(work, 'mb'), '--name', 'b']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /Resuming at epoch 1 \+ 0 steps/);
  const plain = cli([...base, '--epochs', '2', '--work', path.join(work, 'c'), '--out', path.join(work, 'mc'), '--name', 'c']);
  assert.equal(plain.status, 0, plain.stderr);

  const a = readModelDir(path.join(work, 'a')).arrays;
  const b = readModelDir(path.join(work, 'b')).arrays;
  const c = readModelDir(path.join(work, 'c')).arrays;
  assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
  for (const n of Object.keys(a)) assert.deepEqual(Array.from(b[n].data), Array.from(a[n].data), `${n}: resumed = straight`);
  const kernels = Object.keys(a).filter((n) => n.endsWith('/kernel') && !n.startsWith('adam/') && !n.startsWith('ema/'));
  assert.ok(kernels.length > 5);
  const differ = kernels.filter((n) => a[n].data.some((v, i) => v !== c[n].data[i]));
  assert.ok(differ.length > kernels.length / 2, `SAM changes the updates (${differ.length} of ${kernels.length} kernels differ from the plain run)`);
  const exported = readModelDir(path.join(work, 'ma', 'a')).json.training as { config: { sam: number } };
  assert.equal(exported.config.sam, 0.05);

  const without = cli([...base, '--epochs', '3', '--work', path.join(work, 'b'), '--out', path.join(work, 'mb'), '--name', 'b']);
  assert.notEqual(without.status, 0);
  assert.match(without.stderr, /--sam \(checkpoint: 0\.05, now: none\)/);
});
