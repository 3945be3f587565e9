/**
 * Offline knowledge distillation for train:fer: the teacher directory (writer, reader, item
 * key check), the target mixing, the config key, and the two CLIs on a tiny synthetic FER
 * folder written by the test (no ../shared/datasets needed).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { EmotionClassifier, load } from '../../src/model';
import { variantSpec } from '../../src/model/spec';
import { FER2013_CLASSES, FERPLUS_CLASSES, FerItem, ferItemsKey, ferTrainItems, loadFerIndex, selectFer, softTarget } from '../../src/train/fer';
import { checkTeacher, checkTeacherHead, ferPlusColumns, mixSoftTarget, mixTarget7, readTeacher, teacherColumns, teacherProbabilities, teacherRow, writeTeacher } from '../../src/train/fer-teacher';
import { DEFAULT_FER_CONFIG, ferConfigKey, FerSample, FerTrainConfig, keyDifferences, makeBatch } from '../../src/train/fer-trainer';
import { tmpDir } from '../model/helpers';
import { writeTinyFer } from './fer-tiny';

const ROOT = path.resolve(__dirname, '../..');

before(async () => {
  await selectBackend({ backend: 'wasm', logger: silentLogger });
});

const item = (p: string): FerItem => ({ path: p, split: 'Training', label7: 0, votes: null, label8: 0, tied: false, twinOfTraining: false });

/** A stand-in classifier with fixed probabilities in its own class order. */
function fixed(name: string, probs: Record<string, number>): EmotionClassifier {
  const classes = Object.keys(probs);
  return {
    name,
    classes,
    backend: { name: 'cpu', label: 'cpu', reason: 'test' },
    cost: { params: 0, macs: 0 },
    inputSize: 48,
    classify: async (faces) => faces.map(() => ({ label: classes[0], confidence: probs[classes[0]], probabilities: { ...probs } })),
    dispose: () => undefined,
  } as EmotionClassifier;
}

test('mixing: alpha 0 = votes, 1 = teacher, 0.5 = the mean (exact); no votes stay unsupervised; alpha outside [0,1] refused', () => {
  const votes = softTarget([6, 3, 0, 0, 0, 0, 0, 0, 0, 0]) as Float32Array; // neutral 2/3, happy 1/3
  const teacher = new Float32Array([0.5, 0, 0, 0, 0.25, 0.125, 0.125, 0]);
  assert.deepEqual(Array.from(mixSoftTarget(votes, teacher, 0)!), Array.from(votes));
  assert.deepEqual(Array.from(mixSoftTarget(votes, teacher, 1)!), Array.from(teacher));
  const half = mixSoftTarget(votes, teacher, 0.5)!;
  const expected = Array.from(votes, (v, c) => Math.fround(0.5 * v + 0.5 * teacher[c]));
  assert.deepEqual(Array.from(half), expected);
  assert.equal(half[FERPLUS_CLASSES.indexOf('anger')], 0.25);
  assert.ok(Math.abs(half.reduce((a, b) => a + b, 0) - 1) < 1e-6, 'still a distribution');
  assert.equal(mixSoftTarget(null, teacher, 0.5), null);
  assert.throws(() => mixSoftTarget(votes, teacher, 1.5), /--kd must be in \[0, 1\]/);
  assert.throws(() => mixSoftTarget(votes, teacher, NaN), /--kd/);
});

