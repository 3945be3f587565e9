/**
 * FER2013 / FER+ (issue 6): dataset join, wild augmentation, the two-head resumable trainer,
 * export of the two models and the eval report — on tiny synthetic data written by the test.
 * The checks against the real dataset (../shared/datasets/fer2013) skip when it is absent.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { load } from '../../src/model';
import { mulberry32 } from '../../src/model/graph';
import { readModelDir, writeModelDir } from '../../src/model/io';
import { ArchSpec, variantSpec } from '../../src/model/spec';
import { encodeJpeg } from '../../src/image';
import { FER2013_CLASSES, FERPLUS_CLASSES, loadFerIndex, majorityLabel, readCsv, referenceMajorityLabel, selectFer, softTarget } from '../../src/train/fer';
import { augmentWildInto, blur3x3, WILD_AUGMENT, WILD_AUGMENT_LIGHT, wildAugmentPreset } from '../../src/train/augment-wild';
import { augmentOption, stemStrideOption, trainingDataDescription, widthOption } from '../../src/cli/train-fer';
import { selfTestInputs } from '../../src/model/selftest';
import { exportPretrained, batchGradients, combineGradients, DEFAULT_FER_CONFIG, ferSelfTests, epochOrder, FerSample, FerTrainConfig, FerValSet, foldedFromCheckpoint, makeBatch, splitBatch, splitHeads, trainFer, variableKeys, HEAD_CLASSES, HEAD_OUTPUTS } from '../../src/train/fer-trainer';
import { GradientWorkers } from '../../src/train/fer-workers';
import { registerWasmGradientKernels } from '../../src/train/kernels';
import { initTrainWeights } from '../../src/model/graph';
import { resolveSpec } from '../../src/model/spec';
import { centredAffine, evaluateFerReport, reframe, reframeAffine, scoreSet } from '../../src/cli/eval-fer';
import { ferReport } from '../../src/cli/fer-report';
import { tmpDir } from '../model/helpers';
import { initFromPretrained, loadPretrained } from '../../src/train/trainer';

const ROOT = path.resolve(__dirname, '../..');
const REAL_FER = path.resolve(ROOT, '..', 'shared', 'datasets', 'fer2013');

before(async () => {
  await selectBackend({ backend: 'wasm', logger: silentLogger });
  registerWasmGradientKernels();
});

/** Horizontal (label 0) or vertical (label 1) stripes with random period, phase and noise. */
function stripe(label: number, rand: () => number): Uint8Array {
  const period = 4 + Math.floor(rand() * 5);
  const phase = Math.floor(rand() * period);
  const d = new Uint8Array(48 * 48);
  for (let y = 0; y < 48; y++)
    for (let x = 0; x < 48; x++) {
      const t = label ? x : y;
      d[y * 48 + x] = Math.max(0, Math.min(255, ((t + phase) % period < period / 2 ? 190 : 60) + (rand() - 0.5) * 50));
    }
  return d;
}

const HAPPY8 = FERPLUS_CLASSES.indexOf('happy');
const SAD8 = FERPLUS_CLASSES.indexOf('sadness');
const NEUTRAL8 = FERPLUS_CLASSES.indexOf('neutral');
const HAPPY7 = FER2013_CLASSES.indexOf('happy');
const SAD7 = FER2013_CLASSES.indexOf('sadness');

/** 10 FER+ columns: neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF. */
const VOTES = {
  happy: [2, 8, 0, 0, 0, 0, 0, 0, 0, 0],
  sad: [3, 0, 0, 7, 0, 0, 0, 0, 0, 0],
  unknown: [1, 1, 0, 1, 0, 0, 0, 0, 7, 0],
  notFace: [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],
};

/**
 * A miniature fer2013 folder with the real file layout: 12 Training + 6 PublicTest images,
 * one `none` match, one unknown-majority row, one pixel-identical pair joined by `;`, and one
 * PublicTest image whose md5 twin is in Training.
 */
function writeMiniFer(dir: string): void {
  const rand = mulberry32(5);
  const man = ['path,label,split'];
  const map = ['path,usage,ferplus_image,ferplus_rows,match'];
  const ferp = ['Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF'];
  const dup = ['path,label,split,md5'];
  const addRow = (usage: string, votes: number[]) => {
    ferp.push(`${usage},fer${String(ferp.length - 1).padStart(7, '0')}.png,${votes.join(',')}`);
    return ferp.length - 2;
  };
  const add = (split: 'Training' | 'PublicTest', cls: 'happy' | 'sad', i: number, kind: 'unique' | 'none' | 'unknown' | 'dupPair' | 'twin') => {
    const folder = split === 'Training' ? 'train' : 'publictest';
    const rel = `${folder}/${cls}/${split}_${1000 + i}.jpg`;
    fs.mkdirSync(path.join(dir, folder, cls), { recursive: true });
    const img = stripe(cls === 'happy' ? 0 : 1, rand);
    fs.writeFileSync(path.join(dir, rel), encodeJpeg({ width: 48, height: 48, data: img }, { quality: 95 }));
    man.push(`${rel},${cls},${split}`);
    const votes = cls === 'happy' ? VOTES.happy : VOTES.sad;
    if (kind === 'none') map.push(`${rel},${split},,,none`);
    else if (kind === 'unknown') {
      const r = addRow(split, VOTES.unknown);
      map.push(`${rel},${split},fer${r}.png,${r},unique`);
    } else if (kind === 'dupPair') {
      const a = addRow(split, [4, 6, 0, 0, 0, 0, 0, 0, 0, 0]);
      const b = addRow(split, [2, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
      map.push(`${rel},${split},fera.png;ferb.png,${a};${b},identical_duplicates`);
    } else {
      const r = addRow(split, votes);
      map.push(`${rel},${split},fer${r}.png,${r},unique`);
    }
    if (kind === 'twin') dup.push(`${rel},${cls},${split},deadbeef`, `train/${cls}/Training_1000.jpg,${cls},Training,deadbeef`);
  };
  for (let i = 0; i < 12; i++) add('Training', i % 2 ? 'sad' : 'happy', i, i === 10 ? 'none' : i === 11 ? 'unknown' : i === 2 ? 'dupPair' : 'unique');
  for (let i = 0; i < 6; i++) add('PublicTest', i % 2 ? 'sad' : 'happy', 100 + i, i === 0 ? 'twin' : 'unique');
  fs.writeFileSync(path.join(dir, 'manifest.csv'), man.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'ferplus_map.csv'), map.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'fer2013new.csv'), ferp.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'duplicates.csv'), dup.join('\n') + '\n');
}

test('FER+ majority label and soft target follow the vote columns (outliers removed)', () => {
  assert.deepEqual(majorityLabel(VOTES.happy), { label8: HAPPY8, tied: false });
  assert.equal(majorityLabel(VOTES.unknown).label8, -1, 'unknown majority is not an emotion');
  assert.equal(majorityLabel(VOTES.notFace).label8, -1, 'NF majority is not an emotion');
  assert.deepEqual(majorityLabel([5, 5, 0, 0, 0, 0, 0, 0, 0, 0]), { label8: NEUTRAL8, tied: true });
  assert.equal(majorityLabel(new Array(10).fill(0)).label8, -1);
  const t = softTarget([6, 3, 1, 0, 0, 0, 0, 0, 0, 0]) as Float32Array;
  assert.ok(Math.abs(t[NEUTRAL8] - 6 / 9) < 1e-6 && Math.abs(t[HAPPY8] - 3 / 9) < 1e-6, 'single vote for surprise removed');
  assert.equal(t[FERPLUS_CLASSES.indexOf('surprise')], 0);
  const s = softTarget([1, 1, 0, 0, 0, 0, 0, 0, 8, 0]) as Float32Array;
  assert.ok(Math.abs(s[NEUTRAL8] - 0.5) < 1e-6, 'only single votes left → kept');
  assert.equal(softTarget(VOTES.notFace), null);
});

test("FER+ authors' majority protocol: single votes removed (all 10 columns), strictly more than half of the rest, unknown / not-a-face dropped", () => {
  // Columns: neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF.
  assert.equal(referenceMajorityLabel(VOTES.happy), HAPPY8);
  assert.equal(referenceMajorityLabel(VOTES.sad), SAD8);
  assert.equal(referenceMajorityLabel([3, 0, 0, 0, 0, 0, 0, 7, 0, 0]), FERPLUS_CLASSES.indexOf('contempt'), 'a class index, not the vote column');
  assert.equal(referenceMajorityLabel([0, 0, 6, 0, 0, 0, 4, 0, 0, 0]), FERPLUS_CLASSES.indexOf('surprise'));
  // Ties never have a majority (the plurality label takes the earlier column).
  assert.equal(referenceMajorityLabel([5, 5, 0, 0, 0, 0, 0, 0, 0, 0]), -1);
  assert.deepEqual(majorityLabel([5, 5, 0, 0, 0, 0, 0, 0, 0, 0]), { label8: NEUTRAL8, tied: true });
  // Exactly half of the remaining votes is not a majority; one vote more is.
  assert.equal(referenceMajorityLabel([4, 0, 0, 2, 0, 2, 0, 0, 0, 0]), -1, '4 of 8 = 50 %');
  assert.equal(referenceMajorityLabel([5, 0, 0, 2, 0, 2, 0, 0, 0, 0]), NEUTRAL8, '5 of 9');
  assert.equal(referenceMajorityLabel([5, 0, 0, 5, 0, 0, 0, 0, 0, 0]), -1);
  // Single votes are removed before the sum: 4 of 8 raw votes becomes 4 of 4.
  assert.equal(referenceMajorityLabel([4, 1, 1, 1, 1, 0, 0, 0, 0, 0]), NEUTRAL8, 'single votes for four emotions removed');
  assert.equal(referenceMajorityLabel([4, 0, 0, 3, 0, 0, 0, 0, 1, 1]), NEUTRAL8, 'single unknown and NF votes removed too (4 of 7)');
  assert.equal(referenceMajorityLabel([4, 0, 0, 3, 0, 0, 0, 0, 2, 1]), -1, 'two unknown votes stay (4 of 9)');
  assert.equal(referenceMajorityLabel([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]), -1, 'only single votes: nothing left');
  assert.equal(referenceMajorityLabel([1, 0, 0, 0, 0, 0, 0, 0, 0, 0]), -1, 'a lone single vote is an outlier too');
  assert.equal(referenceMajorityLabel(new Array(10).fill(0)), -1);
  // Unknown / not-a-face majorities are dropped, even when they are the only majority.
  assert.equal(referenceMajorityLabel(VOTES.unknown), -1);
  assert.equal(referenceMajorityLabel(VOTES.notFace), -1);
  assert.equal(referenceMajorityLabel([3, 0, 0, 0, 0, 0, 0, 0, 6, 1]), -1, 'unknown 6 of 9');
  // Averaged votes of pixel-identical copies: fractions up to 1 are outliers as well.
  assert.equal(referenceMajorityLabel([4.5, 1.5, 0.5, 0.5, 0.5, 0, 0, 0, 1, 0]), NEUTRAL8, '4.5 of 6');
  assert.equal(referenceMajorityLabel([3, 1.5, 1.5, 0.5, 0, 0, 0, 0, 0, 0]), -1, '3 of 6');
  // A kept image's label is always its untied plurality label (why eval:fer can reuse those predictions).
  const rand = mulberry32(11);
  let kept = 0;
  let dropped = 0;
  for (let n = 0; n < 5000; n++) {
    const v = new Array(10).fill(0);
    const spread = 1 + Math.floor(rand() * 10);
    for (let k = 0; k < 10; k++) v[Math.floor(rand() * spread)]++;
    const ref = referenceMajorityLabel(v);
    const plural = majorityLabel(v);
    if (ref < 0) dropped++;
    else {
      kept++;
      assert.deepEqual(plural, { label8: ref, tied: false }, `votes ${v.join(',')}`);
    }
  }
  assert.ok(kept > 1000 && dropped > 1000, `both outcomes sampled (${kept} kept, ${dropped} dropped)`);
});

