import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { PNG } from 'pngjs';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { load } from '../../src/model';
import { foldBatchNorm, initTrainWeights, mulberry32 } from '../../src/model/graph';
import { NamedArrays, readModelDir } from '../../src/model/io';
import { selfTestInputs } from '../../src/model/selftest';
import { resolveSpec, variantSpec, withStemStride } from '../../src/model/spec';
import { Sample } from '../../src/train/data';
import { configKey, DEFAULT_TRAIN_CONFIG, initFromPretrained, loadPretrained, predictProbabilities, toArrays, trainModel, TrainConfig } from '../../src/train/trainer';
import { addTtaToFold } from '../../src/cli/train';
import { tmpDir, toTensors, writeRandomModel } from '../model/helpers';

const ROOT = path.resolve(__dirname, '../..');

/** Two easy classes: horizontal vs vertical stripes with random phase, period and noise. */
function stripes(n: number, seed: number): Sample[] {
  const rand = mulberry32(seed);
  const out: Sample[] = [];
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    const period = 4 + Math.floor(rand() * 5);
    const phase = Math.floor(rand() * period);
    const data = new Uint8Array(48 * 48);
    for (let y = 0; y < 48; y++)
      for (let x = 0; x < 48; x++) {
        const t = label ? x : y;
        data[y * 48 + x] = Math.max(0, Math.min(255, ((t + phase) % period < period / 2 ? 190 : 60) + (rand() - 0.5) * 60));
      }
    out.push({ data, label, subject: `S${String(100 + i).padStart(3, '0')}`, file: `synthetic-${i}.png` });
  }
  return out;
}

const cfg = (epochs: number): TrainConfig => ({
  ...DEFAULT_TRAIN_CONFIG,
  variant: 'nano-b',
  spec: variantSpec('nano-b'),
  classes: ['horizontal', 'vertical'],
  epochs,
  batchSize: 8,
  lr: 3e-3,
  augment: null,
});

before(async () => {
  await selectBackend({ backend: 'wasm', logger: silentLogger });
});

test('a short training run on tiny synthetic data lowers the loss (wasm, our gradient kernels)', async () => {
  const res = await trainModel(stripes(32, 1), cfg(4));
  assert.equal(res.history.length, 4);
  const first = res.history[0].loss;
  const last = res.history[3].loss;
  assert.ok(last < first * 0.8, `loss should drop: ${res.history.map((h) => h.loss.toFixed(3)).join(' → ')}`);
  assert.ok(Object.keys(res.folded).includes('c1/bias'), 'returns folded weights');
});

test('training is seeded and resumes from its per-epoch checkpoint', async () => {
  const dir = tmpDir();
  const data = stripes(16, 2);
  const a = await trainModel(data, cfg(2), { checkpointDir: path.join(dir, 'a'), maxEpochs: 1 });
  assert.equal(a.history.length, 1);
  assert.ok(fs.existsSync(path.join(dir, 'a', 'model.json')));
  const resumed = await trainModel(data, cfg(2), { checkpointDir: path.join(dir, 'a') });
  assert.equal(resumed.resumedFromEpoch, 1);
  assert.equal(resumed.history.length, 2);
  const straight = await trainModel(data, cfg(2), { checkpointDir: path.join(dir, 'b') });
  // same seed, same data: the resumed run ends where the uninterrupted one does
  assert.ok(Math.abs(straight.history[1].loss - resumed.history[1].loss) < 1e-4, `${straight.history[1].loss} vs ${resumed.history[1].loss}`);
  const w1 = straight.folded['dense/kernel'].data;
  const w2 = resumed.folded['dense/kernel'].data;
  for (let i = 0; i < w1.length; i++) assert.ok(Math.abs(w1[i] - w2[i]) < 1e-4);
  await assert.rejects(trainModel([], cfg(1)), /No training samples/);
  await assert.rejects(trainModel([{ ...data[0], data: new Uint8Array(10) }], cfg(1)), /has 10 pixels/);
});

