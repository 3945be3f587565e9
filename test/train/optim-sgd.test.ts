/**
 * SGD with Nesterov momentum for train:fer (`--optimizer sgd`): the update rule against hand
 * arithmetic, exact resume through the saved momentum buffers, the config key and the option
 * parsing, and a tiny CLI run (no ../shared/datasets needed).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { readModelDir, trainingFormWeights } from '../../src/model/io';
import { variantSpec } from '../../src/model/spec';
import { optimizerOption } from '../../src/cli/train-fer';
import { parseArgs } from '../../src/cli/args';
import { DEFAULT_FER_CONFIG, ferConfigKey, FerTrainConfig, keyDifferences } from '../../src/train/fer-trainer';
import { AdamW, createOptimizer, SgdMomentum } from '../../src/train/optim';
import { tmpDir } from '../model/helpers';
import { assertClose as close, runCli, writeTinyFer } from './fer-tiny';

const cli = (args: string[]) => runCli('train-fer.ts', args);

before(async () => {
  await selectBackend({ backend: 'wasm', logger: silentLogger });
});

/** Two steps of SGD by hand: b' = μb + g + wd·p, p' = p − lr·(g' + μb') (Nesterov) or p − lr·b'. */
function byHand(p0: number[], grads: number[][], lr: number, mu: number, wd: number, nesterov: boolean): number[] {
  const p = p0.slice();
  const b = p.map(() => 0);
  for (const g of grads) {
    for (let i = 0; i < p.length; i++) {
      const gi = g[i] + wd * p[i];
      b[i] = mu * b[i] + gi;
      p[i] -= lr * (nesterov ? gi + mu * b[i] : b[i]);
    }
  }
  return p;
}

test('SGD matches the Nesterov and heavy-ball rules by hand; L2 decay only where selected; the optimiser keeps no tensors after dispose', () => {
  const before = tf.memory().numTensors;
  const grads = [
    [0.5, -1, 2],
    [0.25, 0.5, -1],
  ];
  for (const nesterov of [true, false]) {
    const params = tf.tidy(() => ({ 'c/kernel': tf.variable(tf.tensor1d([1, 2, -3]), true, `k${nesterov}`), 'c/bias': tf.variable(tf.tensor1d([1, 2, -3]), true, `b${nesterov}`) }));
    const opt = new SgdMomentum(params, {}, 0.9, nesterov);
    for (const g of grads) {
      const gt = { 'c/kernel': tf.tensor1d(g), 'c/bias': tf.tensor1d(g) };
      opt.step(params, gt, 1, 0.1, 0.01, (n) => n.endsWith('/kernel'));
      tf.dispose(Object.values(gt));
    }
    close(params['c/kernel'].dataSync(), byHand([1, 2, -3], grads, 0.1, 0.9, 0.01, nesterov), 1e-6, `kernel, nesterov ${nesterov}`);
    close(params['c/bias'].dataSync(), byHand([1, 2, -3], grads, 0.1, 0.9, 0, nesterov), 1e-6, `bias (no decay), nesterov ${nesterov}`);
    opt.dispose();
    tf.dispose(Object.values(params));
  }
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  assert.throws(() => new SgdMomentum({}, {}, 1), /momentum must be in \[0, 1\)/);
  const p = tf.tidy(() => ({ w: tf.variable(tf.zeros([2])) }));
  const adam = createOptimizer('adamw', p);
  const sgd = createOptimizer('sgd', p, {}, 0.8);
  assert.ok(adam instanceof AdamW);
  assert.ok(sgd instanceof SgdMomentum && sgd.momentum === 0.8 && sgd.nesterov);
  assert.throws(() => sgd.step(p, {}, 1, 0.1, 0, () => false), /SGD: no gradient for w/);
  adam.dispose();
  sgd.dispose();
  tf.dispose(Object.values(p));
});

test('SGD state saved and restored continues exactly (momentum buffers under sgd/m/, not model weights)', async () => {
  const steps = [[1, -2], [0.5, 0.5], [-1, 1], [2, 0]];
  const run = async (split: number) => {
    const params = tf.tidy(() => ({ w: tf.variable(tf.tensor1d([0.3, -0.7])) }));
    let opt = new SgdMomentum(params);
    for (let s = 0; s < steps.length; s++) {
      if (s === split) {
        const saved = await opt.toArrays();
        assert.deepEqual(Object.keys(saved), ['sgd/m/w']);
        assert.deepEqual(Object.keys(trainingFormWeights({ ...saved, w: { shape: [2], data: new Float32Array(2) } })), ['w'], 'optimiser state is not a weight');
        opt.dispose();
        opt = new SgdMomentum(params, saved);
      }
      const g = { w: tf.tensor1d(steps[s]) };
      opt.step(params, g, s + 1, 0.05, 0, () => false);
      g.w.dispose();
    }
    const out = Array.from(params.w.dataSync());
    opt.dispose();
    params.w.dispose();
    return out;
  };
  const straight = await run(-1);
  assert.deepEqual(await run(2), straight);
  assert.notDeepEqual(straight, [0.3, -0.7]);
});