test('loadFerIndex joins votes through ferplus_map, averages identical copies, flags twins; selectFer builds clean sets', () => {
  const dir = tmpDir('fer-mini-');
  writeMiniFer(dir);
  const idx = loadFerIndex(dir);
  assert.equal(idx.items.length, 18);
  const by = (p: string) => idx.items.find((i) => i.path === p)!;
  assert.equal(by('train/happy/Training_1000.jpg').label8, HAPPY8);
  assert.equal(by('train/happy/Training_1000.jpg').label7, HAPPY7);
  assert.equal(by('train/sad/Training_1001.jpg').label8, SAD8);
  assert.equal(by('train/sad/Training_1001.jpg').label7, SAD7);
  assert.equal(by('train/happy/Training_1010.jpg').votes, null, 'match none → no votes');
  assert.equal(by('train/sad/Training_1011.jpg').label8, -1, 'unknown majority');
  assert.deepEqual(Array.from(by('train/happy/Training_1002.jpg').votes!.slice(0, 2)), [3, 7], 'votes of identical copies averaged');
  assert.equal(by('publictest/happy/PublicTest_1100.jpg').twinOfTraining, true);
  const sel = selectFer(idx);
  assert.equal(sel.train.length, 12);
  assert.equal(sel.counts.trainingWithFerPlus, 10);
  assert.equal(sel.counts.trainingFerPlusNone, 1);
  assert.equal(sel.counts.trainingFerPlusUnknownOrNF, 1);
  assert.equal(sel.valPlus.length, 5, 'twin of Training left out of validation');
  assert.equal(sel.val7.length, 5);
  assert.throws(() => loadFerIndex(path.join(dir, 'nope')), /FER2013 folder not found/);
  fs.rmSync(path.join(dir, 'ferplus_map.csv'));
  assert.throws(() => loadFerIndex(dir), /ferplus_map\.csv/);
});

test('wild augmentation is seeded, stays in 0..255 and changes the image; blur keeps a flat image flat', () => {
  const src = stripe(0, mulberry32(1));
  const a = new Float32Array(48 * 48 * 2);
  const b = new Float32Array(48 * 48);
  augmentWildInto(src, 48, a, 48 * 48, mulberry32(42), { ...WILD_AUGMENT, occlusionProb: 1 });
  augmentWildInto(src, 48, b, 0, mulberry32(42), { ...WILD_AUGMENT, occlusionProb: 1 });
  assert.deepEqual(Array.from(a.subarray(48 * 48)), Array.from(b), 'same seed → same output');
  assert.ok(a.subarray(0, 48 * 48).every((v) => v === 0), 'writes only at the offset');
  assert.ok(b.every((v) => v >= 0 && v <= 255 && Number.isFinite(v)));
  let diff = 0;
  for (let i = 0; i < src.length; i++) diff += Math.abs(b[i] - src[i]);
  assert.ok(diff / src.length > 5, 'augmented image differs from the source');
  // An occlusion patch of at least occlusionMin² of the image: count pixels off the stripe values
  const flat = new Float32Array(48 * 48).fill(100);
  blur3x3(flat, 0, 48);
  assert.ok(flat.every((v) => Math.abs(v - 100) < 1e-4));
  const spike = new Float32Array(48 * 48);
  spike[24 * 48 + 24] = 16;
  blur3x3(spike, 0, 48);
  assert.ok(Math.abs(spike[24 * 48 + 24] - 4) < 1e-5 && Math.abs(spike.reduce((s, v) => s + v, 0) - 16) < 1e-4, 'binomial kernel, mass preserved');
});

test('augmentation presets: light changes images less than wild; --augment / --no-augment pick them, bad names are errors', () => {
  const meanChange = (o: typeof WILD_AUGMENT) => {
    let total = 0;
    const out = new Float32Array(48 * 48);
    for (let k = 0; k < 200; k++) {
      // A smooth image, so that the size of each change, not the texture, decides the difference
      const src = Uint8Array.from({ length: 48 * 48 }, (_, i) => 128 + Math.round(60 * Math.sin((i % 48) / 9 + k) * Math.cos(Math.floor(i / 48) / 11)));
      augmentWildInto(src, 48, out, 0, mulberry32(1000 + k), { ...o, flip: false }); // both presets flip
      for (let i = 0; i < src.length; i++) total += Math.abs(out[i] - src[i]);
    }
    return total / (200 * 48 * 48);
  };
  const wild = meanChange(WILD_AUGMENT);
  const light = meanChange(WILD_AUGMENT_LIGHT);
  assert.ok(light > 1, `light still augments (mean change ${light.toFixed(1)} gray levels)`);
  assert.ok(light < 0.75 * wild, `light (${light.toFixed(1)}) changes images clearly less than wild (${wild.toFixed(1)})`);
  assert.equal(augmentOption({}), DEFAULT_FER_CONFIG.augment, 'default is the wild preset');
  assert.equal(augmentOption({ augment: 'light' }), WILD_AUGMENT_LIGHT);
  assert.equal(augmentOption({ augment: 'none' }), null);
  assert.equal(augmentOption({ 'no-augment': true }), null);
  assert.equal(wildAugmentPreset('wild'), WILD_AUGMENT);
  assert.throws(() => augmentOption({ augment: 'heavy' }), /Unknown augmentation preset "heavy" \(known: wild, light, none\)/);
  assert.throws(() => augmentOption({ augment: true }), /--augment needs a preset name/);
  assert.throws(() => augmentOption({ augment: 'light', 'no-augment': true }), /contradicts/);
  assert.throws(() => wildAugmentPreset('toString'), /Unknown augmentation preset/);
});

test('--stem-stride: 2 by default, 1 for a full-resolution stem, anything else a clear error', () => {
  assert.equal(stemStrideOption({}), 2);
  assert.equal(stemStrideOption({ 'stem-stride': '1' }), 1);
  assert.equal(stemStrideOption({ 'stem-stride': '2' }), 2);
  assert.throws(() => stemStrideOption({ 'stem-stride': '3' }), /--stem-stride must be 1 or 2 \(got 3\)/);
  assert.throws(() => stemStrideOption({ 'stem-stride': true }), /--stem-stride must be 1 or 2/);
});

test('--width: 1 by default, a positive multiplier up to 8, anything else a clear error', () => {
  assert.equal(widthOption({}), 1);
  assert.equal(widthOption({ width: '2' }), 2);
  assert.equal(widthOption({ width: '1.5' }), 1.5);
  for (const bad of ['0', '-2', 'wide', '9']) assert.throws(() => widthOption({ width: bad }), new RegExp(`--width must be a multiplier in \\(0, 8\\] \\(got ${bad}\\)`), bad);
  assert.throws(() => widthOption({ width: true }), /--width must be a multiplier in \(0, 8\] \(got no value\)/);
});

test('exported metadata names the labels a run actually trained on', () => {
  assert.match(trainingDataDescription({ ferPlusWeight: 1, aux7Weight: 0.5 }), /FER\+ votes .* and the original FER2013 labels/);
  assert.match(trainingDataDescription({ ferPlusWeight: 0, aux7Weight: 1 }), /original labels only \(FER\+ head loss weight 0\)/);
  assert.match(trainingDataDescription({ ferPlusWeight: 1, aux7Weight: 0 }), /FER\+ votes \(soft targets\) only/);
});

/** Nano-B topology at quarter width: same code paths, fast enough for a test. */
const tinySpec = (): ArchSpec => ({ ...variantSpec('nano-b'), widthMultiplier: 0.25 });

function samples(n: number, seed: number): FerSample[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, (_, i) => {
    const label = i % 2;
    const soft8 = new Float32Array(8);
    soft8[label ? SAD8 : HAPPY8] = 0.8;
    soft8[NEUTRAL8] = 0.2;
    return { data: stripe(label, rand), soft8: i % 7 === 6 ? null : soft8, label7: label ? SAD7 : HAPPY7 };
  });
}

function valSet(n: number): FerValSet {
  const s = samples(n, 99);
  return {
    plus: { data: s.map((x) => x.data), label8: s.map((_, i) => (i % 2 ? SAD8 : HAPPY8)) },
    orig: { data: s.map((x) => x.data), label7: s.map((x) => x.label7) },
  };
}

const cfg = (over: Partial<FerTrainConfig> = {}): FerTrainConfig => ({ ...DEFAULT_FER_CONFIG, variant: 'nano-b', spec: tinySpec(), epochs: 6, batchSize: 8, lr: 5e-3, augment: null, ...over });

