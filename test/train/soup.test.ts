/**
 * Model soups (`npm run train -- --soup K`): the uniform weight average of K seeds, evaluated and
 * exported as one BN-folded model; per-seed metrics and the seed-to-seed spread of the CV.
 */
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
import { foldBatchNorm, mulberry32 } from '../../src/model/graph';
import { NamedArrays, readModelDir, trainingFormWeights } from '../../src/model/io';
import { computeSelfTest, selfTestInputs } from '../../src/model/selftest';
import { resolveSpec } from '../../src/model/spec';
import { averageWeights, meanHistory, soupSeeds, soupSize } from '../../src/train/soup';
import { predictProbabilities, toArrays } from '../../src/train/trainer';
import { addTtaToFold, flipTtaMetrics, writeCvSummary } from '../../src/cli/train';
import { renderResults } from '../../src/cli/report';
import type { Sample } from '../../src/train/data';
import { tmpDir, toTensors } from '../model/helpers';

const ROOT = path.resolve(__dirname, '../..');

before(async () => {
  await selectBackend({ backend: 'wasm', logger: silentLogger });
});

const arr = (shape: number[], values: number[]) => ({ shape, data: Float32Array.from(values) });

test('averageWeights: element-wise mean of every tensor (BN statistics included), inputs untouched', () => {
  const a: NamedArrays = { 'c1/kernel': arr([2, 2], [1, 2, 3, 4]), 'c1/moving_variance': arr([2], [1, 4]) };
  const b: NamedArrays = { 'c1/kernel': arr([2, 2], [3, 2, 1, 0]), 'c1/moving_variance': arr([2], [3, 8]) };
  const c: NamedArrays = { 'c1/moving_variance': arr([2], [5, 0]), 'c1/kernel': arr([2, 2], [-1, 2, 8, 2]) }; // other key order
  const avg = averageWeights([a, b, c]);
  assert.deepEqual(Object.keys(avg), ['c1/kernel', 'c1/moving_variance']);
  assert.deepEqual(avg['c1/kernel'].shape, [2, 2]);
  assert.deepEqual(Array.from(avg['c1/kernel'].data), [1, 2, 4, 2]);
  assert.deepEqual(Array.from(avg['c1/moving_variance'].data), [3, 4]);
  assert.deepEqual(Array.from(a['c1/kernel'].data), [1, 2, 3, 4], 'inputs are not modified');
  avg['c1/kernel'].shape.push(9);
  assert.deepEqual(a['c1/kernel'].shape, [2, 2], 'shapes are copied');
  // Accumulated in float64: float32 sums would lose the small terms next to 2^24.
  const big = averageWeights([{ x: arr([1], [16777216]) }, { x: arr([1], [1]) }, { x: arr([1], [1]) }, { x: arr([1], [2]) }]);
  assert.equal(big.x.data[0], Math.fround(16777220 / 4));
  // One map: itself (a soup of one is the single model).
  assert.deepEqual(Array.from(averageWeights([a])['c1/kernel'].data), [1, 2, 3, 4]);
});

test('averageWeights: clear errors for no maps, other tensor names, other shapes', () => {
  const a: NamedArrays = { 'c1/kernel': arr([2, 2], [1, 2, 3, 4]), 'dense/bias': arr([2], [0, 0]) };
  assert.throws(() => averageWeights([]), /no weight maps to average/);
  assert.throws(() => averageWeights([a, { 'c1/kernel': a['c1/kernel'] }]), /map 1 holds other tensors than map 0 \(missing: dense\/bias; extra: none\)/);
  assert.throws(() => averageWeights([a, { ...a, 'adam/m/c1/kernel': a['c1/kernel'] }]), /missing: none; extra: adam\/m\/c1\/kernel/);
  assert.throws(() => averageWeights([a, { ...a, 'dense/bias': arr([3], [0, 0, 0]) }]), /dense\/bias is 3 \(3 values\) in map 1 but 2 \(2 values\) in map 0/);
  assert.throws(() => averageWeights([a, { ...a, 'c1/kernel': arr([4, 1], [1, 2, 3, 4]) }]), /c1\/kernel is 4x1 .* in map 1 but 2x2/);
});