test('teacher probabilities: class names mapped to FER+ order, models averaged, batched; a model without a FER+ class is an error', async () => {
  // Model A in its own (non-FER+) class order and with a synonym; model B all on surprise.
  const a = fixed('a', { happiness: 0.5, neutral: 0.25, angry: 0.25, contempt: 0, disgust: 0, fear: 0, sadness: 0, surprise: 0 });
  const b = fixed('b', Object.fromEntries(FERPLUS_CLASSES.map((c) => [c, c === 'surprise' ? 1 : 0])));
  const sizes: number[] = [];
  const probs = await teacherProbabilities([a, b], 5, () => new Uint8Array(48 * 48), { batch: 2, onProgress: (done) => sizes.push(done) });
  assert.deepEqual(sizes, [2, 4, 5], 'batches of 2, progress after each');
  const row = Array.from(teacherRow(probs, 4));
  const at = (c: string) => row[FERPLUS_CLASSES.indexOf(c)];
  assert.equal(at('happy'), 0.25);
  assert.equal(at('neutral'), 0.125);
  assert.equal(at('anger'), 0.125);
  assert.equal(at('surprise'), 0.5);
  const seven = fixed('nano-b-wild-7', { anger: 0.1, disgust: 0.1, fear: 0.1, happy: 0.4, neutral: 0.1, sadness: 0.1, surprise: 0.1 });
  assert.throws(() => ferPlusColumns(seven.name, seven.classes), /nano-b-wild-7 lacks FER\+ class contempt/);
  await assert.rejects(teacherProbabilities([a, seven], 1, () => new Uint8Array(48 * 48)), /lacks FER\+ class contempt/);
});

test('teacher directory round trip (Float32 LE); item count or item key mismatch refused; corrupted probs.bin refused', () => {
  const dir = tmpDir('fer-teacher-');
  const items = ['train/happy/Training_1.jpg', 'train/sad/Training_2.jpg', 'train/sad/Training_3.jpg'].map(item);
  const probs = new Float32Array(3 * 8).map((_, i) => (i % 8) / 28 + i * 1e-7);
  const json = writeTeacher(dir, items, probs, { models: ['x', 'y'], tta: 'flip' });
  assert.equal(fs.statSync(path.join(dir, 'probs.bin')).size, 3 * 8 * 4);
  assert.equal(fs.readFileSync(path.join(dir, 'probs.bin')).readFloatLE(4 * 9), probs[9], 'little-endian float32, row-major');
  const t = readTeacher(dir);
  assert.deepEqual(Array.from(t.probs), Array.from(probs));
  assert.deepEqual({ models: t.json.models, tta: t.json.tta, classes: t.json.classes, n: t.json.n, itemsKey: t.json.itemsKey }, { models: ['x', 'y'], tta: 'flip', classes: FERPLUS_CLASSES, n: 3, itemsKey: ferItemsKey(items) });
  assert.ok(!Number.isNaN(Date.parse(String(json.createdAt))));
  assert.match(t.source, new RegExp(`^${path.basename(dir)}#[0-9a-f]{12}$`));
  checkTeacher(t, items); // same items: accepted
  assert.throws(() => checkTeacher(t, items.slice(0, 2)), /has 3 rows but training uses 2 images/);
  assert.throws(() => checkTeacher(t, [items[0], items[2], items[1]]), /built for other training items/, 'same items in another order');
  assert.throws(() => checkTeacher(t, [items[0], items[1], item('train/sad/Training_4.jpg')]), /built for other training items/);
  const buf = fs.readFileSync(path.join(dir, 'probs.bin'));
  buf[5] ^= 1;
  fs.writeFileSync(path.join(dir, 'probs.bin'), buf);
  assert.throws(() => readTeacher(dir), /sha256 differs/);
  fs.writeFileSync(path.join(dir, 'probs.bin'), buf.subarray(0, 40));
  assert.throws(() => readTeacher(dir), /has 40 bytes, expected 3 × 8/);
  fs.rmSync(path.join(dir, 'teacher.json'));
  assert.throws(() => readTeacher(dir), /teacher\.json missing/);
});