test('--optimizer/--momentum: parsed and validated; sgd enters the config key (adamw keeps the old key) and keyDifferences names it', () => {
  assert.deepEqual(optimizerOption(parseArgs([])), { optimizer: 'adamw' });
  assert.deepEqual(optimizerOption(parseArgs(['--optimizer', 'sgd'])), { optimizer: 'sgd', momentum: 0.9 });
  assert.deepEqual(optimizerOption(parseArgs(['--optimizer', 'sgd', '--momentum', '0.8'])), { optimizer: 'sgd', momentum: 0.8 });
  assert.throws(() => optimizerOption(parseArgs(['--optimizer', 'rmsprop'])), /--optimizer must be one of adamw, sgd \(got rmsprop\)/);
  assert.throws(() => optimizerOption(parseArgs(['--optimizer'])), /got no value/);
  assert.throws(() => optimizerOption(parseArgs(['--momentum', '0.9'])), /--momentum applies to --optimizer sgd only/);
  for (const bad of ['1', '-0.1', 'x']) assert.throws(() => optimizerOption(parseArgs(['--optimizer', 'sgd', '--momentum', bad])), /--momentum must be in \[0, 1\)/);

  const cfg: FerTrainConfig = { ...DEFAULT_FER_CONFIG, variant: 'nano-b', spec: variantSpec('nano-b') };
  const old = ferConfigKey(cfg, 100);
  assert.equal(ferConfigKey({ ...cfg, optimizer: 'adamw' }, 100), old, 'older checkpoints keep resuming');
  const sgd = ferConfigKey({ ...cfg, optimizer: 'sgd', momentum: 0.9 }, 100);
  assert.deepEqual(keyDifferences(old, sgd), ['--optimizer (checkpoint: adamw, now: "sgd")', '--momentum (checkpoint: none, now: 0.9)']);
  assert.deepEqual(keyDifferences(sgd, ferConfigKey({ ...cfg, optimizer: 'sgd', momentum: 0.8 }, 100)), ['--momentum (checkpoint: 0.9, now: 0.8)']);
});

test('train:fer --optimizer sgd trains, checkpoints its momentum, resumes to the same weights as a straight run, and refuses a resume with adamw', () => {
  const data = tmpDir('fer-sgd-data-');
  writeTinyFer(data);
  const work = tmpDir('fer-sgd-work-');
  const common = ['--variant', 'nano-b', '--data', data, '--batch', '2', '--val-limit', '2', '--no-augment', '--quiet', '--backend', 'wasm', '--optimizer', 'sgd', '--lr', '0.01', '--wd', '0.0005', '--warmup', '0'];
  const straight = cli([...common, '--epochs', '2', '--work', path.join(work, 'a'), '--out', path.join(work, 'ma'), '--name', 'a']);
  assert.equal(straight.status, 0, straight.stderr);
  assert.match(straight.stderr, /optimizer: SGD, Nesterov momentum 0\.9, L2 weight decay 0\.0005/);
  const first = cli([...common, '--epochs', '1', '--work', path.join(work, 'b'), '--out', path.join(work, 'mb'), '--name', 'b']);
  assert.equal(first.status, 0, first.stderr);
  const resumed = cli([...common, '--epochs', '2', '--work', path.join(work, 'b'), '--out', path.join(work, 'mb'), '--name', 'b']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /Resuming at epoch 1 \+ 0 steps/);

  const a = readModelDir(path.join(work, 'a')).arrays;
  const b = readModelDir(path.join(work, 'b')).arrays;
  const names = Object.keys(a);
  assert.ok(names.some((n) => n.startsWith('sgd/m/')), 'the checkpoint keeps the momentum buffers');
  assert.ok(!names.some((n) => n.startsWith('adam/')), 'and no AdamW moments');
  assert.deepEqual(Object.keys(b).sort(), names.slice().sort());
  let moved = 0;
  for (const n of names) {
    assert.deepEqual(Array.from(b[n].data), Array.from(a[n].data), `${n}: resumed = straight`);
    if (n.startsWith('sgd/m/') && a[n].data.some((x) => x !== 0)) moved++;
  }
  assert.ok(moved > 10, `momentum buffers hold the gradients (${moved} non-zero)`);
  const exported = readModelDir(path.join(work, 'ma', 'a')).json.training as { config: { optimizer: string; momentum: number } };
  assert.equal(exported.config.optimizer, 'sgd');
  assert.equal(exported.config.momentum, 0.9);

  const adam = cli([...common.filter((x) => x !== 'sgd' && x !== '--optimizer'), '--epochs', '3', '--work', path.join(work, 'b'), '--out', path.join(work, 'mb'), '--name', 'b']);
  assert.notEqual(adam.status, 0);
  assert.match(adam.stderr, /--optimizer \(checkpoint: "sgd", now: adamw\)/);
});