test('two-head training on synthetic data lowers the loss and learns both heads; best weights export as two loadable models', async () => {
  const work = tmpDir('fer-train-');
  const out = tmpDir('fer-out-');
  let exported = 0;
  let unfoldedBest: Record<string, { shape: number[]; data: Float32Array }> = {};
  const state = await trainFer(samples(32, 1), valSet(16), cfg({ epochs: 8, emaDecay: 0.9 }), {
    checkpointDir: path.join(work, 'ck'),
    onBest: ({ folded8, folded7, unfolded }) => {
      exported++;
      unfoldedBest = unfolded;
      writeModelDir(path.join(out, 'm8'), { name: 'm8', variant: 'nano-b', classes: FERPLUS_CLASSES, spec: tinySpec(), folded: true }, folded8);
      writeModelDir(path.join(out, 'm7'), { name: 'm7', variant: 'nano-b', classes: FER2013_CLASSES, spec: tinySpec(), folded: true }, folded7);
    },
  });
  assert.equal(state.epoch, 8);
  assert.equal(state.history.length, 8);
  const losses = state.history.map((h) => h.loss);
  assert.ok(losses[7] < losses[0] * 0.8, `loss should drop: ${losses.map((l) => l.toFixed(3)).join(' → ')}`);
  assert.ok(exported >= 1 && state.best, 'best weights exported');
  assert.ok((state.best?.valFerPlus ?? 0) >= 0.9, `FER+ head separates the classes: ${JSON.stringify(state.best)}`);
  assert.ok((state.best?.valFer2013 ?? 0) >= 0.9, 'FER2013 head separates the classes');
  const m8 = await load({ model: path.join(out, 'm8'), backend: 'wasm', logger: silentLogger });
  const m7 = await load({ model: path.join(out, 'm7'), backend: 'wasm', logger: silentLogger });
  try {
    const s = samples(4, 123);
    const r8 = await m8.classify(s.map((x) => ({ width: 48, height: 48, data: x.data })));
    const r7 = await m7.classify(s.map((x) => ({ width: 48, height: 48, data: x.data })));
    assert.deepEqual(m8.classes, FERPLUS_CLASSES);
    assert.deepEqual(m7.classes, FER2013_CLASSES);
    assert.deepEqual(r8.map((r) => r.label), ['happy', 'sadness', 'happy', 'sadness']);
    assert.deepEqual(r7.map((r) => r.label), ['happy', 'sadness', 'happy', 'sadness']);
    assert.ok(m8.cost.params <= 250000);
    // The folded, exported models reproduce the unfolded two-head graph (selftest.json contents).
    const { st8, st7 } = await ferSelfTests(tinySpec(), unfoldedBest);
    const inputs = selfTestInputs().map((data) => ({ width: 48, height: 48, data }));
    const [o8, o7] = [await m8.classify(inputs), await m7.classify(inputs)];
    o8.forEach((r, i) => FERPLUS_CLASSES.forEach((c, j) => assert.ok(Math.abs(r.probabilities[c] - st8.probabilities[i][j]) < 1e-4, `8-class ${c}`)));
    o7.forEach((r, i) => FER2013_CLASSES.forEach((c, j) => assert.ok(Math.abs(r.probabilities[c] - st7.probabilities[i][j]) < 1e-4, `7-class ${c}`)));
  } finally {
    m8.dispose();
    m7.dispose();
  }
  // The checkpoint carries the optimiser state and the EMA weights.
  const ck = readModelDir(path.join(work, 'ck'));
  const names = Object.keys(ck.arrays);
  assert.ok(names.includes('adam/m/c1/kernel') && names.includes('adam/v/dense/kernel') && names.includes('ema/c1/moving_mean'));
  assert.equal(ck.arrays['dense/kernel'].shape[1], HEAD_OUTPUTS);
  const f = foldedFromCheckpoint(path.join(work, 'ck'));
  const heads = splitHeads(f.folded);
  assert.equal(heads.folded8['dense/kernel'].shape[1], 8);
  assert.equal(heads.folded7['dense/bias'].shape[0], 7);
  // A frozen training-form snapshot (--export-init) is what `npm run train -- --init` fine-tunes
  // from: the EMA weights with BN, both heads, no optimizer state; FER+ columns map by class name.
  exportPretrained(path.join(work, 'ck'), path.join(out, 'pre'));
  const pre = loadPretrained(path.join(out, 'pre'), tinySpec());
  assert.deepEqual(pre.classes.slice(0, 8), FERPLUS_CLASSES);
  assert.ok(!Object.keys(pre.arrays).some((n) => n.startsWith('adam/') || n.startsWith('ema/')));
  assert.deepEqual(Array.from(pre.arrays['c1/moving_mean'].data), Array.from(ck.arrays['ema/c1/moving_mean'].data));
  const r = resolveSpec(tinySpec());
  const { copiedClasses } = initFromPretrained(initTrainWeights(r, 8, 1), ['anger', 'contempt', 'disgust', 'fear', 'happy', 'neutral', 'sadness', 'surprise'], pre);
  assert.equal(copiedClasses.length, 8);
});

test('resuming mid-epoch replays exactly: stop after 5 steps + resume = one uninterrupted run', async () => {
  const data = samples(24, 3);
  const c = cfg({ epochs: 2, augment: WILD_AUGMENT });
  const a = tmpDir('fer-resume-a-');
  const b = tmpDir('fer-resume-b-');
  const full = await trainFer(data, null, c, { checkpointDir: a });
  const first = await trainFer(data, null, c, { checkpointDir: b, maxSteps: 5 });
  assert.equal(first.epoch, 1, '3 steps per epoch: stopped inside the second epoch');
  assert.equal(first.stepInEpoch, 2);
  const rest = await trainFer(data, null, c, { checkpointDir: b });
  assert.equal(rest.epoch, 2);
  assert.equal(rest.globalStep, full.globalStep);
  const wa = readModelDir(a).arrays;
  const wb = readModelDir(b).arrays;
  for (const n of ['c1/kernel', 'dense/kernel', 'e5/moving_variance', 'adam/v/d3/kernel', 'ema/dense/bias']) {
    const x = wa[n].data;
    const y = wb[n].data;
    let maxDiff = 0;
    for (let i = 0; i < x.length; i++) maxDiff = Math.max(maxDiff, Math.abs(x[i] - y[i]));
    assert.ok(maxDiff < 1e-5, `${n} differs by ${maxDiff}`);
  }
  assert.ok(Math.abs(rest.history[1].loss - full.history[1].loss) < 1e-4, 'epoch-2 loss accounts for the steps before the stop');
  // A checkpoint written with other options is refused with a clear message.
  await assert.rejects(trainFer(data, null, cfg({ epochs: 2, lr: 1e-3 }), { checkpointDir: b }), /different configuration/);
});

/** Max absolute difference of two weight arrays. */
function maxDiff(x: Float32Array, y: Float32Array): number {
  assert.equal(x.length, y.length);
  let d = 0;
  for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i] - y[i]));
  return d;
}

/** A real `--export-init` snapshot (both heads) of a short run with another seed, in `<dir>/<name>`. */
async function pretrainedSnapshot(dir: string, name = 'pre-fer'): Promise<string> {
  await trainFer(samples(16, 8), null, cfg({ seed: 7 }), { checkpointDir: path.join(dir, 'ck'), maxSteps: 2 });
  exportPretrained(path.join(dir, 'ck'), path.join(dir, name));
  return path.join(dir, name);
}

test('--ema 0: the checkpoint keeps no stale EMA copy, so --export-init (and --init, fer:soup, --selftest-only) take the trained weights', async () => {
  const dir = tmpDir('fer-ema0-');
  const ck = path.join(dir, 'ck');
  const data = samples(16, 2);
  await trainFer(data, null, cfg({ emaDecay: 0 }), { checkpointDir: ck, maxSteps: 2 });
  const saved = readModelDir(ck).arrays;
  exportPretrained(ck, path.join(dir, 'pre'));
  const pre = loadPretrained(path.join(dir, 'pre'), tinySpec());
  const start = initTrainWeights(resolveSpec(tinySpec()), HEAD_OUTPUTS, 1);
  assert.ok(maxDiff(pre.arrays['dense/kernel'].data, start['dense/kernel'].data) > 1e-6, 'not the starting weights');
  for (const n of ['c1/kernel', 'dense/kernel', 'c1/moving_mean']) assert.equal(maxDiff(pre.arrays[n].data, saved[n].data), 0, `${n}: the trained weights`);
  assert.ok(!Object.keys(saved).some((n) => n.startsWith('ema/')), 'no ema/ tensors without an EMA');
  // It still resumes.
  const resumed = await trainFer(data, null, cfg({ emaDecay: 0 }), { checkpointDir: ck, maxSteps: 1 });
  assert.equal(resumed.globalStep, 3);
});

test('trainFer: a batch size or epoch count that is not a whole number >= 1 is refused before anything is written', async () => {
  for (const [over, re] of [
    [{ batchSize: 0 }, /^Error: --batch must be an integer >= 1, got 0$/],
    [{ batchSize: 2.5 }, /^Error: --batch must be an integer >= 1, got 2.5$/],
    [{ epochs: 1.5 }, /^Error: --epochs must be an integer >= 1, got 1.5$/],
  ] as const) {
    const ck = path.join(tmpDir('fer-bad-run-'), 'ck');
    await assert.rejects(trainFer(samples(8, 1), null, cfg(over), { checkpointDir: ck }), re, JSON.stringify(over));
    assert.ok(!fs.existsSync(ck), 'nothing written');
  }
});

test('second stage (--init): a new run starts from the snapshot (trunk and both heads); a FER checkpoint dir gives its EMA weights', async () => {
  const dir = tmpDir('fer-init-');
  const pre = loadPretrained(await pretrainedSnapshot(dir), tinySpec());
  assert.deepEqual(pre.classes, HEAD_CLASSES, 'the snapshot keeps the 15-output two-head classifier');
  // lr 0 and frozen BN statistics: after one step the checkpoint holds exactly the initial weights.
  const work = path.join(dir, 'stage2');
  const state = await trainFer(samples(24, 3), null, cfg({ lr: 0, bnMomentum: 1, pretrained: pre }), { checkpointDir: work, maxSteps: 1 });
  assert.deepEqual([state.epoch, state.stepInEpoch, state.globalStep], [0, 1, 1], 'a new run: epoch 0, fresh schedule');
  const ck = readModelDir(work);
  for (const [n, a] of Object.entries(pre.arrays)) assert.equal(maxDiff(ck.arrays[n].data, a.data), 0, `${n} is the snapshot's`);
  assert.equal(ck.arrays['dense/kernel'].shape[1], HEAD_OUTPUTS);
  assert.ok(maxDiff(pre.arrays['c1/kernel'].data, initTrainWeights(resolveSpec(tinySpec()), HEAD_OUTPUTS, 1)['c1/kernel'].data) > 1e-3, 'the snapshot differs from a fresh init');
  assert.equal(JSON.parse((ck.json.training as { key: string }).key).pre, 'pre-fer', 'the init is part of the config key');
  // Init from the checkpoint dir itself = its EMA weights = what --export-init writes.
  const fromCk = loadPretrained(path.join(dir, 'ck'), tinySpec());
  for (const [n, a] of Object.entries(pre.arrays)) assert.equal(maxDiff(fromCk.arrays[n].data, a.data), 0, n);
});