test('config key: unchanged without a teacher (old checkpoints resume); teacher and alpha enter it and are named in a mismatch', () => {
  const cfg: FerTrainConfig = { ...DEFAULT_FER_CONFIG, variant: 'nano-a', spec: variantSpec('nano-a') };
  // The key as it was before distillation existed.
  const before = JSON.stringify({ v: cfg.variant, s: cfg.spec, b: cfg.batchSize, lr: cfg.lr, wd: cfg.weightDecay, w: cfg.warmupEpochs, mf: cfg.minLrFraction, seed: cfg.seed, a7: cfg.aux7Weight, ls: cfg.labelSmoothing7, ema: cfg.emaDecay, a: cfg.augment, n: 100 });
  assert.equal(ferConfigKey(cfg, 100), before);
  assert.equal(ferConfigKey({ ...cfg, teacher: null }, 100), before);
  const kd = ferConfigKey({ ...cfg, teacher: { source: 'ab-flip#0123456789ab', alpha: 0.5 } }, 100);
  assert.notEqual(kd, before);
  assert.deepEqual(keyDifferences(before, kd), ['--teacher (checkpoint: none, now: "ab-flip#0123456789ab")', '--kd (checkpoint: none, now: 0.5)']);
  assert.deepEqual(keyDifferences(kd, ferConfigKey({ ...cfg, teacher: { source: 'ab-flip#0123456789ab', alpha: 0.3 } }, 100)), ['--kd (checkpoint: 0.5, now: 0.3)']);
});

test('FER2013 head distillation: target = (1 - alpha) · smoothed label + alpha · teacher (exact); makeBatch uses it only with cfg.teacher7 and only for samples with a row', () => {
  const teacher = new Float32Array([0.5, 0, 0.25, 0.125, 0.125, 0, 0]);
  const out = new Float32Array(9);
  mixTarget7(3, 0.1, teacher, 0.25, out, 2);
  const smoothed = FER2013_CLASSES.map((_, c) => 0.1 / 7 + (c === 3 ? 0.9 : 0));
  smoothed.forEach((v, c) => assert.ok(Math.abs(out[2 + c] - (0.75 * v + 0.25 * teacher[c])) < 1e-7, `class ${c}`));
  assert.equal(out[0] + out[1], 0, 'nothing written before the offset');
  assert.ok(Math.abs(out.reduce((a, b) => a + b, 0) - 1) < 1e-6, 'still a distribution');
  assert.throws(() => mixTarget7(0, 0.1, new Float32Array(8), 0.5, out), /must have 7 values/);

  const cfg: FerTrainConfig = { ...DEFAULT_FER_CONFIG, variant: 'nano-b', spec: variantSpec('nano-b'), augment: null, labelSmoothing7: 0.1 };
  const px = new Uint8Array(48 * 48);
  const samples: FerSample[] = [
    { data: px, soft8: null, label7: 3, teacher7: teacher },
    { data: px, soft8: null, label7: 1 }, // no teacher row: plain smoothed label
  ];
  const plain = makeBatch(samples, [0, 1], 48, Math.random, cfg);
  assert.ok(Math.abs(plain.target7[3] - (0.9 + 0.1 / 7)) < 1e-6, 'without cfg.teacher7 the row is ignored');
  const kd = makeBatch(samples, [0, 1], 48, Math.random, { ...cfg, teacher7: { source: 't#0', alpha: 0.25 } });
  const want = new Float32Array(7);
  mixTarget7(3, 0.1, teacher, 0.25, want);
  assert.deepEqual(Array.from(kd.target7.slice(0, 7)), Array.from(want));
  assert.deepEqual(Array.from(kd.target7.slice(7)), Array.from(plain.target7.slice(7)));
});