test('--soup value, seeds and the mean history', () => {
  assert.equal(soupSize(undefined), 1);
  assert.equal(soupSize('3'), 3);
  for (const bad of ['0', '-2', '1.5', 'x', true] as const) assert.throws(() => soupSize(bad), /--soup must be a whole number >= 1/);
  assert.deepEqual(soupSeeds(5, 3), [5, 6, 7]);
  const h = (loss: number, accuracy: number) => ({ epoch: 1, loss, accuracy, lr: 0.01, seconds: 2, imagesPerSec: 10 });
  assert.deepEqual(meanHistory([[h(1, 0.5)], [h(3, 1)]]), [{ epoch: 1, loss: 2, accuracy: 0.75, lr: 0.01, seconds: 2, imagesPerSec: 10 }]);
});

// ---- the CLI ----

/**
 * Faint horizontal (sadness) vs vertical (happy) stripes under heavy noise, one subject per image:
 * after a few steps the members half-learn them and disagree with each other and with their soup.
 */
function stripesFolder(dir: string, n: number, seed: number): Map<string, Uint8Array> {
  const rand = mulberry32(seed);
  const images = new Map<string, Uint8Array>();
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    const period = 4 + Math.floor(rand() * 5);
    const phase = Math.floor(rand() * period);
    const data = Uint8Array.from({ length: 48 * 48 }, (_, p) => {
      const t = label ? p % 48 : Math.floor(p / 48);
      return Math.max(0, Math.min(255, ((t + phase) % period < period / 2 ? 150 : 100) + (rand() - 0.5) * 200));
    });
    const cls = label ? 'happy' : 'sadness';
    fs.mkdirSync(path.join(dir, cls), { recursive: true });
    const png = new PNG({ width: 48, height: 48, colorType: 0, inputColorType: 0 });
    png.data = Buffer.from(data);
    const file = `S${100 + i}_001_0000000${i % 9}.png`;
    fs.writeFileSync(path.join(dir, cls, file), PNG.sync.write(png, { colorType: 0, inputColorType: 0 }));
    images.set(file, data);
  }
  return images;
}

const train = (data: string, ...extra: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/train.ts', '--data', data, '--variant', 'nano-b', '--epochs', '3', '--batch', '8', '--no-augment', '--quiet', ...extra], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, EMOTIONNET_BACKEND: 'wasm' },
  });

async function foldArrays(spec: Parameters<typeof resolveSpec>[0], w: NamedArrays): Promise<NamedArrays> {
  const t = toTensors(w);
  const f = foldBatchNorm(resolveSpec(spec), t);
  const out = await toArrays(f);
  tf.dispose([...Object.values(t), ...Object.values(f)]);
  return out;
}

const mtimes = (dir: string) => ['model.json', 'weights.bin'].map((f) => fs.statSync(path.join(dir, f)).mtimeMs);

