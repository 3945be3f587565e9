import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { PNG } from 'pngjs';
 
const UTIF = require('utif2') as { encodeImage(rgba: Uint8Array, w: number, h: number): ArrayBuffer };
import { encodeJpeg } from '../../src/image';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { evaluateFolder } from '../../src/cli/eval';
import { variantSpec } from '../../src/model/spec';
import { load } from '../../src/model';
import { grayImage, tmpDir, writeRandomModel } from '../model/helpers';

const ROOT = path.resolve(__dirname, '../..');
let modelDir = '';
let dataDir = '';

function pngGray(w: number, h: number, seed: number): Buffer {
  const png = new PNG({ width: w, height: h });
  const g = grayImage(seed, Math.max(w, h)).data;
  for (let i = 0; i < w * h; i++) {
    png.data[i * 4] = png.data[i * 4 + 1] = png.data[i * 4 + 2] = g[i];
    png.data[i * 4 + 3] = 255;
  }
  return PNG.sync.write(png, { colorType: 0 });
}

function pngPalette(seed: number): Buffer {
  const png = new PNG({ width: 40, height: 40 });
  const g = grayImage(seed, 40).data;
  for (let i = 0; i < 1600; i++) {
    const v = g[i] & 0xc0; // few colours
    png.data.set([v, 255 - v, v >> 1, 255], i * 4);
  }
  return PNG.sync.write(png, { colorType: 2 });
}

before(async () => {
  await selectBackend({ backend: 'wasm', logger: silentLogger });
  const dir = tmpDir();
  modelDir = await writeRandomModel(path.join(dir, 'model'), 'nano-b');
  dataDir = path.join(dir, 'data');
  const put = (folder: string, name: string, buf: Buffer | Uint8Array) => {
    fs.mkdirSync(path.join(dataDir, folder), { recursive: true });
    fs.writeFileSync(path.join(dataDir, folder, name), buf);
  };
  // formats and sizes: gray PNG 48, colour JPEG 64x80, TIFF, palette-ish RGB PNG; synonyms
  put('Happy', 'a.png', pngGray(48, 48, 1));
  put('Happy', 'b.png', pngGray(48, 48, 2));
  put('angry', 'c.jpg', encodeJpeg({ width: 64, height: 80, channels: 3, data: new Uint8Array(64 * 80 * 3).map((_, i) => (i * 7) % 255) }));
  const rgba = new Uint8Array(50 * 50 * 4).map((_, i) => (i % 4 === 3 ? 255 : (i * 13) % 251));
  put('surprised', 'd.tif', new Uint8Array(UTIF.encodeImage(rgba, 50, 50)));
  put('sadness', 'e.png', pngPalette(3));
  put('neutral', 'f.png', pngGray(48, 48, 4)); // the 7-class model lacks neutral
  put('holiday-snaps', 'g.png', pngGray(48, 48, 5)); // unknown folder
  put('Happy', 'broken.png', Buffer.from('not a png at all'));
  put('Happy', 'notes.txt', Buffer.from('ignored'));
});

test('evaluateFolder: synonyms, any format/size, skipped classes and folders reported, metrics consistent', async () => {
  const r = await evaluateFolder({ data: dataDir, model: modelDir });
  assert.equal(r.images, 5);
  assert.deepEqual(r.skipped.classesNotInModel, [{ class: 'neutral', images: 1 }]);
  assert.deepEqual(r.skipped.unknownFolders, ['holiday-snaps']);
  assert.equal(r.skipped.unreadable.length, 1);
  assert.match(r.skipped.unreadable[0].file, /broken\.png$/);
  const m = r.confusion.matrix;
  assert.equal(m.length, 7);
  assert.equal(m.flat().reduce((a, b) => a + b, 0), 5);
  const idx = (c: string) => r.classes.indexOf(c);
  assert.equal(m[idx('happy')].reduce((a, b) => a + b, 0), 2);
  assert.equal(m[idx('anger')].reduce((a, b) => a + b, 0), 1);
  assert.equal(m[idx('surprise')].reduce((a, b) => a + b, 0), 1);
  assert.equal(m[idx('sadness')].reduce((a, b) => a + b, 0), 1);
  const correct = r.classes.reduce((s, _, i) => s + m[i][i], 0);
  assert.equal(r.accuracy, correct / 5);
  assert.ok(r.macroF1 >= 0 && r.macroF1 <= 1);
  assert.deepEqual(Object.keys(r.perClassRecall).sort(), [...r.classes].sort());
});