test('training needs samples of at least two classes: a clear error before any step (not tf oneHot depth 1)', async () => {
  const one = stripes(16, 5).filter((s) => s.label === 0);
  await assert.rejects(trainModel(one, cfg(1)), /^Error: Training needs samples of at least two classes; got horizontal \(8\), vertical \(0\)$/);
  await assert.rejects(trainModel(one, { ...cfg(1), classes: ['horizontal'] }), /at least two classes; got horizontal \(8\) \(cfg\.classes has 1 class\)/);
});

test('npm run train (CLI) with one class folder with images: a clear error naming what it found, nothing trained', () => {
  const dir = tmpDir();
  const data = path.join(dir, 'data');
  stripes(4, 6).forEach((s, i) => {
    fs.mkdirSync(path.join(data, 'Happy'), { recursive: true });
    const png = new PNG({ width: 48, height: 48, colorType: 0, inputColorType: 0 });
    png.data = Buffer.from(s.data);
    fs.writeFileSync(path.join(data, 'Happy', `S${100 + i}_001_0000000${i}.png`), PNG.sync.write(png, { colorType: 0, inputColorType: 0 }));
  });
  fs.mkdirSync(path.join(data, 'sad')); // a class folder without images
  fs.mkdirSync(path.join(data, 'cats')); // no known class
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/train.ts', '--data', data, '--variant', 'nano-b', '--epochs', '1', '--out', path.join(dir, 'x'), '--work', path.join(dir, 'w'), '--quiet'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60000,
  });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(
    r.stderr,
    `train: ${data}: training needs images of at least two classes (one subfolder per class); found images of one class only: happy (4 images); ` +
      'class folders without readable images: sadness; folders with no known class (skipped): cats\n',
  );
  assert.doesNotMatch(r.stderr, /oneHot/);
  assert.ok(!fs.existsSync(path.join(dir, 'w')) && !fs.existsSync(path.join(dir, 'x')), 'nothing written');
});

test('a checkpoint of another configuration is refused, naming the differing options, and left intact', async () => {
  const dir = tmpDir();
  const data = stripes(16, 4);
  const ck = path.join(dir, 'ck');
  await trainModel(data, cfg(2), { checkpointDir: ck, maxEpochs: 1 });
  const before = fs.readFileSync(path.join(ck, 'weights.bin'));
  await assert.rejects(trainModel(data, { ...cfg(2), lr: 1e-3 }, { checkpointDir: ck }), /different configuration.*--lr \(checkpoint: 0\.003, now: 0\.001\)/);
  await assert.rejects(trainModel(data, cfg(3), { checkpointDir: ck }), /--epochs \(checkpoint: 2, now: 3\)/);
  await assert.rejects(trainModel(data, { ...cfg(2), emaDecay: 0.98 }, { checkpointDir: ck }), /--ema \(checkpoint: off, now: 0\.98\)/);
  await assert.rejects(trainModel(data.slice(0, 12), cfg(2), { checkpointDir: ck }), /training images \(checkpoint: 16, now: 12\)/);
  assert.deepEqual(fs.readFileSync(path.join(ck, 'weights.bin')), before, 'the refused checkpoint is not overwritten');
  // The same configuration still resumes from it.
  const resumed = await trainModel(data, cfg(2), { checkpointDir: ck });
  assert.equal(resumed.resumedFromEpoch, 1);
  // A model directory that is not a training checkpoint (an exported model) is refused too.
  const exported = path.join(dir, 'exported');
  await writeRandomModel(exported, 'nano-b', ['horizontal', 'vertical']);
  await assert.rejects(trainModel(data, cfg(2), { checkpointDir: exported }), /no training checkpoint/);
});