test('npm run train --cv --soup 2: fold record of the averaged-then-folded weights, per-seed metrics, summary spread, finished members reused', async () => {
  const dir = tmpDir('soup-cv-');
  const data = path.join(dir, 'data');
  const images = stripesFolder(data, 32, 21);
  const results = path.join(dir, 'cv');
  const work = path.join(dir, 'work');
  const r = train(data, '--cv', '2', '--folds', '0', '--soup', '2', '--results', results, '--work', work);
  assert.equal(r.status, 0, r.stderr);
  const rec = JSON.parse(fs.readFileSync(path.join(results, 'fold-0.json'), 'utf8'));
  assert.equal(rec.soup.k, 2);
  assert.deepEqual(rec.soup.seeds, [1, 2]);
  assert.deepEqual(rec.soup.members.map((m: { seed: number }) => m.seed), [1, 2]);
  for (const m of rec.soup.members) for (const k of ['accuracy', 'macroF1', 'ttaFlipAccuracy']) assert.equal(typeof m[k], 'number', k);
  assert.ok(!fs.existsSync(path.join(work, 'fold-0', 'model.json')), 'no single-model checkpoint');

  // Independently: both members' final checkpoints, averaged, folded, evaluated on the test fold.
  const cks = [1, 2].map((s) => readModelDir(path.join(work, 'fold-0', `seed-${s}`)));
  cks.forEach((ck) => assert.equal((ck.json.training as { epoch: number }).epoch, 3));
  const spec = cks[0].json.spec;
  const r0 = resolveSpec(spec);
  const files: string[] = rec.predictions.map((p: { file: string }) => p.file);
  const test: Sample[] = files.map((f, i) => ({ data: images.get(f) as Uint8Array, label: rec.classes.indexOf(rec.predictions[i].label), subject: f.split('_')[0], file: f }));
  const predsOf = async (folded: NamedArrays) => {
    const probs = await predictProbabilities(r0, folded, test.map((s) => s.data));
    return { probs, preds: probs.map((p) => rec.classes[p.indexOf(Math.max(...p))]) };
  };
  const accOf = (preds: string[]) => preds.filter((p, i) => p === rec.predictions[i].label).length / preds.length;
  const soupFolded = await foldArrays(spec, averageWeights(cks.map((ck) => trainingFormWeights(ck.arrays))));
  const soup = await predsOf(soupFolded);
  assert.deepEqual(rec.predictions.map((p: { pred: string }) => p.pred), soup.preds);
  assert.equal(rec.accuracy, accOf(soup.preds));
  assert.deepEqual(rec.tta.flip, JSON.parse(JSON.stringify(await flipTtaMetrics(r0, soupFolded, rec.classes, test, soup.probs))));
  for (const [i, ck] of cks.entries()) {
    const single = await predsOf(await foldArrays(spec, trainingFormWeights(ck.arrays)));
    assert.equal(rec.soup.members[i].accuracy, accOf(single.preds), `seed ${i + 1} accuracy`);
    assert.notDeepEqual(single.preds, soup.preds, `the test data tells the soup from seed ${i + 1}`);
  }
  assert.notDeepEqual(rec.soup.members[0], rec.soup.members[1]);
  // Summary: the soup's mean in the usual fields, each seed's own CV mean and their spread.
  const s = JSON.parse(fs.readFileSync(path.join(results, 'summary.json'), 'utf8'));
  assert.equal(s.meanAccuracy, rec.accuracy);
  assert.deepEqual(s.soup.members.map((m: { seed: number; meanAccuracy: number }) => [m.seed, m.meanAccuracy]), rec.soup.members.map((m: { seed: number; accuracy: number }) => [m.seed, m.accuracy]));
  assert.match(r.stderr, /fold 0: soup of 2 seeds accuracy [\d.]+% .*single seeds 1: [\d.]+%, 2: [\d.]+%/);
  assert.match(r.stderr, /soup of 2 seeds \(1, 2\); single seeds: CV means [\d.]+ \/ [\d.]+ %/);

  // Rerun after losing the record: the finished members are loaded, not retrained; same result.
  const before = cks.map((ck) => mtimes(ck.dir));
  fs.rmSync(path.join(results, 'fold-0.json'));
  const again = train(data, '--cv', '2', '--folds', '0', '--soup', '2', '--results', results, '--work', work);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /fold 0 seed 1: finished already \(checkpoint at epoch 3\), not retrained/);
  assert.match(again.stderr, /fold 0 seed 2: finished already/);
  assert.deepEqual(cks.map((ck) => mtimes(ck.dir)), before, 'checkpoints untouched');
  const rec2 = JSON.parse(fs.readFileSync(path.join(results, 'fold-0.json'), 'utf8'));
  assert.deepEqual(rec2.predictions, rec.predictions);
  assert.deepEqual(rec2.soup, rec.soup);

  // A finished soup fold is skipped, and a run asking for a single model is told what it holds.
  const single = train(data, '--cv', '2', '--folds', '0', '--results', results, '--work', work);
  assert.equal(single.status, 0, single.stderr);
  assert.match(single.stderr, /fold 0: done already \(.*fold-0\.json: a soup of 2 seeds, not a single model\)/);
  // --add-tta has nothing to add to soup records: refused with a clear message.
  const noTta = path.join(dir, 'no-tta.json');
  fs.writeFileSync(noTta, JSON.stringify({ ...rec2, tta: undefined }));
  assert.match(await addTtaToFold(noTta, path.join(work, 'fold-0'), test, rec.classes), /a soup record \(--soup\).*skipped/);
  const tta = train(data, '--cv', '2', '--folds', '0', '--soup', '2', '--add-tta', '--results', results, '--work', work);
  assert.equal(tta.status, 1);
  assert.match(tta.stderr, /train: --add-tta .*--soup runs always record them/);
  const bad = train(data, '--cv', '2', '--soup', '0', '--results', results, '--work', work);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--soup must be a whole number >= 1/);
});