test('FER2013 teacher: 7-class and 8-class models mapped to FER2013 order (contempt dropped, renormalised), written and read back as a 7-column teacher; each option refuses the other head', async () => {
  const seven = fixed('m7', { sad: 0.5, happy: 0.25, neutral: 0.25, angry: 0, disgust: 0, fear: 0, surprise: 0 });
  const eight = fixed('m8', { contempt: 0.5, happiness: 0.5, neutral: 0, sadness: 0, anger: 0, disgust: 0, fear: 0, surprise: 0 });
  assert.deepEqual(teacherColumns('m7', seven.classes, 'fer2013'), FER2013_CLASSES.map((c) => seven.classes.indexOf(c === 'anger' ? 'angry' : c === 'sadness' ? 'sad' : c)));
  const probs = await teacherProbabilities([seven, eight], 3, () => new Uint8Array(48 * 48), { head: 'fer2013', batch: 2 });
  assert.equal(probs.length, 3 * 7);
  const row = Array.from(teacherRow(probs, 2, 7));
  const at = (c: string) => row[FER2013_CLASSES.indexOf(c)];
  // m7: sad .5, happy .25, neutral .25; m8 without contempt: happy 1.0 → mean.
  assert.ok(Math.abs(at('sadness') - 0.25) < 1e-6 && Math.abs(at('happy') - 0.625) < 1e-6 && Math.abs(at('neutral') - 0.125) < 1e-6, row.join(','));
  await assert.rejects(teacherProbabilities([seven], 1, () => new Uint8Array(48 * 48)), /lacks FER\+ class contempt/);

  const dir = tmpDir('fer-teacher7-');
  const items = [item('a.png'), item('b.png'), item('c.png')];
  const json = writeTeacher(dir, items, probs, { models: ['m7', 'm8'], tta: 'none', head: 'fer2013' });
  assert.deepEqual(json.classes, FER2013_CLASSES);
  assert.equal('head' in json, false, 'the head is implied by the classes');
  const t = readTeacher(dir);
  assert.deepEqual([t.head, t.k, t.probs.length], ['fer2013', 7, 21]);
  assert.deepEqual(Array.from(teacherRow(t.probs, 2, t.k)), row.map((v) => Math.fround(v)));
  checkTeacher(t, items);
  checkTeacherHead(t, 'fer2013', '--teacher7');
  assert.throws(() => checkTeacherHead(t, 'ferplus', '--teacher'), /--teacher .* is a FER2013 teacher .*--teacher takes a FER\+ teacher/);
  assert.throws(() => writeTeacher(dir, items, new Float32Array(24), { models: ['m'], tta: 'none', head: 'fer2013' }), /expected 3 × 7/);
  // A probs.bin of the wrong width for its classes is refused.
  fs.writeFileSync(path.join(dir, 'probs.bin'), Buffer.alloc(3 * 8 * 4));
  assert.throws(() => readTeacher(dir), /expected 3 × 7 float32/);
  const jf = path.join(dir, 'teacher.json');
  fs.writeFileSync(jf, JSON.stringify({ ...json, classes: ['a', 'b'] }));
  assert.throws(() => readTeacher(dir), /neither the FER\+ classes .* nor the FER2013 classes/);
});

test('config key: a FER2013 teacher and its alpha enter the key only when set and are named in a mismatch', () => {
  const cfg: FerTrainConfig = { ...DEFAULT_FER_CONFIG, variant: 'nano-a', spec: variantSpec('nano-a') };
  const base = ferConfigKey(cfg, 100);
  assert.equal(ferConfigKey({ ...cfg, teacher7: null }, 100), base);
  const kd7 = ferConfigKey({ ...cfg, teacher7: { source: 'ab7-flip#0123456789ab', alpha: 0.5 } }, 100);
  assert.deepEqual(keyDifferences(base, kd7), ['--teacher7 (checkpoint: none, now: "ab7-flip#0123456789ab")', '--kd7 (checkpoint: none, now: 0.5)']);
});