test('a checkpoint of other training images of the same count (relabelled, replaced) is refused, not resumed or re-exported', async () => {
  const dir = tmpDir();
  const data = stripes(16, 21);
  const ck = path.join(dir, 'ck');
  const done = await trainModel(data, cfg(1), { checkpointDir: ck });
  const before = fs.readFileSync(path.join(ck, 'weights.bin'));
  // The user swaps two class folders: same options, same number of images per class.
  const relabelled = data.map((s) => ({ ...s, label: 1 - s.label }));
  await assert.rejects(trainModel(relabelled, cfg(1), { checkpointDir: ck }), /Checkpoint in .* was written with other training images .*new --work directory/);
  // One image replaced by another.
  const replaced = data.map((s, i) => (i === 3 ? { ...s, data: stripes(1, 99)[0].data } : s));
  await assert.rejects(trainModel(replaced, cfg(1), { checkpointDir: ck }), /other training images/);
  assert.deepEqual(fs.readFileSync(path.join(ck, 'weights.bin')), before, 'the refused checkpoint is not overwritten');
  // The same images: the finished run is reused as before.
  const again = await trainModel(data, cfg(1), { checkpointDir: ck });
  assert.equal(again.resumedFromEpoch, 1);
  assertClose(again.folded, done.folded, 0, 'reused');
  // A checkpoint written before the fingerprint existed (no `data` field) still resumes.
  const mj = path.join(ck, 'model.json');
  const json = JSON.parse(fs.readFileSync(mj, 'utf8'));
  delete json.training.data;
  fs.writeFileSync(mj, JSON.stringify(json));
  assert.equal((await trainModel(data, cfg(1), { checkpointDir: ck })).resumedFromEpoch, 1);
});

test('--epochs and --batch must be integers >= 1: a clear error before any work (batch 0 crashed in the wasm kernels)', async () => {
  const data = stripes(8, 22);
  for (const [bad, re] of [
    [{ epochs: 0 }, /^Error: --epochs must be an integer >= 1, got 0$/],
    [{ epochs: -2 }, /--epochs must be an integer >= 1, got -2/],
    [{ epochs: 1.5 }, /--epochs must be an integer >= 1, got 1\.5/],
    [{ batchSize: 0 }, /^Error: --batch must be an integer >= 1, got 0$/],
    [{ batchSize: -4 }, /--batch must be an integer >= 1, got -4/],
  ] as const) {
    const dir = tmpDir();
    await assert.rejects(trainModel(data, { ...cfg(1), ...bad }, { checkpointDir: path.join(dir, 'ck') }), re, JSON.stringify(bad));
    assert.ok(!fs.existsSync(path.join(dir, 'ck')), 'nothing written');
  }
});

test('npm run train (CLI): --batch 0 and a valueless --epochs are refused with a message, no stack trace, nothing written', () => {
  const dir = tmpDir();
  const data = path.join(dir, 'data');
  stripes(4, 23).forEach((s, i) => {
    const c = s.label ? 'happy' : 'sad';
    fs.mkdirSync(path.join(data, c), { recursive: true });
    const png = new PNG({ width: 48, height: 48, colorType: 0, inputColorType: 0 });
    png.data = Buffer.from(s.data);
    fs.writeFileSync(path.join(data, c, `img${i}.png`), PNG.sync.write(png, { colorType: 0, inputColorType: 0 }));
  });
  const run = (...extra: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/train.ts', '--data', data, '--out', path.join(dir, 'x'), '--work', path.join(dir, 'w'), '--quiet', ...extra], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60000,
    });
  const zero = run('--batch', '0');
  assert.equal(zero.status, 1, zero.stderr);
  assert.match(zero.stderr, /^train: --batch must be an integer >= 1, got 0$/m);
  assert.doesNotMatch(zero.stderr, /RuntimeError|memory access|^ {4}at /m);
  const bare = run('--epochs');
  assert.equal(bare.status, 2, bare.stderr);
  assert.equal(bare.stderr, 'train: --epochs needs a number; see --help\n');
  assert.ok(!fs.existsSync(path.join(dir, 'w')) && !fs.existsSync(path.join(dir, 'x')), 'nothing written');
  // Before the data is read (minutes with --detect): a folder without class folders is not even looked at.
  for (const [extra, status, message] of [[['--epochs'], 2, 'train: --epochs needs a number; see --help'], [['--batch', '0'], 1, 'train: --batch must be an integer >= 1, got 0'], [['--cv'], 2, 'train: --cv needs a number; see --help']] as const) {
    const early = run('--data', dir, ...extra);
    assert.equal(early.status, status, early.stderr);
    assert.equal(early.stderr, `${message}\n`);
  }
});