test('npm run train --cv --soup 1: exactly the single-model record and checkpoint of a run without --soup', () => {
  const dir = tmpDir('soup-one-');
  const data = path.join(dir, 'data');
  stripesFolder(data, 12, 22);
  const run = (name: string, ...extra: string[]) => {
    const r = train(data, '--cv', '2', '--folds', '0', '--results', path.join(dir, name), '--work', path.join(dir, `work-${name}`), ...extra);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(fs.readFileSync(path.join(dir, name, 'fold-0.json'), 'utf8'));
  };
  const plain = run('plain');
  const one = run('one', '--soup', '1');
  // Today's record format, key for key and in order.
  const keys = ['fold', 'folds', 'dataset', 'dataDir', 'config', 'backend', 'params', 'macs', 'key', 'data', 'testSubjects', 'trainImages', 'testImages', 'accuracy', 'macroF1', 'perClass', 'confusion', 'classes', 'history', 'predictions', 'tta', 'trainSeconds', 'finishedAt'];
  assert.deepEqual(Object.keys(one), keys);
  assert.deepEqual(Object.keys(plain), keys);
  const timeless = (rec: Record<string, unknown>) => {
    const { trainSeconds: _s, finishedAt: _f, history, ...rest } = rec;
    return { ...rest, history: (history as Array<Record<string, number>>).map(({ seconds: _x, imagesPerSec: _y, ...h }) => h) };
  };
  assert.deepEqual(timeless(one), timeless(plain));
  // Same checkpoint path (<work>/fold-0, no seed-<s>), the same weight bytes and metadata (timings aside).
  const ck = (name: string) => path.join(dir, `work-${name}`, 'fold-0');
  assert.deepEqual(fs.readFileSync(path.join(ck('one'), 'weights.bin')), fs.readFileSync(path.join(ck('plain'), 'weights.bin')));
  const meta = (name: string) => {
    const j = JSON.parse(fs.readFileSync(path.join(ck(name), 'model.json'), 'utf8'));
    return { ...j, training: timeless(j.training) };
  };
  assert.deepEqual(meta('one'), meta('plain'));
  assert.ok(!fs.existsSync(path.join(dir, 'work-one', 'fold-0', 'seed-1')));
  const s = JSON.parse(fs.readFileSync(path.join(dir, 'one', 'summary.json'), 'utf8'));
  assert.equal(s.soup, undefined);
  assert.equal('seedAccuracies' in s.perFold[0], false);
});