const cli = (script: string, args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli', script), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120000 });

test('fer:teacher CLI on a tiny FER folder: the training items of train:fer, the shipped models averaged with flip; train:fer refuses a teacher for other items', async () => {
  const data = tmpDir('fer-tiny-');
  writeTinyFer(data);
  const out = path.join(tmpDir('fer-teacher-cli-'), 'ab-flip');
  const r = cli('fer-teacher.ts', ['--models', 'nano-a-wild,nano-b-wild', '--tta', 'flip', '--data', data, '--out', out, '--limit', '4', '--batch', '3', '--backend', 'wasm']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /4\/4 images, [\d.]+ images\/s/);
  const t = readTeacher(out);
  const items = ferTrainItems(selectFer(loadFerIndex(data)), 4);
  assert.equal(items.length, 4);
  checkTeacher(t, items);
  assert.deepEqual([t.json.models, t.json.tta, t.json.limit], [['nano-a-wild', 'nano-b-wild'], 'flip', 4]);
  // Row 2 = the ensemble's mirror-averaged probabilities of that image.
  const px = (await import('../../src/train/fer')).loadFerPixels(data, [items[2]])[0];
  const want = new Float32Array(8);
  for (const m of ['nano-a-wild', 'nano-b-wild']) {
    const clf = await load({ model: m, tta: 'flip', backend: 'wasm', logger: silentLogger });
    const p = (await clf.classify([{ width: 48, height: 48, data: px }]))[0].probabilities;
    FERPLUS_CLASSES.forEach((c, k) => (want[k] += p[c] / 2));
    clf.dispose();
  }
  teacherRow(t.probs, 2).forEach((v, k) => assert.ok(Math.abs(v - want[k]) < 1e-5, `${FERPLUS_CLASSES[k]}: ${v} vs ${want[k]}`));
  assert.throws(() => checkTeacher(t, ferTrainItems(selectFer(loadFerIndex(data)))), /has 4 rows but training uses 5 images/);
  const bad = cli('fer-teacher.ts', ['--models', 'nano-b-wild-7', '--data', data, '--out', path.join(out, '..', 'x'), '--limit', '1', '--backend', 'wasm']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /nano-b-wild-7 lacks FER\+ class contempt/);
  // train:fer checks the teacher against its items before anything else loads.
  const tr = cli('train-fer.ts', ['--variant', 'nano-a', '--data', data, '--teacher', out, '--kd', '0.5', '--work', path.join(data, 'work'), '--out', path.join(data, 'models'), '--epochs', '1', '--backend', 'wasm']);
  assert.notEqual(tr.status, 0);
  assert.match(tr.stderr, /train-fer: Teacher .* has 4 rows but training uses 5 images; build it with the same --data and --limit/);
  assert.ok(!fs.existsSync(path.join(data, 'work')), 'nothing written');
  // With the same --limit it trains; the exported model records teacher and alpha.
  const ok = cli('train-fer.ts', ['--variant', 'nano-a', '--data', data, '--teacher', out, '--kd', '0.25', '--limit', '4', '--batch', '4', '--epochs', '1', '--val-limit', '2', '--no-augment', '--quiet', '--work', path.join(data, 'work'), '--out', path.join(data, 'models'), '--name', 'kd', '--backend', 'wasm']);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stderr, /FER\+ targets: 0\.75 × votes \+ 0\.25 × teacher ab-flip#[0-9a-f]{12} \(nano-a-wild \+ nano-b-wild, tta flip\)/);
  const training = JSON.parse(fs.readFileSync(path.join(data, 'models', 'kd', 'model.json'), 'utf8')).training;
  assert.deepEqual(training.config.teacher, { source: t.source, alpha: 0.25 });
  assert.deepEqual([training.distillation.teacher, training.distillation.alpha, training.distillation.models], [t.source, 0.25, ['nano-a-wild', 'nano-b-wild']]);
  const ckKey = JSON.parse(JSON.parse(fs.readFileSync(path.join(data, 'work', 'model.json'), 'utf8')).training.key);
  assert.deepEqual([ckKey.kdt, ckKey.kd], [t.source, 0.25]);
  const kdOut = cli('train-fer.ts', ['--variant', 'nano-a', '--data', data, '--teacher', out, '--kd', '1.5']);
  assert.match(kdOut.stderr, /--kd must be in \[0, 1\] \(got 1\.5\)/);
});

test('fer:teacher --head fer2013 from the -7 models and train:fer --teacher7: targets printed, recorded in the model and the checkpoint key; wrong-head teachers refused', async () => {
  const data = tmpDir('fer-tiny7-');
  writeTinyFer(data);
  const out = path.join(tmpDir('fer-teacher7-cli-'), 'ab7');
  const r = cli('fer-teacher.ts', ['--models', 'nano-a-wild-7,nano-b-wild-7', '--head', 'fer2013', '--data', data, '--out', out, '--limit', '4', '--backend', 'wasm']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /Teacher \(FER2013 head, 7 classes\)/);
  const t = readTeacher(out);
  assert.deepEqual([t.head, t.k, t.json.n], ['fer2013', 7, 4]);
  // Row 1 = the average of the two models' FER2013 probabilities of that image.
  const items = ferTrainItems(selectFer(loadFerIndex(data)), 4);
  const px = (await import('../../src/train/fer')).loadFerPixels(data, [items[1]])[0];
  const want = new Float32Array(7);
  for (const m of ['nano-a-wild-7', 'nano-b-wild-7']) {
    const clf = await load({ model: m, backend: 'wasm', logger: silentLogger });
    const p = (await clf.classify([{ width: 48, height: 48, data: px }]))[0].probabilities;
    FER2013_CLASSES.forEach((c, k) => (want[k] += p[c] / 2));
    clf.dispose();
  }
  teacherRow(t.probs, 1, 7).forEach((v, k) => assert.ok(Math.abs(v - want[k]) < 1e-5, `${FER2013_CLASSES[k]}: ${v} vs ${want[k]}`));
  const badHead = cli('fer-teacher.ts', ['--models', 'nano-a-wild-7', '--head', 'fer7', '--data', data, '--out', path.join(out, '..', 'y')]);
  assert.match(badHead.stderr, /--head must be one of ferplus, fer2013/);

  const common = ['--variant', 'nano-b', '--data', data, '--limit', '4', '--batch', '4', '--epochs', '1', '--val-limit', '2', '--no-augment', '--quiet', '--backend', 'wasm'];
  const wrong = cli('train-fer.ts', [...common, '--teacher', out, '--work', path.join(data, 'w0'), '--out', path.join(data, 'm0')]);
  assert.match(wrong.stderr, /--teacher .* is a FER2013 teacher/);
  assert.ok(!fs.existsSync(path.join(data, 'w0')), 'nothing written');
  const noTeacher = cli('train-fer.ts', [...common, '--kd7', '0.5']);
  assert.match(noTeacher.stderr, /--kd7 needs --teacher7 <dir>/);
  const ok = cli('train-fer.ts', [...common, '--teacher7', out, '--kd7', '0.4', '--w8', '0', '--aux7', '1', '--select', 'fer2013', '--work', path.join(data, 'work'), '--out', path.join(data, 'models'), '--name', 'kd7']);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stderr, /FER2013 targets: 0\.6 × smoothed label \+ 0\.4 × teacher ab7#[0-9a-f]{12} \(nano-a-wild-7 \+ nano-b-wild-7, tta none\)/);
  const training = JSON.parse(fs.readFileSync(path.join(data, 'models', 'kd7-7', 'model.json'), 'utf8')).training;
  assert.deepEqual(training.config.teacher7, { source: t.source, alpha: 0.4 });
  assert.deepEqual([training.distillation7.teacher, training.distillation7.alpha, training.distillation7.models], [t.source, 0.4, ['nano-a-wild-7', 'nano-b-wild-7']]);
  const ckKey = JSON.parse(JSON.parse(fs.readFileSync(path.join(data, 'work', 'model.json'), 'utf8')).training.key);
  assert.deepEqual([ckKey.kdt7, ckKey.kd7, ckKey.kdt], [t.source, 0.4, undefined]);
  // An 8-class FER+ teacher is refused by --teacher7.
  const t8 = path.join(tmpDir('fer-teacher8-'), 't8');
  writeTeacher(t8, items, new Float32Array(4 * 8).fill(0.125), { models: ['x'], tta: 'none' });
  const wrong7 = cli('train-fer.ts', [...common, '--teacher7', t8, '--work', path.join(data, 'w1'), '--out', path.join(data, 'm1')]);
  assert.match(wrong7.stderr, /--teacher7 .* is a FER\+ teacher .*--teacher7 takes a FER2013 teacher/);
});