test('npm run train (CLI) writes a loadable model whose outputs match its self-test reference', async () => {
  const dir = tmpDir();
  const data = path.join(dir, 'data');
  // folder names by synonym: "Happiness" → happy, "sad" → sadness
  stripes(12, 3).forEach((s, i) => {
    const cls = s.label ? 'Happiness' : 'sad';
    fs.mkdirSync(path.join(data, cls), { recursive: true });
    const png = new PNG({ width: 48, height: 48, colorType: 0, inputColorType: 0 });
    png.data = Buffer.from(s.data);
    fs.writeFileSync(path.join(data, cls, `S${100 + i}_001_0000000${i % 9}.png`), PNG.sync.write(png, { colorType: 0, inputColorType: 0 }));
  });
  const out = path.join(dir, 'model');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/train.ts', '--data', data, '--variant', 'nano-b', '--epochs', '1', '--batch', '4', '--out', out, '--work', path.join(dir, 'work'), '--quiet'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, EMOTIONNET_BACKEND: 'wasm' },
  });
  assert.equal(r.status, 0, r.stderr);
  // Rerun into the same --work with another recipe: refused with the differing options named.
  const again = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/train.ts', '--data', data, '--variant', 'nano-b', '--epochs', '2', '--batch', '4', '--out', path.join(dir, 'model2'), '--work', path.join(dir, 'work'), '--quiet'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, EMOTIONNET_BACKEND: 'wasm' },
  });
  assert.equal(again.status, 1, again.stderr);
  assert.match(again.stderr, /train: Checkpoint in .*work.* different configuration.*--epochs \(checkpoint: 1, now: 2\)/);
  assert.ok(!fs.existsSync(path.join(dir, 'model2')), 'nothing exported');
  const json = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
  assert.deepEqual(json.classes, ['happy', 'sadness']);
  assert.equal(json.folded, true);
  const st = JSON.parse(fs.readFileSync(path.join(out, 'selftest.json'), 'utf8'));
  const clf = await load({ model: out, logger: silentLogger });
  const res = await clf.classify(selfTestInputs().map((data) => ({ width: 48, height: 48, data })));
  res.forEach((c, i) => clf.classes.forEach((k, j) => assert.ok(Math.abs(c.probabilities[k] - st.probabilities[i][j]) < 1e-4)));
  clf.dispose();
  // --selftest-only rewrites the reference from the checkpoint the model was exported from; the
  // checkpoint of another run is refused (its reference would not match the model's weights).
  const stFile = path.join(out, 'selftest.json');
  const stText = fs.readFileSync(stFile, 'utf8');
  const run = (...extra: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/train.ts', '--data', data, '--variant', 'nano-b', '--epochs', '1', '--batch', '4', '--quiet', ...extra], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, EMOTIONNET_BACKEND: 'wasm' } });
  const other = run('--seed', '2', '--out', path.join(dir, 'other'), '--work', path.join(dir, 'work-other'));
  assert.equal(other.status, 0, other.stderr);
  const wrong = run('--seed', '2', '--out', out, '--work', path.join(dir, 'work-other'), '--selftest-only');
  assert.equal(wrong.status, 1, wrong.stderr);
  assert.match(wrong.stderr, /^train: .*model holds other weights than the checkpoint in .*work-other.full \(max difference [^)]*; another run, or one that has not finished\); selftest\.json not written$/m);
  assert.equal(fs.readFileSync(stFile, 'utf8'), stText, 'selftest.json left as it was');
  fs.rmSync(stFile);
  const right = run('--out', out, '--work', path.join(dir, 'work'), '--selftest-only');
  assert.equal(right.status, 0, right.stderr);
  assert.deepEqual(JSON.parse(fs.readFileSync(stFile, 'utf8')), st, 'the same reference again');
});