test('npm run eval -- --json prints the report; bad folders give a clear error and exit code 1', () => {
  const ok = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/eval.ts', '--data', dataDir, '--model', modelDir, '--json', '--backend', 'wasm'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  const rep = JSON.parse(ok.stdout);
  for (const k of ['accuracy', 'perClassRecall', 'macroF1', 'confusion', 'skipped']) assert.ok(k in rep, `missing ${k}`);
  assert.equal(rep.images, 5);
  const empty = tmpDir();
  fs.mkdirSync(path.join(empty, 'cats'));
  const bad = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/eval.ts', '--data', empty, '--model', modelDir, '--json'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /No class folders .*unknown folders: cats/);
  const missing = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/eval.ts', '--data', empty, '--model', path.join(empty, 'nomodel')], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /nomodel/);
});

test('evaluateFolder and npm run eval -- --tta flip: mirror averaging, recorded in the report; a bad --tta is a usage error', async () => {
  const plain = await evaluateFolder({ data: dataDir, model: modelDir });
  const flip = await evaluateFolder({ data: dataDir, model: modelDir, tta: 'flip' });
  assert.equal(plain.tta, 'none');
  assert.equal(flip.tta, 'flip');
  assert.equal(flip.images, plain.images);
  assert.equal(flip.confusion.matrix.flat().reduce((a, b) => a + b, 0), 5);
  // The predictions are those of load({ tta: 'flip' }) on the same crops.
  const clf = await load({ model: modelDir, backend: 'wasm', tta: 'flip', logger: silentLogger });
  try {
    const viaClassifier = await evaluateFolder({ data: dataDir }, clf);
    assert.equal(viaClassifier.tta, 'flip');
    assert.deepEqual(viaClassifier.confusion, flip.confusion);
  } finally {
    clf.dispose();
  }
  const ok = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/eval.ts', '--data', dataDir, '--model', modelDir, '--json', '--backend', 'wasm', '--tta', 'flip'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  const rep = JSON.parse(ok.stdout);
  assert.equal(rep.tta, 'flip');
  assert.deepEqual(rep.confusion, flip.confusion);
  const table = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/eval.ts', '--data', dataDir, '--model', modelDir, '--backend', 'wasm', '--tta', 'flip'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /^model model \(wasm, tta flip\) on /);
  for (const bad of [['--tta', 'zoom'], ['--tta']]) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/eval.ts', '--data', dataDir, '--model', modelDir, ...bad], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 2, bad.join(' '));
    assert.match(r.stderr, /--tta: Invalid tta option .*expected one of 'none', 'flip'/);
  }
});