test('second stage (--init): a resume continues from the checkpoint (init not re-applied); another or no --init is refused', async () => {
  const dir = tmpDir('fer-init-resume-');
  const pre = loadPretrained(await pretrainedSnapshot(dir), tinySpec());
  const data = samples(24, 3);
  const c = cfg({ pretrained: pre });
  const a = path.join(dir, 'a');
  const b = path.join(dir, 'b');
  await trainFer(data, null, c, { checkpointDir: a, maxSteps: 2 });
  await trainFer(data, null, c, { checkpointDir: b, maxSteps: 1 });
  const afterOne = readModelDir(b).arrays;
  const resumed = await trainFer(data, null, c, { checkpointDir: b, maxSteps: 1 });
  assert.equal(resumed.globalStep, 2);
  const wa = readModelDir(a).arrays;
  const wb = readModelDir(b).arrays;
  for (const n of ['c1/kernel', 'dense/kernel', 'e5/moving_variance', 'adam/v/d3/kernel', 'ema/dense/bias']) assert.ok(maxDiff(wa[n].data, wb[n].data) < 1e-5, `${n}: stop + resume = 2 uninterrupted steps`);
  assert.ok(maxDiff(afterOne['dense/kernel'].data, wb['dense/kernel'].data) > 1e-6, 'the resumed step moved on from the checkpoint');
  const other = loadPretrained(await pretrainedSnapshot(path.join(dir, 'o'), 'pre-other'), tinySpec());
  await assert.rejects(trainFer(data, null, cfg({ pretrained: other }), { checkpointDir: b }), /different configuration.*--init \(checkpoint: "pre-fer", now: "pre-other"\)/);
  await assert.rejects(trainFer(data, null, cfg(), { checkpointDir: b }), /--init \(checkpoint: "pre-fer", now: none\)/);
  // The checkpoint of a run without --init refuses one with it.
  await assert.rejects(trainFer(data, null, c, { checkpointDir: path.join(dir, 'ck') }), /different configuration.*--init \(checkpoint: none, now: "pre-fer"\)/);
});

test('second stage (--init): weights of another variant are a clear error', async () => {
  const dir = tmpDir('fer-init-variant-');
  const specA: ArchSpec = { ...variantSpec('nano-a'), widthMultiplier: 0.25 };
  writeModelDir(dir, { name: 'nano-a-pre', variant: 'nano-a', classes: HEAD_CLASSES, spec: specA, folded: false }, initTrainWeights(resolveSpec(specA), HEAD_OUTPUTS, 1));
  assert.throws(() => loadPretrained(dir, tinySpec()), /different architecture \(EmotionNet Nano-A\) than EmotionNet Nano-B \(it holds nano-a weights: pass --variant nano-a\)/);
  // Past the loader (a spec-less file), the trainer still refuses weights that do not fit.
  const pre = { source: 'nano-a-pre', classes: HEAD_CLASSES, arrays: readModelDir(dir).arrays };
  await assert.rejects(trainFer(samples(8, 1), null, cfg({ pretrained: pre }), { checkpointDir: tmpDir('fer-init-variant-ck-') }), /do not fit this architecture/);
});

test('--select fer2013 (FER2013 head weighted 3, FER+ 0.5) exports the epochs that raise the FER2013 accuracy', async () => {
  // FER+ validation labels are the opposite class, so the two accuracies rank the epochs differently.
  const val = valSet(12);
  val.plus.label8 = val.plus.label8.map((l) => (l === HAPPY8 ? SAD8 : HAPPY8));
  const exported: number[] = [];
  const flagged: number[] = [];
  const work = tmpDir('fer-select-');
  const c = cfg({ epochs: 5, emaDecay: 0.5, select: 'fer2013', aux7Weight: 3, ferPlusWeight: 0.5 });
  const state = await trainFer(samples(24, 2), val, c, {
    checkpointDir: work,
    onBest: ({ record, ev }) => {
      assert.equal(ev.fer2013.accuracy, record.valFer2013);
      exported.push(record.epoch);
    },
    onEpoch: (rec, _ev, improved) => void (improved && flagged.push(rec.epoch)),
  });
  const h = state.history;
  const rising: number[] = [];
  let best = -1;
  for (const r of h) {
    if ((r.valFer2013 as number) <= best) continue;
    best = r.valFer2013 as number;
    rising.push(r.epoch);
  }
  assert.deepEqual(exported, rising, `exported at every new FER2013 best: ${h.map((r) => `${r.epoch}: FER2013 ${r.valFer2013} FER+ ${r.valFerPlus}`).join(', ')}`);
  assert.deepEqual(flagged, rising);
  assert.equal(state.best?.epoch, rising.at(-1));
  assert.equal(state.best?.valFer2013, Math.max(...h.map((r) => r.valFer2013 as number)));
  const plusBest = h.reduce((x, r) => ((r.valFerPlus as number) > (x.valFerPlus as number) ? r : x)).epoch;
  assert.notEqual(plusBest, state.best?.epoch, 'FER+ accuracy would have picked another epoch');
  // The selection and the head weights are part of the config key.
  await assert.rejects(trainFer(samples(24, 2), val, { ...c, select: 'ferplus' }, { checkpointDir: work }), /--select \(checkpoint: "fer2013", now: default\)/);
  await assert.rejects(trainFer(samples(24, 2), val, { ...c, ferPlusWeight: 1 }, { checkpointDir: work }), /--w8 \(checkpoint: 0\.5, now: default\)/);
});

test('data-parallel: shard statistics combine exactly; a worker thread computes the same gradients as the main thread', async () => {
  const spec = tinySpec();
  const r = resolveSpec(spec);
  const init = initTrainWeights(r, HEAD_OUTPUTS, 3);
  const model: Record<string, tf.Variable> = {};
  const params: Record<string, tf.Variable> = {};
  for (const [n, a] of Object.entries(init)) {
    const moving = n.endsWith('/moving_mean') || n.endsWith('/moving_variance');
    model[n] = tf.variable(tf.tensor(a.data, a.shape), !moving);
    if (!moving) params[n] = model[n];
  }
  const keyOf = variableKeys(params);
  const batch = makeBatch(samples(8, 5), [0, 1, 2, 3, 4, 5, 6, 7], 48, mulberry32(1), cfg());
  const workers = await GradientWorkers.start(1, spec, 'wasm');
  try {
    const heads = { w8: 1, aux7: 0.5 };
    const whole = await batchGradients(r, model, keyOf, batch, heads);
    const shards = splitBatch(batch, 2);
    assert.deepEqual(shards.map((b) => b.n), [4, 4]);
    const weights = Object.fromEntries(Object.entries(init).map(([n, a]) => [n, a]));
    const parts = await workers.compute(weights, shards, heads, (b) => batchGradients(r, model, keyOf, b, heads));
    const local1 = await batchGradients(r, model, keyOf, shards[1], heads);
    for (const n of ['c1/kernel', 'dense/kernel']) {
      const a = parts[1].grads[n].data;
      const b = local1.grads[n].data;
      let d = 0;
      for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
      assert.ok(d < 1e-5, `worker and main thread differ on ${n} by ${d}`);
    }
    const comb = combineGradients(parts);
    assert.equal(comb.n, 8);
    assert.deepEqual(Array.from(comb.pred8), [...parts[0].pred8, ...parts[1].pred8]);
    // The first conv sees the raw (standardised) pixels, so its combined batch moments must equal
    // the moments of the whole batch.
    const c1w = whole.stats.find((q) => q.id === 'c1')!;
    const c1c = comb.stats.find((q) => q.id === 'c1')!;
    for (let j = 0; j < c1w.mean.length; j++) {
      assert.ok(Math.abs(c1w.mean[j] - c1c.mean[j]) < 1e-4, 'combined mean');
      assert.ok(Math.abs(c1w.variance[j] - c1c.variance[j]) < 1e-3 * Math.max(1, c1w.variance[j]), 'combined variance');
    }
    assert.ok(Number.isFinite(comb.loss) && Object.keys(comb.grads).length === Object.keys(params).length);
  } finally {
    await workers.terminate();
    tf.dispose(Object.values(model));
  }
});

test('training with 2 data-parallel shards (one worker thread) lowers the loss and checkpoints like a single-thread run', async () => {
  const work = tmpDir('fer-workers-');
  const state = await trainFer(samples(32, 1), null, cfg({ epochs: 4 }), { checkpointDir: work, workers: 2 });
  const l = state.history.map((h) => h.loss);
  assert.equal(state.epoch, 4);
  assert.ok(l[3] < l[0] * 0.85, `loss should drop: ${l.map((v) => v.toFixed(3)).join(' → ')}`);
  // The same checkpoint resumes without workers (format and key do not depend on them).
  const more = await trainFer(samples(32, 1), null, cfg({ epochs: 5 }), { checkpointDir: work });
  assert.equal(more.epoch, 5);
});

test('re-framing maps: identity, and ck48 → fer2013 zooms out (FER2013 crops are looser)', () => {
  const id = centredAffine(48, 1, 0, 0, 0);
  [1, 0, 0, 0, 1, 0].forEach((v, i) => assert.ok(Math.abs(id[i] - v) < 1e-9));
  const same = reframeAffine(48, 'ck48', 'ck48');
  [1, 0, 0, 0, 1, 0].forEach((v, i) => assert.ok(Math.abs(same[i] - v) < 1e-6, `ck48→ck48 should be identity: ${same.join(',')}`));
  const m = reframeAffine(48, 'ck48', 'fer2013');
  assert.ok(m[0] > 1.03 && m[0] < 1.15, `source px per output px ${m[0]}`);
  const img = stripe(0, mulberry32(2));
  assert.deepEqual(Array.from(reframe(img, 48, id)), Array.from(img));
  const shifted = reframe(img, 48, centredAffine(48, 1, 0, 3, 0));
  assert.equal(shifted[10 * 48 + 5], img[7 * 48 + 5], 'content moved down by 3 px');
});

test('fer-report renders the model card block from the committed checkpoint and results files', () => {
  const root = tmpDir('fer-report-');
  fs.mkdirSync(path.join(root, 'checkpoints', 'fer-nano-b'), { recursive: true });
  fs.mkdirSync(path.join(root, 'models', 'nano-b-wild'), { recursive: true });
  const hist = { epoch: 1, loss: 2.5, trainAccuracy8: 0.4, lr: 0.003, seconds: 2400, imagesPerSec: 11.8, valFerPlus: 0.6512, valFer2013: 0.5123, valFerPlusMacroF1: 0.3, valFer2013MacroF1: 0.35, finishedAt: '2026-11-26T13:45:00.000Z' };
  const training = { key: '{}', epoch: 1, stepInEpoch: 20, globalStep: 463, history: [hist], best: { epoch: 1.5, valFerPlus: 0.66, valFer2013: 0.52 }, partial: null, midEpochEvals: [{ epoch: 1.5, globalStep: 660, valFerPlus: 0.66, valFer2013: 0.52, at: '2026-11-26T14:59:00.000Z' }] };
  fs.writeFileSync(path.join(root, 'checkpoints', 'fer-nano-b', 'model.json'), JSON.stringify({ training }));
  const validation = { ferPlusPublicTest: { accuracy: 0.66, macroF1: 0.31, n: 3276 }, fer2013PublicTest: { accuracy: 0.52, macroF1: 0.36, n: 3309 }, fer2013PublicTestFrom8ClassHead: 0.5 };
  fs.writeFileSync(path.join(root, 'models', 'nano-b-wild', 'results.json'), JSON.stringify({ epoch: 1.5, params8: 141163, macs: 11052800, validation, exportedAt: '2026-11-26T14:59:00.000Z' }));
  const md = ferReport(root);
  assert.match(md, /`nano-b-wild` \/ `nano-b-wild-7` \| 141,163 \| 11\.1 M \| 1 \+ 20 steps \(of 40\) \| 1\.5 \| 66\.0 % \(−16\.0 pt\) \| 52\.0 % \(−15\.0 pt\)/);
  assert.match(md, /\| 1 \| 2\.5000 \| 40\.0 % \| 65\.12 % \| 51\.23 % /, 'epoch row from the history');
  assert.match(md, /\| 1\.5 \(stop\) \|/, 'mid-epoch validation row');
  assert.match(md, /nano-a-wild.*not trained yet/);
});