test('fine-tuning (--init): body and same-name classifier columns come from the pretrained checkpoint; it starts ahead of a random init', async () => {
  const dir = tmpDir();
  const data = stripes(32, 7);
  const ck = path.join(dir, 'pre');
  await trainModel(data, cfg(3), { checkpointDir: ck });
  const pre = loadPretrained(ck, variantSpec('nano-b'));
  assert.deepEqual(pre.classes, ['horizontal', 'vertical']);
  assert.ok(!Object.keys(pre.arrays).some((n) => n.startsWith('adam/')), 'optimizer moments are not carried over');

  // Copy by class name: a class the checkpoint lacks keeps its fresh (small random) column.
  const r = resolveSpec(variantSpec('nano-b'));
  const classes = ['vertical', 'diagonal', 'horizontal'];
  const base = initTrainWeights(r, 3, 5);
  const { init, copiedClasses } = initFromPretrained(base, classes, pre);
  assert.deepEqual(copiedClasses, ['vertical', 'horizontal']);
  assert.deepEqual(Array.from(init['c1/kernel'].data), Array.from(pre.arrays['c1/kernel'].data));
  assert.deepEqual(Array.from(init['e5/moving_mean'].data), Array.from(pre.arrays['e5/moving_mean'].data));
  assert.notDeepEqual(Array.from(init['e5/moving_mean'].data), Array.from(base['e5/moving_mean'].data));
  const k = init['dense/kernel'];
  const pk = pre.arrays['dense/kernel'];
  for (let i = 0; i < k.shape[0]; i++) {
    assert.equal(k.data[i * 3 + 0], pk.data[i * 2 + 1]);
    assert.equal(k.data[i * 3 + 1], base['dense/kernel'].data[i * 3 + 1]);
    assert.equal(k.data[i * 3 + 2], pk.data[i * 2 + 0]);
  }
  assert.equal(init['dense/bias'].data[2], pre.arrays['dense/bias'].data[0]);

  // Real effect: the first epoch of a fine-tuning run is far better than a random start.
  const fresh = await trainModel(stripes(32, 8), cfg(1));
  const tuned = await trainModel(stripes(32, 8), { ...cfg(1), pretrained: pre });
  assert.ok(tuned.history[0].loss < fresh.history[0].loss, `fine-tuned ${tuned.history[0].loss} vs fresh ${fresh.history[0].loss}`);

  // A stride-2 checkpoint may start a full-resolution-stem run (same weights, other strides).
  const full = withStemStride(variantSpec('nano-b'), 1);
  assert.deepEqual(Object.keys(loadPretrained(ck, full).arrays).sort(), Object.keys(pre.arrays).sort());
  const fullTuned = await trainModel(stripes(32, 8), { ...cfg(1), spec: full, pretrained: pre });
  const fullFresh = await trainModel(stripes(32, 8), { ...cfg(1), spec: full });
  assert.ok(fullTuned.history[0].loss < fullFresh.history[0].loss, `full-resolution stem: fine-tuned ${fullTuned.history[0].loss} vs fresh ${fullFresh.history[0].loss}`);

  // Clear errors: another architecture, a BN-folded inference model, a folder without a model.
  assert.throws(() => loadPretrained(ck, variantSpec('nano-a')), /different architecture/);
  assert.throws(() => loadPretrained(ck, withStemStride(variantSpec('nano-a'), 1)), /different architecture/);
  const folded = await writeRandomModel(path.join(dir, 'folded'), 'nano-b', ['horizontal', 'vertical']);
  assert.throws(() => loadPretrained(folded, variantSpec('nano-b')), /BN-folded inference model/);
  assert.throws(() => loadPretrained(path.join(dir, 'nothing'), variantSpec('nano-b')), /No model.json/);
});

