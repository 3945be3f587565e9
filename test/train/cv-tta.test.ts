/**
 * Flip test-time augmentation in cross-validation: fold records carry `tta.flip`, computed from
 * the same folded weights as the plain metrics; the summary adds their mean ± std and pooled
 * accuracy when every fold has them; `--add-tta` fills them in from final checkpoints.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { load } from '../../src/model';
import { foldBatchNorm } from '../../src/model/graph';
import { NamedArrays, readModelDir, writeModelDir } from '../../src/model/io';
import { resolveSpec, variantSpec } from '../../src/model/spec';
import { addTtaToFold, flipTtaMetrics, writeCvSummary } from '../../src/cli/train';
import { renderResults, renderSpeed } from '../../src/cli/report';
import { predictProbabilities, toArrays } from '../../src/train/trainer';
import { computeMetrics } from '../../src/train/metrics';
import type { Sample } from '../../src/train/data';
import { grayImage, randomTrainWeights, tmpDir, toTensors, writeRandomModel } from '../model/helpers';

const CLASSES7 = ['anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise'];
const samples: Sample[] = Array.from({ length: 24 }, (_, i) => ({ data: grayImage(500 + i).data, label: i % 7, subject: `S${i % 4}`, file: `/x/S${i % 4}_00${i}.png` }));

before(async () => {
  await selectBackend({ backend: 'wasm', logger: silentLogger });
});

test('flipTtaMetrics (training side) equals load({ tta: "flip" }) (inference side) on the same weights', async () => {
  const dir = await writeRandomModel(path.join(tmpDir(), 'm'), 'nano-b', CLASSES7, 5);
  const { json, arrays } = readModelDir(dir);
  const r = resolveSpec(json.spec);
  const probs = await predictProbabilities(r, arrays, samples.map((s) => s.data));
  const flip = await flipTtaMetrics(r, arrays, CLASSES7, samples, probs);
  const clf = await load({ model: dir, backend: 'wasm', tta: 'flip', logger: silentLogger });
  try {
    const res = await clf.classify(samples.map((s) => ({ width: 48, height: 48, data: s.data })));
    const m = computeMetrics(CLASSES7, samples.map((s) => s.label), res.map((x) => CLASSES7.indexOf(x.label)));
    assert.deepEqual(flip.confusion, m.confusion);
    assert.equal(flip.accuracy, m.accuracy);
    assert.equal(flip.macroF1, m.macroF1);
  } finally {
    clf.dispose();
  }
});

test('CV summary: flip TTA mean ± std and pooled accuracy when every fold has it, none otherwise', () => {
  const dir = tmpDir();
  const classes = ['happy', 'sadness'];
  const folds = [
    { fold: 0, accuracy: 0.9, confusion: [[5, 0], [1, 4]], tta: { flip: { accuracy: 1, macroF1: 1, confusion: [[5, 0], [0, 5]] } } },
    { fold: 1, accuracy: 0.7, confusion: [[3, 2], [1, 4]], tta: { flip: { accuracy: 0.8, macroF1: 0.8, confusion: [[4, 1], [1, 4]] } } },
  ];
  const write = (f: (typeof folds)[number] | Omit<(typeof folds)[number], 'tta'>) =>
    fs.writeFileSync(path.join(dir, `fold-${f.fold}.json`), JSON.stringify({ ...f, classes, dataset: 'toy', config: { variant: 'nano-b' }, params: 1, macs: 2, testImages: 10, testSubjects: ['S1'] }));
  folds.forEach(write);
  writeCvSummary(dir, 2);
  const s = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
  assert.ok(Math.abs(s.meanAccuracy - 0.8) < 1e-12);
  assert.ok(Math.abs(s.tta.flip.meanAccuracy - 0.9) < 1e-12);
  assert.ok(Math.abs(s.tta.flip.stdAccuracy - Math.sqrt(0.02)) < 1e-12);
  assert.deepEqual(s.tta.flip.pooled.confusion, [[9, 1], [1, 9]]);
  assert.equal(s.tta.flip.pooled.accuracy, 0.9);
  assert.deepEqual(s.perFold.map((p: { ttaFlipAccuracy: number }) => p.ttaFlipAccuracy), [1, 0.8]);
  // A fold without TTA metrics (an older record): no TTA summary.
  const { tta: _drop, ...old } = folds[1];
  write(old);
  writeCvSummary(dir, 2);
  const s2 = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
  assert.equal(s2.tta, undefined);
  assert.ok(Math.abs(s2.meanAccuracy - 0.8) < 1e-12);
});

test('--add-tta: adds tta.flip from a final checkpoint that reproduces the recorded predictions, else leaves the record alone', async () => {
  const dir = tmpDir();
  const spec = variantSpec('nano-b');
  const r = resolveSpec(spec);
  const train: NamedArrays = randomTrainWeights('nano-b', 7, 9);
  const ckDir = path.join(dir, 'fold-0');
  writeModelDir(ckDir, { name: 'checkpoint', variant: 'nano-b', classes: CLASSES7, spec, folded: false, training: { epoch: 3 } }, train);
  const tw = toTensors(train);
  const foldedT = foldBatchNorm(r, tw);
  const folded = await toArrays(foldedT);
  tf.dispose([...Object.values(tw), ...Object.values(foldedT)]);
  const probs = await predictProbabilities(r, folded, samples.map((s) => s.data));
  const pred = probs.map((p) => p.indexOf(Math.max(...p)));
  const m = computeMetrics(CLASSES7, samples.map((s) => s.label), pred);
  const record = {
    fold: 0,
    accuracy: m.accuracy,
    confusion: m.confusion,
    classes: CLASSES7,
    config: { epochs: 3 },
    predictions: samples.map((s, i) => ({ file: path.basename(s.file), label: CLASSES7[s.label], pred: CLASSES7[pred[i]] })),
  };
  const file = path.join(dir, 'fold-0.json');
  fs.writeFileSync(file, JSON.stringify(record));
  assert.match(await addTtaToFold(file, ckDir, samples, CLASSES7), /flip TTA [\d.]+ % \(added\)/);
  const rec = JSON.parse(fs.readFileSync(file, 'utf8'));
  const want = await flipTtaMetrics(r, folded, CLASSES7, samples, probs);
  assert.deepEqual(rec.tta.flip, JSON.parse(JSON.stringify(want)));
  assert.deepEqual(rec.predictions, record.predictions, 'the rest of the record is kept');
  assert.match(await addTtaToFold(file, ckDir, samples, CLASSES7), /has flip TTA already/);
  // A record the checkpoint does not reproduce, or a checkpoint of another epoch: untouched.
  const wrong = { ...record, predictions: record.predictions.map((p, i) => (i === 0 ? { ...p, pred: p.pred === 'happy' ? 'fear' : 'happy' } : p)) };
  fs.writeFileSync(file, JSON.stringify(wrong));
  assert.match(await addTtaToFold(file, ckDir, samples, CLASSES7), /does not reproduce the recorded predictions/);
  fs.writeFileSync(file, JSON.stringify({ ...record, config: { epochs: 30 } }));
  assert.match(await addTtaToFold(file, ckDir, samples, CLASSES7), /not the final training state \(epoch 3 of 30\)/);
  assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).tta, undefined);
  assert.match(await addTtaToFold(file, path.join(dir, 'nope'), samples, CLASSES7), /no checkpoint/);
});

test('model card report: a flip-TTA column and summary line where the CV folds have it, speed rows for the tta-flip bench', () => {
  const models = tmpDir('report-tta-');
  const run = (name: string, withTta: boolean) => {
    const dir = path.join(models, 'cv', name);
    fs.mkdirSync(dir, { recursive: true });
    [0, 1].forEach((fold) => {
      const acc = fold === 0 ? 0.9 : 0.8;
      const rec = {
        fold, accuracy: acc, macroF1: acc, confusion: [[9, 1], [fold === 0 ? 1 : 3, fold === 0 ? 9 : 7]], classes: ['happy', 'sadness'], dataset: 'toy', config: { variant: 'nano-b', epochs: 3, batchSize: 16 },
        params: 1, macs: 2, testImages: 20, trainImages: 100, testSubjects: ['S1', 'S2'], trainSeconds: 60, history: [{ epoch: 3, loss: 0.5, accuracy: 0.99 }],
        ...(withTta ? { tta: { flip: { accuracy: acc + 0.05, macroF1: acc, confusion: [[10, 0], [fold === 0 ? 1 : 2, fold === 0 ? 9 : 8]] } } } : {}),
      };
      fs.writeFileSync(path.join(dir, `fold-${fold}.json`), JSON.stringify(rec));
    });
  };
  run('toy-tta', true);
  run('toy-old', false);
  const md = renderResults(models);
  const tta = md.slice(md.indexOf('#### toy-tta'));
  const old = md.slice(md.indexOf('#### toy-old'), md.indexOf('#### toy-tta'));
  assert.match(tta, /With mirror averaging \(flip test-time augmentation, the same fold models\): mean \*\*90\.00 % ± 7\.07 %\*\*; pooled accuracy 92\.50 %.*\(\+5\.00 points on the mean\)/);
  assert.match(tta, /\| fold \| test subjects \| test images \| train images \| accuracy \| accuracy, flip TTA \| macro-F1 \|/);
  assert.match(tta, /\| 0 \| 2 \| 20 \| 100 \| 90\.00 % \| 95\.00 % \| 0\.900 \|/);
  assert.doesNotMatch(old, /flip TTA|mirror averaging/);
  assert.match(old, /\| 1 \| 2 \| 20 \| 100 \| 80\.00 % \| 0\.800 \|/);
  // Speed: the tta-flip rows of a saved classify bench.
  const row = (fps: number, ms: number) => ({ facesPerSec: fps, singleMs: ms, macs: 11052736, gflops: 18, fractionOfDenseConv: 0.9, weights: 'shipped' });
  fs.writeFileSync(
    path.join(models, 'bench-classify.json'),
    JSON.stringify({ machine: {}, classify: { backend: 'wasm', denseConv3x3Gflops: 20, 'nano-b': row(850, 1.4), 'nano-b-tta-flip': { ...row(440, 2.1), tta: 'flip', costVsPlain: 1.93 }, leakCheckTtaFlip: { classifications: 2000, tensorsBefore: 44, tensorsAfter: 44, ok: true } } }),
  );
  const speed = renderSpeed(models);
  assert.match(speed, /\| nano-b \| 850 \| 1\.4 \|/);
  assert.match(speed, /\| nano-b, mirror averaging \(`tta: 'flip'`\) \| 440 \| 2\.1 \| 2 × 11\.1 M \| 18 \| 0\.9 \| shipped \| 1\.93x the plain cost at batch 16 \|/);
  // A run saved before the bench counted the backend's buffers (the direct executor's) claims no more than it checked.
  assert.match(speed, /Leak check with mirror averaging: 2000 classifications, `numTensors` 44 before and 44 after \(no tensor leak; backend data buffers not counted\)/);
  fs.writeFileSync(
    path.join(models, 'bench-classify.json'),
    JSON.stringify({ machine: {}, classify: { backend: 'wasm', leakCheck: { classifications: 10000, tensorsBefore: 44, tensorsAfter: 44, buffersBefore: 60, buffersAfter: 61, ok: false }, leakCheckTtaFlip: { classifications: 2000, tensorsBefore: 44, tensorsAfter: 44, buffersBefore: 60, buffersAfter: 60, ok: true } } }),
  );
  const counted = renderSpeed(models);
  assert.match(counted, /Leak check: 10000 classifications, `tf\.memory\(\)\.numTensors` 44 before and 44 after, backend data buffers 60 before and 61 after \(\*\*LEAK\*\*\)/);
  assert.match(counted, /Leak check with mirror averaging: 2000 classifications, `numTensors` 44 before and 44 after, backend data buffers 60 before and 60 after \(no leak\)/);
});
