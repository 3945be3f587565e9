import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { PNG } from 'pngjs';
import { canonicalLabel, loadLabelledFolder, Sample, subjectByPattern, subjectFolds, subjectOf } from '../../src/train/data';
import { tmpDir } from '../model/helpers';
import { computeMetrics, meanStd } from '../../src/train/metrics';
import { augmentInto } from '../../src/train/augment';
import { mulberry32 } from '../../src/model/graph';

const CK = path.resolve(__dirname, '../../../shared/datasets/ck-plus');

test('class folder synonyms map to canonical labels', () => {
  const pairs: Array<[string, string | null]> = [
    ['anger', 'anger'], ['Angry', 'anger'], ['happy', 'happy'], ['Happiness', 'happy'], ['sad', 'sadness'], ['sadness', 'sadness'],
    ['fearful', 'fear'], ['FEAR', 'fear'], ['disgusted', 'disgust'], ['surprised', 'surprise'], ['contempt', 'contempt'], ['neutral', 'neutral'],
    ['mad', 'anger'], ['afraid', 'fear'], ['smile', 'happy'], ['calm', 'neutral'], ['contemptuous', 'contempt'],
    ['cats', null], ['', null], ['constructor', null],
  ];
  for (const [a, b] of pairs) assert.equal(canonicalLabel(a), b, a);
  assert.equal(subjectOf('S010_004_00000017.png'), 'S010');
  assert.equal(subjectOf('face.png'), null);
});

test('--subject pattern: the person from the file name (first group or whole match); a file that does not match is an error, not its own subject', async () => {
  assert.equal(subjectByPattern('anna_03.png', /^([^_]+)_/i), 'anna');
  assert.equal(subjectByPattern('/x/y/bob-1.jpg', /^[a-z]+/i), 'bob');
  assert.equal(subjectByPattern('Anna_01.png', /^([^_]+)_/i), subjectByPattern('anna_02.png', /^([^_]+)_/i), 'one person whatever the case');
  assert.equal(subjectByPattern('IMG_0001.png', /^(p\d+)_/i), null);
  assert.equal(subjectByPattern('a_1.png', /^([^_]+)_/gi), 'a', 'a global flag does not carry state between files');
  assert.equal(subjectByPattern('b_1.png', /^([^_]+)_/gi), 'b');
  const dir = tmpDir();
  const png = PNG.sync.write(Object.assign(new PNG({ width: 48, height: 48, colorType: 0, inputColorType: 0 }), { data: Buffer.alloc(48 * 48, 90) }), { colorType: 0, inputColorType: 0 });
  for (const [cls, f] of [['happy', 'anna_01.png'], ['happy', 'bob_01.png'], ['sad', 'anna_02.png'], ['sad', 'bob_02.png']]) {
    fs.mkdirSync(path.join(dir, cls), { recursive: true });
    fs.writeFileSync(path.join(dir, cls, f), png);
  }
  const plain = await loadLabelledFolder(dir);
  assert.equal(new Set(plain.samples.map((s) => s.subject)).size, 4, 'without a pattern: each file its own subject');
  const byName = await loadLabelledFolder(dir, { subjectPattern: /^([^_]+)_/i });
  assert.deepEqual(byName.samples.map((s) => [path.basename(s.file), s.subject]), [['anna_01.png', 'anna'], ['bob_01.png', 'bob'], ['anna_02.png', 'anna'], ['bob_02.png', 'bob']]);
  const folds = subjectFolds(byName.samples, 2, 1);
  for (const f of folds) assert.equal(new Set(f.map((i) => byName.samples[i].subject)).size, 1, 'each person in one fold');
  // Files that are not images by their extension are listed (hidden files are not), not silently dropped.
  fs.writeFileSync(path.join(dir, 'happy', 'cara_01.webp'), png);
  fs.writeFileSync(path.join(dir, 'sad', 'dan.gif'), png);
  fs.writeFileSync(path.join(dir, 'sad', '.DS_Store'), 'x');
  assert.deepEqual((await loadLabelledFolder(dir)).notImages.map((f) => path.relative(dir, f)), [path.join('happy', 'cara_01.webp'), path.join('sad', 'dan.gif')]);
  // BMP is not decoded by src/image: listed with the other non-images, not tried and reported unreadable.
  // A dangling symlink (e.g. a synced alias) is listed too, not a crash; a subfolder is not listed.
  fs.writeFileSync(path.join(dir, 'happy', 'eve_01.bmp'), Buffer.concat([Buffer.from('BM'), Buffer.alloc(60)]));
  fs.symlinkSync(path.join(dir, 'gone.txt'), path.join(dir, 'happy', 'notes.txt'));
  fs.mkdirSync(path.join(dir, 'happy', 'rejects'));
  const listed = await loadLabelledFolder(dir);
  assert.deepEqual(listed.notImages.map((f) => path.relative(dir, f)), [path.join('happy', 'cara_01.webp'), path.join('happy', 'eve_01.bmp'), path.join('happy', 'notes.txt'), path.join('sad', 'dan.gif')]);
  assert.deepEqual(listed.unreadable, []);
  for (const f of ['eve_01.bmp', 'notes.txt']) fs.rmSync(path.join(dir, 'happy', f));
  fs.writeFileSync(path.join(dir, 'sad', 'IMG_7.png'), png);
  await assert.rejects(loadLabelledFolder(dir, { subjectPattern: /^([a-z]+)_/ }), /sad\/IMG_7\.png does not match the subject pattern \/\^\(\[a-z\]\+\)_\/ \(every image needs a subject\)/);
});

