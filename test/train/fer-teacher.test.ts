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
import { mulberry32 } from '../../src/model/graph';
import { variantSpec } from '../../src/model/spec';
import { encodeJpeg } from '../../src/image';
import { FERPLUS_CLASSES, FerItem, ferItemsKey, ferTrainItems, loadFerIndex, selectFer, softTarget } from '../../src/train/fer';
import { checkTeacher, ferPlusColumns, mixSoftTarget, readTeacher, teacherProbabilities, teacherRow, writeTeacher } from '../../src/train/fer-teacher';
import { DEFAULT_FER_CONFIG, ferConfigKey, FerTrainConfig, keyDifferences } from '../../src/train/fer-trainer';
import { tmpDir } from '../model/helpers';

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

/** A tiny fer2013-shaped folder: 6 Training images (one without FER+ votes) + 2 PublicTest. */
function writeTinyFer(dir: string): void {
  const rand = mulberry32(3);
  const man = ['path,label,split'];
  const map = ['path,usage,ferplus_image,ferplus_rows,match'];
  const ferp = ['Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF'];
  const add = (split: string, cls: string, i: number, votes: number[] | null) => {
    const folder = split === 'Training' ? 'train' : 'publictest';
    const rel = `${folder}/${cls}/${split}_${i}.jpg`;
    fs.mkdirSync(path.join(dir, folder, cls), { recursive: true });
    const px = new Uint8Array(48 * 48).map(() => Math.floor(rand() * 256));
    fs.writeFileSync(path.join(dir, rel), encodeJpeg({ width: 48, height: 48, data: px }, { quality: 90 }));
    man.push(`${rel},${cls},${split}`);
    if (!votes) map.push(`${rel},${split},,,none`);
    else {
      ferp.push(`${split},fer${i}.png,${votes.join(',')}`);
      map.push(`${rel},${split},fer${i}.png,${ferp.length - 2},unique`);
    }
  };
  for (let i = 0; i < 6; i++) add('Training', i % 2 ? 'sad' : 'happy', i, i === 3 ? null : i % 2 ? [3, 0, 0, 7, 0, 0, 0, 0, 0, 0] : [2, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
  for (let i = 0; i < 2; i++) add('PublicTest', i % 2 ? 'sad' : 'happy', 100 + i, [2, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
  fs.writeFileSync(path.join(dir, 'manifest.csv'), man.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'ferplus_map.csv'), map.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'fer2013new.csv'), ferp.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'duplicates.csv'), 'path,label,split,md5\n');
}

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