test('fer-report: an 8-class model from a further stage reads the checkpoint its results name and prints the run it started from first', () => {
  const root = tmpDir('fer-report-8s-');
  for (const d of ['checkpoints/fer-nano-b', 'checkpoints/ferfit-nano-b', 'models/nano-b-wild']) fs.mkdirSync(path.join(root, d), { recursive: true });
  const row = (epoch: number, valFerPlus: number, imagesPerSec: number) => ({ epoch, loss: 1.3, trainAccuracy8: 0.79, lr: 0.001, seconds: 240, imagesPerSec, valFerPlus, valFer2013: 0.63, valFerPlusMacroF1: 0.58, valFer2013MacroF1: 0.55, finishedAt: '2026-11-27T10:00:00.000Z' });
  const state = (epoch: number, history: object[]) => ({ training: { key: '{}', epoch, stepInEpoch: 0, globalStep: 100, history, best: null, partial: null } });
  fs.writeFileSync(path.join(root, 'checkpoints', 'fer-nano-b', 'model.json'), JSON.stringify(state(60, [row(60, 0.8065, 158.4)])));
  fs.writeFileSync(path.join(root, 'checkpoints', 'ferfit-nano-b', 'model.json'), JSON.stringify(state(6, [row(5, 0.8132, 124.4), row(6, 0.8098, 123.6)])));
  const validation = { ferPlusPublicTest: { accuracy: 0.8132, macroF1: 0.5967, n: 3276 }, fer2013PublicTest: { accuracy: 0.6361, macroF1: 0.55, n: 3309 }, fer2013PublicTestFrom8ClassHead: 0.5769 };
  fs.writeFileSync(path.join(root, 'models', 'nano-b-wild', 'results.json'), JSON.stringify({ epoch: 5, params8: 141163, macs: 11052800, validation, exportedAt: '2026-11-27T10:11:00.000Z', config: { epochs: 6 }, work: 'checkpoints/ferfit-nano-b', init: 'checkpoints/fer-nano-b' }));
  const md = ferReport(root);
  assert.match(md, /^\| `nano-b-wild` \/ `nano-b-wild-7` \| 141,163 \| 11\.1 M \| 6 \(of 40\) \| 5 \| 81\.3 % \(−0\.7 pt\) \|.* \| 123\.6 \|$/m, 'epochs done and images/s from checkpoints/ferfit-nano-b');
  const earlier = md.indexOf('nano-b-wild, earlier stage: the run it started from (`checkpoints/fer-nano-b`)');
  const own = md.indexOf('nano-b-wild training history (init `fer-nano-b`)');
  assert.ok(earlier > 0 && own > earlier, 'earlier stage, then the run itself');
  assert.match(md.slice(earlier, own), /^\| 60 \| 1\.3000 \| 79\.0 % \| 80\.65 % \|/m);
  assert.match(md.slice(own), /^\| 6 \| 1\.3000 \| 79\.0 % \| 80\.98 % \|/m);
});