// ---- weight EMA (--ema) ----

/** Raw model tensors of a checkpoint (parameters + BN moving statistics; no adam/, no ema/). */
const rawOf = (a: NamedArrays): NamedArrays => Object.fromEntries(Object.entries(a).filter(([n]) => !n.startsWith('adam/') && !n.startsWith('ema/')));
const emaOf = (a: NamedArrays): NamedArrays => Object.fromEntries(Object.entries(a).filter(([n]) => n.startsWith('ema/')).map(([n, v]) => [n.slice(4), v]));

async function foldArrays(spec: TrainConfig['spec'], w: NamedArrays): Promise<NamedArrays> {
  const t = toTensors(w);
  const f = foldBatchNorm(resolveSpec(spec), t);
  const out = await toArrays(f);
  tf.dispose([...Object.values(t), ...Object.values(f)]);
  return out;
}

function assertClose(a: NamedArrays, b: NamedArrays, tol: number, what: string): void {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), `${what}: same tensors`);
  for (const n of Object.keys(a)) {
    const [x, y] = [a[n].data, b[n].data];
    assert.equal(x.length, y.length, `${what}: ${n} size`);
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i] - y[i]) <= tol * (1 + Math.abs(y[i])), `${what}: ${n}[${i}] ${x[i]} vs ${y[i]}`);
  }
}

const maxDiff = (a: NamedArrays, b: NamedArrays): number => Math.max(...Object.keys(a).map((n) => Math.max(...Array.from(a[n].data, (v, i) => Math.abs(v - b[n].data[i])))));

test('--ema: the evaluated (folded) weights are the EMA shadow of the per-step weights, BN moving statistics included', async () => {
  const dir = tmpDir();
  const ck = path.join(dir, 'ema');
  // 8 images, batch 8: one optimizer step per epoch, so the per-epoch checkpoints hold every step's weights.
  const c: TrainConfig = { ...cfg(3), emaDecay: 0.2 };
  const steps: NamedArrays[] = [];
  const res = await trainModel(stripes(8, 11), c, {
    checkpointDir: ck,
    // onEpoch runs before that epoch's checkpoint is written: the one on disk is the previous step's.
    onEpoch: (s) => {
      if (s.epoch > 1) steps.push(rawOf(readModelDir(ck).arrays));
    },
  });
  const final = readModelDir(ck).arrays;
  steps.push(rawOf(final));
  assert.equal(steps.length, 3);
  // The shadow starts at the initial weights and follows s_t = d_t·s_(t-1) + (1-d_t)·w_t,
  // d_t = min(decay, (1+t)/(10+t)) (the FER trainer's warm-up form): 2/11, then the 0.2 cap.
  const init = initTrainWeights(resolveSpec(c.spec), 2, c.seed);
  const shadow: Record<string, Float64Array> = Object.fromEntries(Object.entries(init).map(([n, a]) => [n, Float64Array.from(a.data)]));
  steps.forEach((w, i) => {
    const t = i + 1;
    const d = Math.min(0.2, (1 + t) / (10 + t));
    for (const [n, s] of Object.entries(shadow)) for (let k = 0; k < s.length; k++) s[k] = d * s[k] + (1 - d) * w[n].data[k];
  });
  const manual: NamedArrays = Object.fromEntries(Object.entries(shadow).map(([n, s]) => [n, { shape: init[n].shape, data: Float32Array.from(s) }]));
  assert.ok(Object.keys(manual).some((n) => n.endsWith('/moving_variance')), 'BN moving statistics are averaged too');
  assertClose(emaOf(final), manual, 1e-5, 'checkpoint ema/ vs manual EMA');
  // What trainModel evaluates and returns: the folded shadow, not the folded raw weights.
  assertClose(res.folded, await foldArrays(c.spec, manual), 1e-4, 'result vs folded manual EMA');
  assert.ok(maxDiff(res.folded, await foldArrays(c.spec, steps[2])) > 1e-3, 'the EMA really differs from the raw weights');
  // EMA does not change training itself: the raw weights are those of a run without it.
  const plain = path.join(dir, 'plain');
  await trainModel(stripes(8, 11), cfg(3), { checkpointDir: plain });
  assertClose(rawOf(readModelDir(plain).arrays), steps[2], 0, 'raw weights with and without EMA');
  await assert.rejects(trainModel(stripes(8, 11), { ...c, emaDecay: 1 }), /EMA decay must be >= 0 and < 1/);
});