test('npm run train --out --soup 2 --ema: exports the folded average of the members\' EMA weights, records the soup, self-test of the soup', async () => {
  const dir = tmpDir('soup-out-');
  const data = path.join(dir, 'data');
  stripesFolder(data, 12, 23);
  const out = path.join(dir, 'model');
  const work = path.join(dir, 'work');
  const r = train(data, '--soup', '2', '--ema', '0.5', '--out', out, '--work', work);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /\(soup of 2 seeds\)/);
  const m = readModelDir(out);
  const t = m.json.training as { soup: unknown; config: { emaDecay: number } };
  assert.deepEqual(t.soup, { k: 2, seeds: [1, 2] });
  assert.equal(t.config.emaDecay, 0.5);
  const cks = [1, 2].map((s) => readModelDir(path.join(work, 'full', `seed-${s}`)));
  const emaOf = (a: NamedArrays): NamedArrays => Object.fromEntries(Object.entries(a).filter(([n]) => n.startsWith('ema/')).map(([n, v]) => [n.slice(4), v]));
  const rawOf = (a: NamedArrays): NamedArrays => Object.fromEntries(Object.entries(a).filter(([n]) => !n.startsWith('adam/') && !n.startsWith('ema/')));
  const want = await foldArrays(m.json.spec, averageWeights(cks.map((ck) => emaOf(ck.arrays))));
  const raw = await foldArrays(m.json.spec, averageWeights(cks.map((ck) => rawOf(ck.arrays))));
  const maxDiff = (a: NamedArrays, b: NamedArrays) => Math.max(...Object.keys(b).map((n) => Math.max(...Array.from(b[n].data, (v, i) => Math.abs(v - a[n].data[i])))));
  assert.deepEqual(Object.keys(m.arrays).sort(), Object.keys(want).sort());
  assert.ok(maxDiff(m.arrays, want) < 1e-5, `exported vs folded soup of the EMA weights: ${maxDiff(m.arrays, want)}`);
  assert.ok(maxDiff(m.arrays, raw) > 1e-3, 'the soup of the raw weights differs');
  // The self-test reference is of the soup: load() reproduces it, and it is no member's.
  const st = JSON.parse(fs.readFileSync(path.join(out, 'selftest.json'), 'utf8'));
  assert.match(st.note, /soup/);
  const clf = await load({ model: out, logger: silentLogger });
  const got = await clf.classify(selfTestInputs().map((d) => ({ width: 48, height: 48, data: d })));
  got.forEach((c, i) => clf.classes.forEach((k, j) => assert.ok(Math.abs(c.probabilities[k] - st.probabilities[i][j]) < 1e-4)));
  clf.dispose();
  const member = await computeSelfTest(cks[0].dir);
  assert.notDeepEqual(member.probabilities, st.probabilities);
  // --selftest-only rebuilds the same reference from the members' checkpoints.
  fs.rmSync(path.join(out, 'selftest.json'));
  const again = train(data, '--soup', '2', '--ema', '0.5', '--out', out, '--work', work, '--selftest-only');
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'selftest.json'), 'utf8')), st);
});