test('evaluateFolder: only classes the model lacks → error naming them', async () => {
  const d = tmpDir();
  fs.mkdirSync(path.join(d, 'neutral'));
  fs.writeFileSync(path.join(d, 'neutral', 'x.png'), pngGray(48, 48, 9));
  await assert.rejects(evaluateFolder({ data: d, model: modelDir }), /No images of the model's classes .*skipped classes the model lacks: neutral/);
  await assert.rejects(evaluateFolder({ data: path.join(d, 'missing'), model: modelDir }), /Data folder not found/);
});

test('evaluateFolder --detect: finds, aligns and classifies the largest face of uncropped photos', async (t) => {
  const photo = path.join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample1.jpg');
  if (!fs.existsSync(photo) || !fs.existsSync(path.join(ROOT, 'models', 'blazeface'))) {
    t.skip('needs the @vladmandic/face-api demo photos (devDependency) and models/blazeface');
    return;
  }
  const d = tmpDir();
  fs.mkdirSync(path.join(d, 'happiness'));
  fs.copyFileSync(photo, path.join(d, 'happiness', 'group.jpg'));
  fs.writeFileSync(path.join(d, 'happiness', 'blank.png'), pngGray(64, 64, 11)); // noise: no face
  const r = await evaluateFolder({ data: d, model: modelDir, detect: true });
  assert.equal(r.images, 1);
  assert.equal(r.skipped.noFace.length, 1);
  assert.match(r.skipped.noFace[0], /blank\.png$/);
  // A custom model with another input size gets face crops of that size, as without --detect.
  const m64 = await writeRandomModel(path.join(d, 'm64'), 'nano-b', ['anger', 'happy', 'sadness'], 3, { ...variantSpec('nano-b'), inputSize: 64 });
  const r64 = await evaluateFolder({ data: d, model: m64, detect: true });
  assert.equal(r64.images, 1);
  // A classifier passed in: cropped with its own framing (not the default model's ck48).
  const wild = await load({ model: m64, logger: silentLogger });
  try {
    Object.defineProperty(wild, 'framing', { value: 'fer2013' });
    assert.equal((await evaluateFolder({ data: d, detect: true }, wild)).framing, 'fer2013');
  } finally {
    wild.dispose();
  }
});

test('npm run train --detect: trains on the face stage\'s crops of uncropped photos, records the framing, and eval --detect uses it', async (t) => {
  const demo = path.join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo');
  if (!fs.existsSync(path.join(demo, 'sample1.jpg')) || !fs.existsSync(path.join(ROOT, 'models', 'blazeface'))) {
    t.skip('needs the @vladmandic/face-api demo photos (devDependency) and models/blazeface');
    return;
  }
  const d = tmpDir();
  for (const [cls, photos] of [['happy', [1, 2, 3]], ['sad', [4, 5, 6]]] as const) {
    fs.mkdirSync(path.join(d, 'data', cls), { recursive: true });
    for (const i of photos) fs.copyFileSync(path.join(demo, `sample${i}.jpg`), path.join(d, 'data', cls, `p${i}.jpg`));
  }
  fs.writeFileSync(path.join(d, 'data', 'sad', 'blank.png'), pngGray(64, 64, 11)); // noise: no face
  const train = (...extra: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/train.ts', '--data', path.join(d, 'data'), '--variant', 'nano-b', '--epochs', '1', '--batch', '4', '--quiet', '--work', path.join(d, 'w'), ...extra], {
      cwd: ROOT,
      encoding: 'utf8',
    });
  const out = path.join(d, 'model');
  const r = train('--detect', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /Skipping 1 images with no face found \(first: .*blank\.png\)/);
  assert.match(r.stderr, /Training on face crops made by the face stage \(--detect, framing fer2013\): 6 images/);
  const json = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
  assert.equal(json.training.framing, 'fer2013');
  assert.equal(json.training.images, 6);
  const framingOf = async (model: string) => {
    const clf = await load({ model, logger: silentLogger });
    clf.dispose();
    return clf.framing;
  };
  assert.equal(await framingOf(out), 'fer2013');
  assert.equal(await framingOf(modelDir), undefined, 'a model trained without --detect records none');
  // eval --detect of the path crops with the recorded framing: the same crops it was trained on.
  const e = await evaluateFolder({ data: path.join(d, 'data'), model: out, detect: true });
  assert.equal(e.images, 6);
  assert.equal(e.framing, 'fer2013');
  assert.equal((await evaluateFolder({ data: path.join(d, 'data'), model: modelDir, detect: true })).framing, 'ck48', 'a path without a recorded framing: ck48 as before');
  // Misuse is refused before any work.
  const noDetect = train('--framing', 'ck48', '--out', path.join(d, 'x'));
  assert.equal(noDetect.status, 2, noDetect.stderr);
  assert.match(noDetect.stderr, /--framing is the crop framing of --detect: add --detect/);
  const unknown = train('--detect', '--framing', 'passport', '--out', path.join(d, 'x'));
  assert.equal(unknown.status, 1, unknown.stderr);
  assert.match(unknown.stderr, /Unknown crop framing "passport" \(known: .*ck48.*fer2013/);
  assert.ok(!fs.existsSync(path.join(d, 'x')), 'nothing written');
});