test('a symlink to a class folder is a class folder (e.g. a subset of a dataset made of links), not silently skipped', async () => {
  const dir = tmpDir();
  const png = PNG.sync.write(Object.assign(new PNG({ width: 48, height: 48, colorType: 0, inputColorType: 0 }), { data: Buffer.alloc(48 * 48, 90) }), { colorType: 0, inputColorType: 0 });
  const store = path.join(dir, 'store');
  const data = path.join(dir, 'data');
  for (const [cls, f] of [['anger', 'S010_004_00000017.png'], ['happy', 'S011_006_00000013.png'], ['fear', 'S012_001_00000020.png']]) {
    fs.mkdirSync(path.join(cls === 'fear' ? data : store, cls), { recursive: true });
    fs.writeFileSync(path.join(cls === 'fear' ? data : store, cls, f), png);
  }
  fs.symlinkSync(path.join(store, 'anger'), path.join(data, 'anger'));
  fs.symlinkSync(path.join(store, 'happy'), path.join(data, 'happy'));
  fs.symlinkSync(path.join(dir, 'gone'), path.join(data, 'sad')); // dangling: no class folder, no crash
  const ds = await loadLabelledFolder(data);
  assert.deepEqual(ds.classes, ['anger', 'fear', 'happy']);
  assert.deepEqual(ds.samples.map((s) => [ds.classes[s.label], s.subject]), [['anger', 'S010'], ['fear', 'S012'], ['happy', 'S011']]);
});

test('subjectFolds: every sample once, no subject in two folds, balanced sizes', () => {
  const samples: Sample[] = [];
  for (let s = 0; s < 30; s++) for (let k = 0; k < 1 + (s % 4); k++) samples.push({ data: new Uint8Array(1), label: 0, subject: `S${s}`, file: '' });
  const folds = subjectFolds(samples, 10, 1);
  assert.equal(folds.flat().length, samples.length);
  assert.equal(new Set(folds.flat()).size, samples.length);
  const where = new Map<string, number>();
  folds.forEach((f, i) => f.forEach((j) => {
    const s = samples[j].subject;
    assert.ok(!where.has(s) || where.get(s) === i, `subject ${s} in two folds`);
    where.set(s, i);
  }));
  const sizes = folds.map((f) => f.length);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 4, sizes.join(','));
  assert.deepEqual(subjectFolds(samples, 10, 1), folds, 'deterministic for a seed');
  assert.throws(() => subjectFolds(samples.slice(0, 3), 10), /subject-independent folds/);
  for (const k of [0, 1, 2.5, -3]) assert.throws(() => subjectFolds(samples, k), /whole number of folds >= 2, got/, String(k));
});

test('metrics: accuracy, recall, macro-F1 and mean ± std', () => {
  const m = computeMetrics(['a', 'b'], [0, 0, 1, 1], [0, 1, 1, 1]);
  assert.equal(m.accuracy, 0.75);
  assert.deepEqual(m.confusion, [[1, 1], [0, 2]]);
  assert.equal(m.perClass.a.recall, 0.5);
  assert.equal(m.perClass.b.precision, 2 / 3);
  assert.ok(Math.abs(m.macroF1 - (2 / 3 + 0.8) / 2) < 1e-12);
  const s = meanStd([1, 2, 3]);
  assert.equal(s.mean, 2);
  assert.equal(s.std, 1);
});

test('augmentation is seeded and stays in range', () => {
  const src = new Uint8Array(48 * 48).map((_, i) => i % 256);
  const a = new Float32Array(48 * 48);
  const b = new Float32Array(48 * 48);
  augmentInto(src, 48, a, 0, mulberry32(5));
  augmentInto(src, 48, b, 0, mulberry32(5));
  assert.deepEqual(a, b);
  assert.ok(a.every((v) => v >= 0 && v <= 255));
});

test('CK+ ck48: 10 subject-independent folds (needs ../shared/datasets)', async (t) => {
  if (!fs.existsSync(path.join(CK, 'ck48'))) {
    t.skip(`dataset not found at ${CK} (research-use data is not part of the repository)`);
    return;
  }
  const ds = await loadLabelledFolder(path.join(CK, 'ck48'));
  assert.deepEqual(ds.classes, ['anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise']);
  assert.equal(ds.samples.length, 789);
  assert.equal(new Set(ds.samples.map((s) => s.subject)).size, 94);
  const folds = subjectFolds(ds.samples, 10, 1);
  const subjectsPerFold = folds.map((f) => new Set(f.map((i) => ds.samples[i].subject)));
  for (let i = 0; i < 10; i++) for (let j = i + 1; j < 10; j++) for (const s of subjectsPerFold[i]) assert.ok(!subjectsPerFold[j].has(s));
});