test('--ema: a stopped and resumed run ends with the same EMA weights as an uninterrupted one', async () => {
  const dir = tmpDir();
  const data = stripes(16, 12);
  const c: TrainConfig = { ...cfg(2), emaDecay: 0.9 };
  const a = await trainModel(data, c, { checkpointDir: path.join(dir, 'a'), maxEpochs: 1 });
  assert.equal(a.history.length, 1);
  const mid = readModelDir(path.join(dir, 'a')).arrays;
  assert.deepEqual(Object.keys(emaOf(mid)).sort(), Object.keys(rawOf(mid)).sort(), 'the checkpoint keeps a shadow of every parameter and BN statistic');
  const resumed = await trainModel(data, c, { checkpointDir: path.join(dir, 'a') });
  assert.equal(resumed.resumedFromEpoch, 1);
  const straight = await trainModel(data, c, { checkpointDir: path.join(dir, 'b') });
  assertClose(resumed.folded, straight.folded, 1e-6, 'resumed vs straight (folded EMA)');
  assertClose(emaOf(readModelDir(path.join(dir, 'a')).arrays), emaOf(readModelDir(path.join(dir, 'b')).arrays), 1e-6, 'resumed vs straight (ema/ arrays)');
  // A checkpoint of another EMA setting is not resumed (the decay is in the config key).
  assert.notEqual(configKey(c, 16), configKey({ ...c, emaDecay: 0.99 }, 16));
  assert.notEqual(configKey(c, 16), configKey({ ...c, emaDecay: 0 }, 16));
});

test('default config (no --ema): same weights, checkpoints and config key as before the option existed', async () => {
  const dir = tmpDir();
  const data = stripes(16, 13);
  const { emaDecay: _omit, ...legacy } = cfg(2); // a config written before emaDecay existed
  assert.equal(DEFAULT_TRAIN_CONFIG.emaDecay, 0);
  // Old checkpoints keep resuming: a missing emaDecay and 0 give the same key, without an EMA field.
  assert.equal(configKey(legacy as TrainConfig, 16), configKey(cfg(2), 16));
  assert.equal(JSON.parse(configKey(cfg(2), 16)).ema, undefined);
  const off = await trainModel(data, cfg(2), { checkpointDir: path.join(dir, 'off') });
  const old = await trainModel(data, legacy as TrainConfig, { checkpointDir: path.join(dir, 'old') });
  assertClose(off.folded, old.folded, 0, 'emaDecay 0 vs absent');
  const ck = readModelDir(path.join(dir, 'off')).arrays;
  assert.ok(!Object.keys(ck).some((n) => n.startsWith('ema/')), 'no ema/ arrays in the checkpoint');
  // The result is the folded raw weights of the last checkpoint, as before.
  assertClose(off.folded, await foldArrays(cfg(2).spec, rawOf(ck)), 0, 'folded raw weights');
});

