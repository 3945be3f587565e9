/**
 * `npm run fer:soup`: a uniform weight soup of train:fer runs fine-tuned from the same --init,
 * exported as two loadable models. Runs on a tiny synthetic FER folder written by the test
 * (no ../shared/datasets needed).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { load } from '../../src/model';
import { readModelDir } from '../../src/model/io';
import { selfTestInputs } from '../../src/model/selftest';
import { checkSameInit, readSoupMember } from '../../src/cli/fer-soup';
import { tmpDir } from '../model/helpers';
import { writeTinyFer } from './fer-tiny';

const ROOT = path.resolve(__dirname, '../..');
const cli = (script: string, args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli', script), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 180000 });

before(async () => {
  await selectBackend({ backend: 'wasm', logger: silentLogger });
});

/** Max |a - b| over all tensors of two exported models. */
function maxDiff(a: string, b: string): number {
  const [wa, wb] = [readModelDir(a).arrays, readModelDir(b).arrays];
  let m = 0;
  for (const [n, t] of Object.entries(wa)) for (let i = 0; i < t.data.length; i++) m = Math.max(m, Math.abs(t.data[i] - wb[n].data[i]));
  return m;
}

test('fer:soup averages runs from the same --init into two loadable models that reproduce their selftest; a one-kind soup is the member itself; mixed inits and non-checkpoints are refused', async () => {
  const data = tmpDir('fer-soup-data-');
  writeTinyFer(data);
  const work = tmpDir('fer-soup-work-');
  const common = ['--variant', 'nano-b', '--data', data, '--batch', '4', '--epochs', '1', '--val-limit', '2', '--no-augment', '--quiet', '--backend', 'wasm', '--w8', '0.5', '--aux7', '1'];
  const w0 = path.join(work, 'w0');
  const base = cli('train-fer.ts', [...common, '--work', w0, '--out', path.join(work, 'm0'), '--name', 'm0']);
  assert.equal(base.status, 0, base.stderr);
  const members = [1, 2].map((seed) => {
    const w = path.join(work, `w${seed}`);
    const r = cli('train-fer.ts', [...common, '--init', w0, '--seed', String(seed), '--lr', '0.01', '--work', w, '--out', path.join(work, `m${seed}`), '--name', `m${seed}`]);
    assert.equal(r.status, 0, r.stderr);
    return w;
  });

  const out = path.join(work, 'soups');
  const r = cli('fer-soup.ts', ['--checkpoints', members.join(','), '--name', 'soup', '--out', out, '--data', data, '--backend', 'wasm']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /member .*w1 \(epoch 1, seed 1\): last PublicTest FER\+ [\d.]+ %, FER2013 [\d.]+ %/);
  assert.match(r.stderr, /soup of 2: PublicTest FER\+ [\d.]+ %, FER2013 [\d.]+ %/);
  for (const [name, n] of [['soup', 8], ['soup-7', 7]] as const) {
    const dir = path.join(out, name);
    const { json } = readModelDir(dir);
    assert.equal(json.folded, true);
    assert.equal(json.classes.length, n);
    const st = JSON.parse(fs.readFileSync(path.join(dir, 'selftest.json'), 'utf8')) as { probabilities: number[][]; classes: string[] };
    const before = tf.memory().numTensors;
    const clf = await load({ model: dir, backend: 'wasm', logger: silentLogger });
    const res = await clf.classify(selfTestInputs().map((d) => ({ width: 48, height: 48, data: d })));
    res.forEach((p, i) => st.classes.forEach((c, j) => assert.ok(Math.abs(p.probabilities[c] - st.probabilities[i][j]) < 1e-4, `${name} input ${i} ${c}`)));
    clf.dispose();
    assert.equal(tf.memory().numTensors, before, 'no tensor leak');
  }
  const results = JSON.parse(fs.readFileSync(path.join(out, 'soup-7', 'results.json'), 'utf8'));
  assert.equal(results.model, 'soup-7');
  assert.deepEqual(results.soup.members.map((m: { seed: number }) => m.seed), [1, 2]);
  assert.equal(results.soup.members[0].init, results.soup.members[1].init);
  assert.equal(results.soup.members[0].init, 'w0', 'the --init source (directory name)');
  assert.deepEqual([results.config.soup, results.config.ferPlusWeight, results.config.aux7Weight, results.weights], [2, 0.5, 1, 'soup']);
  assert.equal(results.validation.fer2013PublicTest.n, 2);
  // The soup is neither member; the soup of one checkpoint twice is exactly that checkpoint's export.
  const m1 = path.join(work, 'm1', 'm1-7');
  assert.ok(fs.existsSync(path.join(m1, 'model.json')), 'the member exported its (only, so best) epoch');
  assert.ok(maxDiff(path.join(out, 'soup-7'), m1) > 1e-4, 'the soup differs from member 1');
  const twice = cli('fer-soup.ts', ['--checkpoints', `${members[0]},${members[0]}`, '--name', 'twice', '--out', out, '--no-validate', '--backend', 'wasm']);
  assert.equal(twice.status, 0, twice.stderr);
  assert.ok(maxDiff(path.join(out, 'twice-7'), m1) < 1e-6, 'mean of identical weights = the weights');
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'twice-7', 'results.json'), 'utf8')).validation, undefined, '--no-validate');

  // Refusals, each before anything is written.
  const mixed = cli('fer-soup.ts', ['--checkpoints', `${w0},${members[0]}`, '--name', 'mixed', '--out', out, '--no-validate']);
  assert.notEqual(mixed.status, 0);
  assert.match(mixed.stderr, /Soup members must be fine-tuned from the same --init \(got .*w0: none \(random init\); .*w1: w0\)/);
  assert.ok(!fs.existsSync(path.join(out, 'mixed')));
  const notCk = cli('fer-soup.ts', ['--checkpoints', `${path.join(work, 'm1', 'm1')},${members[1]}`, '--name', 'x', '--out', out, '--no-validate']);
  assert.match(notCk.stderr, /m1 is not a train:fer checkpoint/);
  const missing = cli('fer-soup.ts', ['--checkpoints', `${path.join(work, 'nope')},${members[1]}`, '--name', 'x', '--out', out]);
  assert.match(missing.stderr, /nope: no model\.json/);
  const one = cli('fer-soup.ts', ['--checkpoints', members[0], '--name', 'x']);
  assert.match(one.stderr, /--checkpoints needs at least two checkpoint directories/);
  const noName = cli('fer-soup.ts', ['--checkpoints', members.join(',')]);
  assert.match(noName.stderr, /--name <model name> is required/);
});

test('soup members: the init check compares the --init sources; --allow-mixed-init overrides it', () => {
  const rec = (work: string, init?: string) => ({ record: { work, epoch: 6, stepInEpoch: 0, ...(init ? { init } : {}) } });
  checkSameInit([rec('a', 'k#1'), rec('b', 'k#1')], false);
  assert.throws(() => checkSameInit([rec('a', 'k#1'), rec('b', 'k#2')], false), /a: k#1; b: k#2/);
  assert.throws(() => checkSameInit([rec('a'), rec('b')], false), /none \(random init\)/);
  checkSameInit([rec('a', 'k#1'), rec('b')], true);
  assert.throws(() => readSoupMember(tmpDir('fer-soup-empty-')), /no model\.json/);
});