test('CV summary and model card of a soup run: per-seed CV means and their spread; runs without a soup unchanged', () => {
  const models = tmpDir('report-soup-');
  const write = (run: string, withSoup: boolean) => {
    const dir = path.join(models, 'cv', run);
    fs.mkdirSync(dir, { recursive: true });
    const seedAcc = [
      [0.8, 0.9, 0.7],
      [0.6, 0.9, 0.8],
    ];
    [0, 1].forEach((fold) => {
      const acc = fold === 0 ? 0.9 : 0.8;
      const rec = {
        fold, accuracy: acc, macroF1: acc, confusion: [[9, 1], [fold === 0 ? 1 : 3, fold === 0 ? 9 : 7]], classes: ['happy', 'sadness'], dataset: 'toy', config: { variant: 'nano-b', epochs: 3, batchSize: 16 },
        params: 1, macs: 2, testImages: 20, trainImages: 100, testSubjects: ['S1', 'S2'], trainSeconds: 60, history: [{ epoch: 3, loss: 0.5, accuracy: 0.99 }],
        ...(withSoup ? { soup: { k: 3, seeds: [1, 2, 3], members: [1, 2, 3].map((seed, i) => ({ seed, accuracy: seedAcc[fold][i], macroF1: 0.5, ttaFlipAccuracy: seedAcc[fold][i] + 0.1 })) } } : {}),
      };
      fs.writeFileSync(path.join(dir, `fold-${fold}.json`), JSON.stringify(rec));
    });
  };
  write('toy-plain', false);
  write('toy-soup', true);
  const before = renderResults(models);
  writeCvSummary(path.join(models, 'cv', 'toy-soup'), 2);
  const s = JSON.parse(fs.readFileSync(path.join(models, 'cv', 'toy-soup', 'summary.json'), 'utf8'));
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
  assert.deepEqual(s.soup.seeds, [1, 2, 3]);
  [0.7, 0.9, 0.75].forEach((m, i) => close(s.soup.members[i].meanAccuracy, m));
  close(s.soup.members[0].ttaFlipMeanAccuracy, 0.8);
  close(s.soup.singleSeedCv.min, 0.7);
  close(s.soup.singleSeedCv.max, 0.9);
  close(s.soup.singleSeedCv.mean, 2.35 / 3);
  close(s.soup.singleSeedCv.std, Math.sqrt(((0.7 - 2.35 / 3) ** 2 + (0.9 - 2.35 / 3) ** 2 + (0.75 - 2.35 / 3) ** 2) / 2));
  assert.deepEqual(s.perFold[1].seedAccuracies, [0.6, 0.9, 0.8]);
  const soupMd = before.slice(before.indexOf('#### toy-soup'));
  const plainMd = before.slice(before.indexOf('#### toy-plain'), before.indexOf('#### toy-soup'));
  assert.match(soupMd, /Soup of 3 seeds \(1, 2, 3: the uniform average of their weights, one model, is what is evaluated above\); single seeds: CV means 70\.00 \/ 90\.00 \/ 75\.00 % \(spread 20\.00 points, std 10\.41; their mean 78\.33 %, the soup \+6\.67 points\)/);
  assert.match(soupMd, /\| accuracy \| single seeds \| macro-F1 \|/);
  assert.match(soupMd, /\| 1 \| 2 \| 20 \| 100 \| 80\.00 % \| 60\.00 \/ 90\.00 \/ 80\.00 \| 0\.800 \|/);
  assert.match(before, /\| cv\/toy-soup \| recipe, soup of 3 seeds \|/);
  assert.match(before, /\| cv\/toy-plain \| recipe \|/);
  assert.doesNotMatch(plainMd, /soup|single seeds/i);
  assert.match(plainMd, /\| 1 \| 2 \| 20 \| 100 \| 80\.00 % \| 0\.800 \| 0\.500 \/ 99\.00 % \| 3 \| 1\.0 \|/);
});