test('fer-report: a 7-label model from a separate FER2013-primary run gets its own row, FER2013 columns and history', () => {
  const root = tmpDir('fer-report-7-');
  for (const d of ['checkpoints/fer-nano-b', 'models/nano-b-wild', 'models/nano-b-wild-7']) fs.mkdirSync(path.join(root, d), { recursive: true });
  const row = (epoch: number, valFer2013: number, finishedAt: string) => ({ epoch, loss: 1.2, trainAccuracy8: 0.74, lr: 0.002, seconds: 240, imagesPerSec: 160.5, valFerPlus: 0.7887, valFer2013, valFerPlusMacroF1: 0.57, valFer2013MacroF1: 0.56, finishedAt });
  const training = { key: '{}', epoch: 48, stepInEpoch: 0, globalStep: 21000, history: [{ ...row(1, 0.4122, '2026-11-26T13:30:00.000Z'), loss: 2.4483 }], best: null, partial: null };
  fs.writeFileSync(path.join(root, 'checkpoints', 'fer-nano-b', 'model.json'), JSON.stringify({ training }));
  const config8 = { epochs: 48, lr: 0.003, aux7Weight: 0.5, ferPlusWeight: 1, select: 'ferplus', variant: 'nano-b' };
  const validation8 = { ferPlusPublicTest: { accuracy: 0.8104, macroF1: 0.586, n: 3276 }, fer2013PublicTest: { accuracy: 0.6253, macroF1: 0.546, n: 3309 }, fer2013PublicTestFrom8ClassHead: 0.568 };
  const results8 = { model: 'nano-b-wild', params8: 141163, params7: 141098, macs: 11052800, config: config8, epoch: 47, validation: validation8, exportedAt: '2026-11-27T00:47:00.000Z' };
  fs.writeFileSync(path.join(root, 'models', 'nano-b-wild', 'results.json'), JSON.stringify(results8));
  const writeSeven = (r: object) => fs.writeFileSync(path.join(root, 'models', 'nano-b-wild-7', 'results.json'), JSON.stringify(r));

  // Same run (two heads): the -7 results carry the same config → the report as before, no extra row.
  writeSeven({ ...results8, model: 'nano-b-wild-7' });
  const same = ferReport(root);
  assert.match(same, /`nano-b-wild` \/ `nano-b-wild-7` \| 141,163 \| 11\.1 M \| 48 \(extended after the export, planned 40\) \| 47 \| 81\.0 % \(−1\.0 pt\) \| 62\.5 % \(−4\.5 pt\) \| 58\.6 % \/ 54\.6 % \| 160\.5 \|$/m);
  assert.doesNotMatch(same, /separate|†|nano-b-wild-7 training history/);

  // Separate FER2013-primary run: its own config (init snapshot, FER+ weight 0), best FER2013 epoch 13.
  const config7 = { ...config8, epochs: 16, lr: 0.002, aux7Weight: 1, ferPlusWeight: 0, select: 'fer2013', pretrained: 'nano-b-fer-e36' };
  const validation7 = { ferPlusPublicTest: { accuracy: 0.7887, macroF1: 0.577, n: 3276 }, fer2013PublicTest: { accuracy: 0.6340, macroF1: 0.5629, n: 3309 }, fer2013PublicTestFrom8ClassHead: 0.583 };
  const history7 = [row(12, 0.6316, '2026-11-27T04:01:00.000Z'), row(13, 0.6340, '2026-11-27T04:04:00.000Z')];
  writeSeven({ ...results8, model: 'nano-b-wild-7', config: config7, epoch: 13, validation: validation7, history: history7 });
  const fromResults = ferReport(root);
  assert.match(fromResults, /`nano-b-wild` \/ `nano-b-wild-7` \| 141,163 \| 11\.1 M \| 48 \(extended after the export, planned 40\) \| 47 \| 81\.0 % \(−1\.0 pt\) \| 63\.4 % \(−3\.6 pt\) † \| 58\.6 % \/ 56\.3 % \|/, 'FER2013 columns of the shipped -7 model');
  assert.doesNotMatch(fromResults, /62\.5 %|54\.6 %/, 'not the 8-class run\'s FER2013 figures');
  assert.match(fromResults, /^\| ↳ `nano-b-wild-7` †: separate FER2013-primary run \(init `nano-b-fer-e36`, loss weights FER\+ 0 \/ FER2013 1\) \| 141,098 \| 11\.1 M \| – \(of 16\) \| 13 \| – \| 63\.4 % \(−3\.6 pt\) \| – \/ 56\.3 % \| 160\.5 \|$/m);
  assert.match(fromResults, /\*\*nano-b-wild-7 training history \(separate FER2013-primary run, init `nano-b-fer-e36`, loss weights FER\+ 0 \/ FER2013 1\)\*\*/);
  assert.match(fromResults, /^\| 13 \| 1\.2000 \| 74\.0 % \| 78\.87 % \| 63\.40 % \| 57\.0 % \| 160\.5 \| 4 \| 2026-11-27 04:04 \|$/m, 'history rows from results.json');

  // A joint run (FER+ head still trained) whose epoch was chosen on FER2013 is not called FER2013-primary.
  writeSeven({ ...results8, model: 'nano-b-wild-7', config: { ...config7, aux7Weight: 2, ferPlusWeight: 1 }, epoch: 13, validation: validation7, history: history7 });
  const joint = ferReport(root);
  assert.match(joint, /^\| ↳ `nano-b-wild-7` †: separate joint \(both heads, exported on FER2013\) run \(init `nano-b-fer-e36`, loss weights FER\+ 1 \/ FER2013 2\) \|/m);
  assert.match(joint, /\*\*nano-b-wild-7 training history \(separate joint \(both heads, exported on FER2013\) run, init `nano-b-fer-e36`, loss weights FER\+ 1 \/ FER2013 2\)\*\*/);
  assert.doesNotMatch(joint, /FER2013-primary/);
  writeSeven({ ...results8, model: 'nano-b-wild-7', config: config7, epoch: 13, validation: validation7, history: history7 });

  // With the run's checkpoint committed: epochs done and the history come from it.
  fs.mkdirSync(path.join(root, 'checkpoints', 'fer7-nano-b'), { recursive: true });
  const training7 = { key: '{}', epoch: 15, stepInEpoch: 200, globalStep: 6848, history: [...history7, { ...row(14, 0.6337, '2026-11-27T04:07:00.000Z'), imagesPerSec: 181.7 }], best: null, partial: null };
  fs.writeFileSync(path.join(root, 'checkpoints', 'fer7-nano-b', 'model.json'), JSON.stringify({ training: training7 }));
  const fromCheckpoint = ferReport(root);
  assert.match(fromCheckpoint, /^\| ↳ `nano-b-wild-7` †: .* \| 15 \+ 200 steps \(of 16\) \| 13 \| – \| 63\.4 % \(−3\.6 pt\) \| – \/ 56\.3 % \| 181\.7 \|$/m);
  assert.match(fromCheckpoint, /^\| 14 \| 1\.2000 \| 74\.0 % \| 78\.87 % \| 63\.37 % \| 57\.0 % \| 181\.7 \| 4 \| 2026-11-27 04:07 \|$/m, 'history rows from the checkpoint');
  assert.ok(fromCheckpoint.indexOf('nano-b-wild training history') < fromCheckpoint.indexOf('nano-b-wild-7 training history'), 'the 8-class run first');

  // A further stage: a run started from that checkpoint, with its own checkpoint named by `work`.
  fs.mkdirSync(path.join(root, 'checkpoints', 'fer7fit-nano-b'), { recursive: true });
  const history3 = [row(1, 0.6349, '2026-11-27T09:00:00.000Z'), { ...row(2, 0.6410, '2026-11-27T09:04:00.000Z'), imagesPerSec: 135.5 }, row(3, 0.6371, '2026-11-27T09:07:00.000Z')];
  fs.writeFileSync(path.join(root, 'checkpoints', 'fer7fit-nano-b', 'model.json'), JSON.stringify({ training: { key: '{}', epoch: 3, stepInEpoch: 0, globalStep: 1332, history: history3, best: null, partial: null } }));
  const config3 = { ...config7, epochs: 3, lr: 0.001, pretrained: 'fer7-nano-b' };
  const validation3 = { ...validation7, fer2013PublicTest: { accuracy: 0.641, macroF1: 0.559, n: 3309 } };
  writeSeven({ ...results8, model: 'nano-b-wild-7', config: config3, epoch: 2, validation: validation3, history: history3.slice(0, 2), work: 'checkpoints/fer7fit-nano-b', init: 'checkpoints/fer7-nano-b' });
  const staged = ferReport(root);
  assert.match(staged, /^\| ↳ `nano-b-wild-7` †: separate FER2013-primary run \(init `fer7-nano-b`, .* \| 3 \(of 3\) \| 2 \| – \| 64\.1 % \(−2\.9 pt\) \| – \/ 55\.9 % \| 160\.5 \|$/m, 'epochs done from the checkpoint named by work');
  assert.match(staged, /^\| 3 \| 1\.2000 \| 74\.0 % \| 78\.87 % \| 63\.71 % \|/m, 'history of the stage (its checkpoint, past the export)');
  const earlier = staged.indexOf('nano-b-wild-7, earlier stage: the run it started from (`checkpoints/fer7-nano-b`)');
  assert.ok(earlier > 0, 'the history of the run it started from');
  assert.ok(earlier < staged.indexOf('nano-b-wild-7 training history'), 'earlier stage first');
  assert.match(staged.slice(earlier), /^\| 14 \| 1\.2000 \| 74\.0 % \| 78\.87 % \| 63\.37 % \|/m, 'fer7-nano-b rows under the earlier-stage heading');

  // A stage started from the 8-class model's own run: a reference to its table, not a second copy.
  writeSeven({ ...results8, model: 'nano-b-wild-7', config: config3, epoch: 2, validation: validation3, history: history3.slice(0, 2), work: 'checkpoints/fer7fit-nano-b', init: 'checkpoints/fer-nano-b' });
  const fromEightRun = ferReport(root);
  assert.match(fromEightRun, /\*\*nano-b-wild-7, earlier stage:\*\* the run of `nano-b-wild` \(`checkpoints\/fer-nano-b`\), whose history is above\./);
  assert.ok(!fromEightRun.includes('nano-b-wild-7, earlier stage: the run it started from'), 'no second copy of the 8-class run table');
});

test('fer-report: a 7-label model that is a weight soup (fer:soup) gets a soup row and the history of every member', () => {
  const root = tmpDir('fer-report-soup-');
  for (const d of ['checkpoints/fer-nano-a', 'checkpoints/s1', 'checkpoints/s2', 'models/nano-a-wild', 'models/nano-a-wild-7']) fs.mkdirSync(path.join(root, d), { recursive: true });
  const row = (epoch: number, valFer2013: number) => ({ epoch, loss: 1.1, trainAccuracy8: 0.8, lr: 0.001, seconds: 200, imagesPerSec: 150.5, valFerPlus: 0.82, valFer2013, valFerPlusMacroF1: 0.59, valFer2013MacroF1: 0.6, finishedAt: '2026-11-27T16:00:00.000Z' });
  const state = (epoch: number, history: object[]) => ({ training: { key: '{}', epoch, stepInEpoch: 0, globalStep: 100, history, best: null, partial: null } });
  fs.writeFileSync(path.join(root, 'checkpoints', 'fer-nano-a', 'model.json'), JSON.stringify(state(60, [row(60, 0.6491)])));
  fs.writeFileSync(path.join(root, 'checkpoints', 's1', 'model.json'), JSON.stringify(state(6, [row(6, 0.6591)])));
  fs.writeFileSync(path.join(root, 'checkpoints', 's2', 'model.json'), JSON.stringify(state(6, [row(6, 0.6549)])));
  const validation = (a8: number, a7: number) => ({ ferPlusPublicTest: { accuracy: a8, macroF1: 0.6, n: 3276 }, fer2013PublicTest: { accuracy: a7, macroF1: 0.61, n: 3309 }, fer2013PublicTestFrom8ClassHead: 0.58 });
  const results8 = { model: 'nano-a-wild', params8: 243292, params7: 243035, macs: 17674304, config: { epochs: 60 }, epoch: 52, validation: validation(0.822, 0.649), exportedAt: '2026-11-27T13:00:00.000Z', work: 'checkpoints/fer-nano-a' };
  fs.writeFileSync(path.join(root, 'models', 'nano-a-wild', 'results.json'), JSON.stringify(results8));
  const members = [
    { work: 'checkpoints/s1', epoch: 6, stepInEpoch: 0, seed: 1, init: 'fer-nano-a' },
    { work: 'checkpoints/s2', epoch: 6, stepInEpoch: 0, seed: 2, init: 'fer-nano-a', teacher7: 'ab7-flip#0123' },
  ];
  const soup = { model: 'nano-a-wild-7', params8: 243292, params7: 243035, macs: 17674304, config: { soup: 2, pretrained: 'fer-nano-a', aux7Weight: 1, ferPlusWeight: 0 }, init: 'fer-nano-a', soup: { members }, validation: validation(0.8214, 0.6618), exportedAt: '2026-11-27T16:30:00.000Z', weights: 'soup', history: [] };
  fs.writeFileSync(path.join(root, 'models', 'nano-a-wild-7', 'results.json'), JSON.stringify(soup));
  const md = ferReport(root);
  assert.match(md, /^\| `nano-a-wild` \/ `nano-a-wild-7` \| 243,292 \| 17\.7 M \| 60 \(extended after the export, planned 40\) \| 52 \| 82\.2 % ✔ \| 66\.2 % \(−0\.8 pt\) † \|/m, 'FER2013 column from the soup');
  assert.match(md, /^\| ↳ `nano-a-wild-7` †: uniform weight soup of 2 FER2013-primary runs \(init `fer-nano-a`, loss weights FER\+ 0 \/ FER2013 1\) \| 243,035 \| 17\.7 M \| members: 6, 6 \| soup \(each member's last epoch\) \| – \| 66\.2 % \(−0\.8 pt\) \| – \/ 61\.0 % \| – \|$/m);
  assert.match(md, /\*\*nano-a-wild-7, earlier stage of every soup member:\*\* the run of `nano-a-wild` \(`checkpoints\/fer-nano-a`\), whose history is above\./);
  const m1 = md.indexOf('nano-a-wild-7 soup member 1 of 2: `checkpoints/s1` (seed 1)');
  const m2 = md.indexOf('nano-a-wild-7 soup member 2 of 2: `checkpoints/s2` (seed 2, FER2013 teacher `ab7-flip#0123`)');
  assert.ok(m1 > 0 && m2 > m1, 'one history per member, in order');
  assert.match(md.slice(m1, m2), /^\| 6 \| 1\.1000 \| 80\.0 % \| 82\.00 % \| 65\.91 % \|/m);
  assert.match(md.slice(m2), /^\| 6 \| 1\.1000 \| 80\.0 % \| 82\.00 % \| 65\.49 % \|/m);
  assert.doesNotMatch(md, /separate FER2013-primary run/, 'not printed as a single run');
});

test('fer-report: an 8-class model that is a weight soup: members in the row, the common start once (the -7 run started there too: a reference), every member history', () => {
  const root = tmpDir('fer-report-soup8-');
  for (const d of ['checkpoints/fer-nano-b-kd', 'checkpoints/f1', 'checkpoints/f2', 'checkpoints/fer7kd-nano-b', 'models/nano-b-wild', 'models/nano-b-wild-7']) fs.mkdirSync(path.join(root, d), { recursive: true });
  const row = (epoch: number, valFerPlus: number) => ({ epoch, loss: 1.25, trainAccuracy8: 0.87, lr: 0.001, seconds: 130, imagesPerSec: 230.5, valFerPlus, valFer2013: 0.646, valFerPlusMacroF1: 0.6, valFer2013MacroF1: 0.57, finishedAt: '2026-11-27T17:00:00.000Z' });
  const state = (epoch: number, history: object[]) => ({ training: { key: '{}', epoch, stepInEpoch: 0, globalStep: 100, history, best: null, partial: null } });
  fs.writeFileSync(path.join(root, 'checkpoints', 'fer-nano-b-kd', 'model.json'), JSON.stringify(state(60, [row(60, 0.8172)])));
  fs.writeFileSync(path.join(root, 'checkpoints', 'f1', 'model.json'), JSON.stringify(state(6, [row(6, 0.8181)])));
  fs.writeFileSync(path.join(root, 'checkpoints', 'f2', 'model.json'), JSON.stringify(state(6, [row(6, 0.8214)])));
  fs.writeFileSync(path.join(root, 'checkpoints', 'fer7kd-nano-b', 'model.json'), JSON.stringify(state(6, [row(5, 0.8080)])));
  const validation = (a8: number, a7: number) => ({ ferPlusPublicTest: { accuracy: a8, macroF1: 0.6, n: 3276 }, fer2013PublicTest: { accuracy: a7, macroF1: 0.57, n: 3309 }, fer2013PublicTestFrom8ClassHead: 0.58 });
  const members = [1, 2].map((seed) => ({ work: `checkpoints/f${seed}`, epoch: 6, stepInEpoch: 0, seed, init: 'fer-nano-b-kd', teacher: 'ab8-flip#8b2d' }));
  const soup = { model: 'nano-b-wild', params8: 141163, params7: 141098, macs: 11052800, config: { soup: 2, pretrained: 'fer-nano-b-kd', aux7Weight: 0.5, ferPlusWeight: 1 }, init: 'fer-nano-b-kd', soup: { members }, validation: validation(0.8214, 0.6506), exportedAt: '2026-11-27T17:10:00.000Z', weights: 'soup', history: [] };
  fs.writeFileSync(path.join(root, 'models', 'nano-b-wild', 'results.json'), JSON.stringify(soup));
  const seven = { model: 'nano-b-wild-7', params8: 141163, params7: 141098, macs: 11052800, config: { epochs: 6, aux7Weight: 1, ferPlusWeight: 0, pretrained: 'fer-nano-b-kd' }, epoch: 5, validation: validation(0.808, 0.6458), exportedAt: '2026-11-27T16:50:00.000Z', work: 'checkpoints/fer7kd-nano-b', init: 'checkpoints/fer-nano-b-kd' };
  fs.writeFileSync(path.join(root, 'models', 'nano-b-wild-7', 'results.json'), JSON.stringify(seven));
  const md = ferReport(root);
  assert.match(md, /^\| `nano-b-wild` \/ `nano-b-wild-7` \| 141,163 \| 11\.1 M \| members: 6, 6 \| soup of 2 \(each member's last epoch\) \| 82\.1 % ✔ \| 64\.6 % \(−2\.4 pt\) † \|/m);
  const start = md.indexOf('nano-b-wild (every soup member), earlier stage: the run it started from (`checkpoints/fer-nano-b-kd`)');
  const m1 = md.indexOf('nano-b-wild soup member 1 of 2: `checkpoints/f1` (seed 1, FER+ teacher `ab8-flip#8b2d`)');
  const m2 = md.indexOf('nano-b-wild soup member 2 of 2: `checkpoints/f2` (seed 2, FER+ teacher `ab8-flip#8b2d`)');
  assert.ok(start > 0 && m1 > start && m2 > m1, 'the common start, then each member');
  assert.match(md.slice(start, m1), /^\| 60 \| 1\.2500 \| 87\.0 % \| 81\.72 % \|/m);
  assert.match(md.slice(m2), /^\| 6 \| 1\.2500 \| 87\.0 % \| 82\.14 % \|/m);
  assert.match(md, /\*\*nano-b-wild-7, earlier stage:\*\* the run every `nano-b-wild` soup member started from \(`checkpoints\/fer-nano-b-kd`\), whose history is above\./);
  assert.equal(md.split('| 60 | 1.2500 |').length, 2, 'the common start printed once');
});

test('the training loop yields to the event loop: a timer (like a SIGTERM handler) can stop it', async () => {
  let stop = false;
  const timer = setTimeout(() => (stop = true), 300);
  const t0 = Date.now();
  const state = await trainFer(samples(16, 4), null, cfg({ epochs: 500 }), { checkpointDir: tmpDir('fer-stop-'), shouldStop: () => stop });
  clearTimeout(timer);
  assert.ok(stop, 'the timer fired while training');
  assert.ok(state.epoch < 500, `stopped early (epoch ${state.epoch}, ${Date.now() - t0} ms)`);
});

test('epoch order is a seeded permutation', () => {
  const o = epochOrder(100, 1, 3);
  assert.deepEqual([...o].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual(Array.from(epochOrder(100, 1, 3)), Array.from(o));
  assert.notDeepEqual(Array.from(epochOrder(100, 1, 4)), Array.from(o));
});

test('scoreSet: argmax over the set classes vs over all model classes; classes the model lacks are skipped', () => {
  const model = ['anger', 'happy', 'neutral'];
  const probs = [
    { anger: 0.2, happy: 0.3, neutral: 0.5 }, // truth happy: restricted → happy (neutral not in set), all → neutral
    { anger: 0.7, happy: 0.2, neutral: 0.1 }, // truth anger: correct both ways
    { anger: 0.1, happy: 0.1, neutral: 0.8 }, // truth contempt: model lacks it → skipped
  ];
  const r = scoreSet('x', ['anger', 'contempt', 'happy'], ['happy', 'anger', 'contempt'], probs, model, 100);
  assert.equal(r.images, 2);
  assert.equal(r.accuracy, 1);
  assert.equal(r.accuracyAllClasses, 0.5);
  assert.deepEqual(r.classes, ['anger', 'happy']);
  assert.deepEqual(r.skippedClasses, [{ class: 'contempt', images: 1 }]);
  assert.deepEqual(r.confusion, [[1, 0], [0, 1]]);
});

test('eval-fer report on a miniature FER folder (clean PublicTest, 8-class model on 7 labels)', async () => {
  const dir = tmpDir('fer-mini-eval-');
  writeMiniFer(dir);
  // The crowd relabels the last PublicTest image (original label sad) as neutral: one image whose
  // FER+ majority disagrees with its FER2013 label.
  const csv = path.join(dir, 'fer2013new.csv');
  const rows = fs.readFileSync(csv, 'utf8').trimEnd().split('\n');
  const last = rows.length - 1;
  assert.match(rows[last], /^PublicTest,/);
  rows[last] = rows[last].split(',').slice(0, 2).concat(['8', '0', '0', '2', '0', '0', '0', '0', '0', '0']).join(',');
  // And one clean happy image whose happy plurality is exactly half of the votes: in the plain FER+
  // set, not under the FER+ authors' majority protocol.
  const halfRow = last - 1;
  assert.match(rows[halfRow], /^PublicTest,/);
  rows[halfRow] = rows[halfRow].split(',').slice(0, 2).concat(['3', '5', '0', '0', '0', '0', '0', '0', '2', '0']).join(',');
  fs.writeFileSync(csv, rows.join('\n') + '\n');
  const out = tmpDir('fer-eval-model-');
  // Train briefly on the miniature set so the model is a real one written by the trainer.
  const idx = selectFer(loadFerIndex(dir));
  const { loadFerPixels } = await import('../../src/train/fer');
  const items = idx.train.filter((i) => i.votes && i.label8 >= 0);
  const px = loadFerPixels(dir, items);
  await trainFer(items.map((it, i) => ({ data: px[i], soft8: softTarget(it.votes!), label7: it.label7 })), null, cfg({ epochs: 1 }), { checkpointDir: path.join(out, 'ck') });
  const { folded8 } = splitHeads(foldedFromCheckpoint(path.join(out, 'ck')).folded);
  writeModelDir(path.join(out, 'm8'), { name: 'mini-wild', variant: 'nano-b', classes: FERPLUS_CLASSES, spec: tinySpec(), folded: true }, folded8);
  const rep = await evaluateFerReport({ model: path.join(out, 'm8'), data: dir, ck: null, backend: 'wasm', framingSensitivity: true });
  assert.equal(rep.framingSensitivity?.length, 7);
  assert.equal(rep.framingSensitivity?.[0].transform, 'none');
  assert.equal(rep.framingSensitivity?.[0].accuracy, rep.sets[0].accuracy, 'identity re-framing = plain evaluation');
  assert.equal(rep.model, 'mini-wild');
  const plus = rep.sets.find((s) => s.set === 'ferplus-publictest')!;
  const orig = rep.sets.find((s) => s.set === 'fer2013-publictest')!;
  assert.equal(plus.images, 5);
  assert.equal(orig.images, 5);
  assert.deepEqual(plus.classes, FERPLUS_CLASSES);
  assert.deepEqual(orig.classes, FER2013_CLASSES, '8-class model scored on the 7 original labels');
  assert.equal(plus.confusion.flat().reduce((a, b) => a + b, 0), 5);
  // The FER+ authors' majority protocol: the same predictions on the images it keeps (not the 50 % one).
  const ref = rep.sets.find((s) => s.set === 'ferplus-publictest-reference-majority')!;
  assert.ok(ref, `sets: ${rep.sets.map((s) => s.set).join(', ')}`);
  assert.equal(ref.images, 4);
  assert.deepEqual(ref.classes, FERPLUS_CLASSES);
  assert.equal(ref.facesPerSec, plus.facesPerSec, 'scored from the ferplus-publictest predictions, not classified again');
  const diff = plus.confusion.map((row, i) => row.map((v, j) => v - ref.confusion[i][j]));
  assert.ok(diff.flat().every((v) => v >= 0), 'a sub-matrix of the plurality confusion matrix');
  assert.equal(diff[HAPPY8].reduce((a, b) => a + b, 0), 1, 'the dropped image is the happy one at exactly 50 %');
  assert.equal(diff.flat().reduce((a, b) => a + b, 0), 1);
  assert.ok(plus.accuracy >= 0 && plus.accuracy <= 1 && plus.facesPerSec > 0);
  // The original-label set split by FER+ agreement: a partition of its images with a FER+ majority.
  const agree = rep.sets.find((s) => s.set === 'fer2013-publictest-ferplus-agrees')!;
  const disagree = rep.sets.find((s) => s.set === 'fer2013-publictest-ferplus-disagrees')!;
  const val7 = idx.val7;
  const nAgree = val7.filter((it) => it.label8 >= 0 && FERPLUS_CLASSES[it.label8] === FER2013_CLASSES[it.label7]).length;
  const nDisagree = val7.filter((it) => it.label8 >= 0 && FERPLUS_CLASSES[it.label8] !== FER2013_CLASSES[it.label7]).length;
  assert.ok(nAgree > 0 && nDisagree > 0, `the miniature set has both kinds (${nAgree}/${nDisagree})`);
  assert.equal(agree.images, nAgree);
  assert.equal(disagree.images, nDisagree);
  const noPlus = val7.filter((it) => it.label8 < 0).length;
  if (noPlus === 0) {
    // Correct predictions add up: the two parts' hits are the whole set's hits.
    assert.ok(Math.abs(agree.accuracy * nAgree + disagree.accuracy * nDisagree - orig.accuracy * orig.images) < 1e-9);
  }
  assert.deepEqual(
    rep.sets.map((s) => s.set),
    ['ferplus-publictest', 'ferplus-publictest-reference-majority', 'fer2013-publictest', 'fer2013-publictest-ferplus-agrees', 'fer2013-publictest-ferplus-disagrees'],
    'CK+ sets skipped when not given',
  );
  assert.equal(rep.tta, 'none');
  // Mirror averaging: the same sets, scored with flip test-time augmentation, and recorded as such.
  const flip = await evaluateFerReport({ model: path.join(out, 'm8'), data: dir, ck: null, backend: 'wasm', tta: 'flip' });
  assert.equal(flip.tta, 'flip');
  assert.deepEqual(flip.sets.map((s) => [s.set, s.images]), rep.sets.map((s) => [s.set, s.images]));
  await assert.rejects(evaluateFerReport({ model: path.join(out, 'm8'), data: dir, ck: null, backend: 'wasm', tta: 'zoom' as never }), /expected one of 'none', 'flip'/);
});

test('fer-report: mirror averaging columns from eval-fer-flip.json reports; older reports (no tta) still render', () => {
  const root = tmpDir('fer-report-tta-');
  const set = (name: string, accuracy: number, facesPerSec: number) => ({ set: name, images: 3276, accuracy, accuracyAllClasses: accuracy, macroF1: 0.5, classes: ['happy', 'neutral'], perClass: {}, confusion: [[1, 0], [0, 1]], skippedClasses: [], facesPerSec });
  const report = (sets: unknown[], tta?: string) => JSON.stringify({ model: 'nano-b-wild', modelClasses: [], backend: 'wasm', params: 1, macs: 1, sets, generatedAt: '2026-11-26T18:00:00.000Z', ...(tta ? { tta } : {}) });
  for (const m of ['nano-b-wild', 'nano-b-wild-7']) fs.mkdirSync(path.join(root, 'models', m), { recursive: true });
  const validation = { ferPlusPublicTest: { accuracy: 0.7949, macroF1: 0.57, n: 3276 }, fer2013PublicTest: { accuracy: 0.6105, macroF1: 0.52, n: 3309 }, fer2013PublicTestFrom8ClassHead: 0.55 };
  fs.writeFileSync(path.join(root, 'models', 'nano-b-wild', 'results.json'), JSON.stringify({ epoch: 18, params8: 141163, macs: 11052800, validation, exportedAt: '2026-11-26T17:00:00.000Z' }));
  // A report written before the tta option (no `tta` field) = plain.
  fs.writeFileSync(path.join(root, 'models', 'nano-b-wild', 'eval-fer.json'), report([set('ferplus-publictest', 0.7949, 600), set('ckplus-ck48', 0.6134, 640)]));
  const plainOnly = ferReport(root);
  assert.doesNotMatch(plainOnly, /mirror averaging/);
  assert.match(plainOnly, /\| ferplus-publictest \| 3276 \| 79\.49 % \| 79\.49 % \| 50\.0 % \| 600 \|$/m);
  fs.writeFileSync(path.join(root, 'models', 'nano-b-wild', 'eval-fer-flip.json'), report([set('ferplus-publictest', 0.8049, 280)], 'flip'));
  fs.writeFileSync(path.join(root, 'models', 'nano-b-wild-7', 'eval-fer-flip.json'), report([set('fer2013-publictest', 0.6174, 370)], 'flip'));
  const md = ferReport(root);
  assert.match(md, /with mirror averaging \(`--tta flip`\), FER\+ \/ FER2013 \|/);
  assert.match(md, /\| 79\.5 % \(−2\.5 pt\) \| 61\.1 % \(−5\.9 pt\) \| 80\.5 % \/ 61\.7 % \|/);
  assert.match(md, /mirror averaging columns: \*\*`npm run eval:fer -- --model nano-b-wild --tta flip`\*\*/);
  assert.match(md, /\| ferplus-publictest \| 3276 \| 79\.49 % \| 79\.49 % \| 50\.0 % \| 600 \| 80\.49 % \| 280 \|$/m);
  assert.match(md, /\| ckplus-ck48 \| 3276 \| 61\.34 % \| 61\.34 % \| 50\.0 % \| 640 \| – \| – \|$/m, 'a set the flip report lacks');
  assert.match(md, /nano-a-wild.*not trained yet\*\* \| \| \| \| \| \| \|$/m, 'rows keep the column count');
  // A file whose content does not say tta flip is not shown as mirror averaging.
  fs.writeFileSync(path.join(root, 'models', 'nano-b-wild', 'eval-fer-flip.json'), report([set('ferplus-publictest', 0.9, 1)]));
  assert.doesNotMatch(ferReport(root), /90\.00 %/);
});

test("fer-report: a column for the FER+ authors' majority protocol once an eval-fer report has the row; older reports render without it", () => {
  const root = tmpDir('fer-report-refmaj-');
  const set = (name: string, accuracy: number, images: number) => ({ set: name, images, accuracy, accuracyAllClasses: accuracy, macroF1: 0.5, classes: ['happy', 'neutral'], perClass: {}, confusion: [[1, 0], [0, 1]], skippedClasses: [], facesPerSec: 500 });
  const report = (sets: unknown[], tta?: string) => JSON.stringify({ model: 'x', modelClasses: [], backend: 'wasm', params: 1, macs: 1, sets, generatedAt: '2026-11-27T10:00:00.000Z', ...(tta ? { tta } : {}) });
  const validation = { ferPlusPublicTest: { accuracy: 0.8104, macroF1: 0.586, n: 3276 }, fer2013PublicTest: { accuracy: 0.6253, macroF1: 0.546, n: 3309 }, fer2013PublicTestFrom8ClassHead: 0.568 };
  for (const v of ['nano-b', 'nano-a']) {
    fs.mkdirSync(path.join(root, 'models', `${v}-wild`), { recursive: true });
    fs.writeFileSync(path.join(root, 'models', `${v}-wild`, 'results.json'), JSON.stringify({ epoch: 47, params8: 141163, macs: 11052800, validation, exportedAt: '2026-11-27T00:47:00.000Z' }));
  }
  const evalFile = (v: string, flip = false) => path.join(root, 'models', `${v}-wild`, flip ? 'eval-fer-flip.json' : 'eval-fer.json');
  // Reports written before the row: no column, no footnote, the table as before.
  fs.writeFileSync(evalFile('nano-b'), report([set('ferplus-publictest', 0.8104, 3276)]));
  const old = ferReport(root);
  assert.doesNotMatch(old, /authors' majority protocol|reference-majority|¹/);
  assert.match(old, /^\| `nano-b-wild` \/ `nano-b-wild-7` \| 141,163 \| 11\.1 M \| – \| 47 \| 81\.0 % \(−1\.0 pt\) \| 62\.5 % \(−4\.5 pt\) \| 58\.6 % \/ 54\.6 % \| – \|$/m);
  // Nano-B's report has the row, Nano-A's is old: a column with the accuracy and image count, – for Nano-A.
  fs.writeFileSync(evalFile('nano-b'), report([set('ferplus-publictest', 0.8104, 3276), set('ferplus-publictest-reference-majority', 0.8412, 2948)]));
  fs.writeFileSync(evalFile('nano-a'), report([set('ferplus-publictest', 0.8138, 3276)]));
  const md = ferReport(root);
  assert.match(md, /\| FER\+ PublicTest, 8 classes \(target ≥ 82 %\) \| FER\+ PublicTest, FER\+ authors' majority protocol ¹ \(n images\) \| FER2013 PublicTest/);
  assert.match(md, /^\|---\|---:\|---:\|---\|---:\|---:\|---:\|---:\|---\|---:\|$/m, 'one more right-aligned column');
  assert.match(md, /^\| `nano-b-wild` \/ `nano-b-wild-7` \| 141,163 \| 11\.1 M \| – \| 47 \| 81\.0 % \(−1\.0 pt\) \| 84\.1 % \(2948\) \| 62\.5 % \(−4\.5 pt\) \| 58\.6 % \/ 54\.6 % \| – \|$/m);
  assert.match(md, /^\| `nano-a-wild` \/ `nano-a-wild-7` \| .* \| 81\.0 % \(−1\.0 pt\) \| – \| 62\.5 % \(−4\.5 pt\) \| 58\.6 % \/ 54\.6 % \| – \|$/m);
  assert.match(md, /¹ Row `ferplus-publictest-reference-majority`.*Barsoum et al\., ICMI 2016.*more than half of the remaining votes/);
  assert.match(md, /^\| ferplus-publictest-reference-majority \| 2948 \| 84\.12 % \| 84\.12 % \| 50\.0 % \| 500 \|$/m, 'a row of the per-model table');
  // A flip report's row is not taken for the plain column; a flip row shows in the per-model table only.
  fs.writeFileSync(evalFile('nano-a', true), report([set('ferplus-publictest', 0.82, 3276), set('ferplus-publictest-reference-majority', 0.95, 2948)], 'flip'));
  const withFlip = ferReport(root);
  assert.match(withFlip, /^\| `nano-a-wild` \/ `nano-a-wild-7` \| .* \| 81\.0 % \(−1\.0 pt\) \| – \| 62\.5 % \(−4\.5 pt\) \| 82\.0 % \/ – \| 58\.6 % \/ 54\.6 % \| – \|$/m);
  // Rows of a variant not trained yet keep the column count.
  fs.rmSync(path.join(root, 'models', 'nano-a-wild'), { recursive: true });
  assert.match(ferReport(root), /nano-a-wild.*not trained yet\*\* \| \| \| \| \| \| \|$/m);
});

test('real FER2013 folder: counts and the FER+ join match the dataset README', { skip: fs.existsSync(REAL_FER) ? false : `dataset not found at ${REAL_FER} (research data, not shipped): skipping` }, () => {
  const idx = loadFerIndex(REAL_FER);
  const sel = selectFer(idx);
  assert.equal(sel.counts.training, 28709);
  assert.equal(sel.counts.publicTest, 3589);
  assert.equal(sel.counts.publicTestTwinsOfTraining, 280);
  assert.equal(sel.counts.trainingFerPlusNone, 149);
  assert.equal(idx.items.filter((i) => i.split === 'PublicTest' && i.votes === null).length, 10);
  // README sanity check: FER+ plurality agrees with the original label for ~62 % of images.
  const labelled = idx.items.filter((i) => i.label8 >= 0);
  const agree = labelled.filter((i) => FERPLUS_CLASSES[i.label8] === FER2013_CLASSES[i.label7]).length / labelled.length;
  assert.ok(agree > 0.58 && agree < 0.66, `agreement ${agree}`);
  assert.ok(tf.memory().numTensors >= 0);
});

test("real FER2013 folder: the FER+ authors' majority protocol keeps 2948 of the 3276 clean FER+ PublicTest images, with their plurality labels", { skip: fs.existsSync(REAL_FER) ? false : `dataset not found at ${REAL_FER} (research data, not shipped): skipping` }, () => {
  const idx = loadFerIndex(REAL_FER);
  const sel = selectFer(idx);
  assert.equal(sel.valPlus.length, 3276);
  const kept = sel.valPlus.filter((it) => referenceMajorityLabel(it.votes!) >= 0);
  assert.equal(kept.length, 2948);
  for (const it of kept) assert.ok(referenceMajorityLabel(it.votes!) === it.label8 && !it.tied, it.path);
  // Nothing outside the plain FER+ set is kept: scoring the subset of its predictions is the whole protocol.
  const cleanPub = idx.items.filter((i) => i.split === 'PublicTest' && !i.twinOfTraining && i.votes);
  assert.equal(cleanPub.filter((it) => referenceMajorityLabel(it.votes!) >= 0).length, 2948);
  // Pixel-identical copies carry averaged votes; here each copy's own FER+ row gives the same verdict as the averages.
  const map = readCsv(path.join(REAL_FER, 'ferplus_map.csv'));
  const ferp = readCsv(path.join(REAL_FER, 'fer2013new.csv'));
  const rowsOf = new Map(map.rows.map((r) => [r[map.header.indexOf('path')], r[map.header.indexOf('ferplus_rows')]]));
  const v0 = ferp.header.indexOf('neutral');
  const copies = cleanPub.filter((it) => (rowsOf.get(it.path) ?? '').includes(';'));
  assert.ok(copies.length >= 30, `${copies.length} clean PublicTest images with identical copies`);
  for (const it of copies) {
    for (const row of rowsOf.get(it.path)!.split(';').map(Number)) {
      assert.equal(referenceMajorityLabel(ferp.rows[row].slice(v0, v0 + 10).map(Number)), referenceMajorityLabel(it.votes!), `${it.path} row ${row}`);
    }
  }
});