test('npm run train --ema: the CV fold record, --add-tta and the exported model use the EMA weights and record the decay', async () => {
  const dir = tmpDir();
  const data = path.join(dir, 'data');
  // Noise with alternating labels: the model stays near chance, so raw and EMA weights disagree on
  // some test images and the fold record shows which of them it was computed from.
  const rand = mulberry32(14);
  for (let i = 0; i < 12; i++) {
    const cls = i % 2 ? 'happy' : 'sadness';
    fs.mkdirSync(path.join(data, cls), { recursive: true });
    const png = new PNG({ width: 48, height: 48, colorType: 0, inputColorType: 0 });
    png.data = Buffer.from(Uint8Array.from({ length: 48 * 48 }, () => Math.floor(rand() * 256)));
    fs.writeFileSync(path.join(data, cls, `S${100 + i}_001_0000000${i % 9}.png`), PNG.sync.write(png, { colorType: 0, inputColorType: 0 }));
  }
  const run = (...extra: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/train.ts', '--data', data, '--variant', 'nano-b', '--epochs', '2', '--batch', '4', '--ema', '0.5', '--quiet', ...extra], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, EMOTIONNET_BACKEND: 'wasm' },
    });
  // One CV fold: the record's predictions are those of the checkpoint's EMA weights.
  const results = path.join(dir, 'cv');
  const work = path.join(dir, 'work');
  let r = run('--cv', '2', '--folds', '0', '--results', results, '--work', work);
  assert.equal(r.status, 0, r.stderr);
  const rec = JSON.parse(fs.readFileSync(path.join(results, 'fold-0.json'), 'utf8'));
  assert.equal(rec.config.emaDecay, 0.5);
  const ck = readModelDir(path.join(work, 'fold-0'));
  const emaFolded = await foldArrays(ck.json.spec, emaOf(ck.arrays));
  const files = rec.predictions.map((p: { file: string }) => p.file);
  const images = files.map((f: string) => {
    const cls = fs.existsSync(path.join(data, 'happy', f)) ? 'happy' : 'sadness';
    return new Uint8Array(PNG.sync.read(fs.readFileSync(path.join(data, cls, f))).data.filter((_, k) => k % 4 === 0));
  });
  const predsOf = async (folded: NamedArrays) => (await predictProbabilities(resolveSpec(ck.json.spec), folded, images)).map((p) => rec.classes[p.indexOf(Math.max(...p))]);
  const recorded = rec.predictions.map((p: { pred: string }) => p.pred);
  assert.deepEqual(recorded, await predsOf(emaFolded));
  assert.notDeepEqual(recorded, await predsOf(await foldArrays(ck.json.spec, rawOf(ck.arrays))), 'the raw weights predict otherwise');
  // --add-tta reads the same (EMA) weights from the checkpoint: it reproduces the record.
  const flip = rec.tta.flip;
  delete rec.tta;
  fs.writeFileSync(path.join(results, 'fold-0.json'), JSON.stringify(rec));
  const test = files.map((f: string, i: number) => ({ data: images[i], label: rec.classes.indexOf(rec.predictions[i].label), subject: f.split('_')[0], file: f }));
  assert.match(await addTtaToFold(path.join(results, 'fold-0.json'), path.join(work, 'fold-0'), test, rec.classes), /\(added\)/);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(results, 'fold-0.json'), 'utf8')).tta.flip, flip);

  // Final model: the exported weights are the folded shadow; its self-test reference too.
  const out = path.join(dir, 'model');
  r = run('--out', out, '--work', work);
  assert.equal(r.status, 0, r.stderr);
  const m = readModelDir(out);
  assert.equal((m.json.training as { config: { emaDecay: number } }).config.emaDecay, 0.5);
  const full = readModelDir(path.join(work, 'full'));
  assertClose(m.arrays, await foldArrays(full.json.spec, emaOf(full.arrays)), 1e-6, 'exported vs folded EMA');
  const st = JSON.parse(fs.readFileSync(path.join(out, 'selftest.json'), 'utf8'));
  const clf = await load({ model: out, logger: silentLogger });
  const got = await clf.classify(selfTestInputs().map((d) => ({ width: 48, height: 48, data: d })));
  got.forEach((c, i) => clf.classes.forEach((k, j) => assert.ok(Math.abs(c.probabilities[k] - st.probabilities[i][j]) < 1e-4)));
  clf.dispose();
  r = run('--out', out, '--work', work, '--ema', '1.5');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /EMA decay must be >= 0 and < 1/);
});