test('npm run train --cv: a finished fold record of other images or other options is refused, not reported as done', () => {
  const dir = tmpDir('cv-stale-');
  const data = path.join(dir, 'data');
  stripesFolder(data, 16, 31);
  const results = path.join(dir, 'cv');
  const work = path.join(dir, 'work');
  const cv = (...extra: string[]) => train(data, '--cv', '2', '--folds', '0', '--results', results, '--work', work, ...extra);
  const first = cv();
  assert.equal(first.status, 0, first.stderr);
  const record = path.join(results, 'fold-0.json');
  const saved = fs.readFileSync(record, 'utf8');
  assert.match(cv().stderr, /fold 0: done already/, 'the same images and options: skipped as before');
  // The user swaps the two class folders (same files, same subjects): the old record is stale.
  fs.renameSync(path.join(data, 'happy'), path.join(data, 'tmp'));
  fs.renameSync(path.join(data, 'sadness'), path.join(data, 'happy'));
  fs.renameSync(path.join(data, 'tmp'), path.join(data, 'sadness'));
  const swapped = cv();
  assert.equal(swapped.status, 1, swapped.stderr);
  assert.match(swapped.stderr, /fold 0: .*fold-0\.json was written with other images .*new --results directory/);
  assert.doesNotMatch(swapped.stderr, /done already/);
  fs.renameSync(path.join(data, 'happy'), path.join(data, 'tmp'));
  fs.renameSync(path.join(data, 'sadness'), path.join(data, 'happy'));
  fs.renameSync(path.join(data, 'tmp'), path.join(data, 'sadness'));
  const other = cv('--epochs', '4');
  assert.equal(other.status, 1, other.stderr);
  assert.match(other.stderr, /fold 0: .*fold-0\.json was written with other options \(--epochs \(record: 3, now: 4\)\)/);
  assert.equal(fs.readFileSync(record, 'utf8'), saved, 'the record is left as it was');
  // A stale record of a later fold stops the run before any fold trains, not after the earlier ones.
  fs.renameSync(record, path.join(results, 'fold-1.json')); // fold 0's record is not fold 1's
  const late = cv('--folds', '0,1');
  assert.equal(late.status, 1, late.stderr);
  assert.match(late.stderr, /fold 1: .*fold-1\.json was written with other images/);
  assert.ok(!fs.existsSync(record), 'fold 0 was not trained (or re-exported) first');
  fs.renameSync(path.join(results, 'fold-1.json'), record);
  // A record written before the check existed (no key / data) is still taken as done.
  const old = JSON.parse(saved);
  delete old.key;
  delete old.data;
  fs.writeFileSync(record, JSON.stringify(old));
  assert.match(cv('--epochs', '4').stderr, /fold 0: done already/);
});

test('npm run train --cv: non-CK file names are warned about (every image its own subject); --subject keeps each person in one fold', () => {
  const dir = tmpDir('cv-subject-');
  const data = path.join(dir, 'data');
  stripesFolder(data, 16, 41);
  // Rename to anna_01.png style: 4 people, 4 images each, over both classes.
  const people = ['anna', 'bob', 'cara', 'dan'];
  let i = 0;
  for (const cls of ['happy', 'sadness']) {
    for (const f of fs.readdirSync(path.join(data, cls)).sort()) fs.renameSync(path.join(data, cls, f), path.join(data, cls, `${people[i % 4]}_${String(i++).padStart(2, '0')}.png`));
  }
  const cv = (name: string, ...extra: string[]) => train(data, '--cv', '2', '--folds', '0,1', '--epochs', '1', '--results', path.join(dir, name), '--work', path.join(dir, `w-${name}`), ...extra);
  const loose = cv('loose');
  assert.equal(loose.status, 0, loose.stderr);
  assert.match(loose.stderr, /16 images, 16 subjects/);
  assert.match(loose.stderr, /Warning: no file name gives a subject .*--subject/);
  const byPerson = cv('person', '--subject', '^([a-z]+)_');
  assert.equal(byPerson.status, 0, byPerson.stderr);
  assert.match(byPerson.stderr, /16 images, 4 subjects/);
  assert.doesNotMatch(byPerson.stderr, /Warning/);
  const tested = [0, 1].map((f) => JSON.parse(fs.readFileSync(path.join(dir, 'person', `fold-${f}.json`), 'utf8')).testSubjects as string[]);
  assert.deepEqual(tested.flat().sort(), people, 'each person tested in exactly one fold');
  const bad = cv('bad', '--subject', '([a-z');
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /--subject: not a regular expression/);
  const unmatched = cv('unmatched', '--subject', '^(p\\d+)_');
  assert.equal(unmatched.status, 1, unmatched.stderr);
  assert.match(unmatched.stderr, /anna_00\.png does not match the subject pattern/);
});
