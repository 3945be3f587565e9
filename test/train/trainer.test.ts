import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { PNG } from 'pngjs';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { load } from '../../src/model';
import { initTrainWeights, mulberry32 } from '../../src/model/graph';
import { selfTestInputs } from '../../src/model/selftest';
import { resolveSpec, variantSpec } from '../../src/model/spec';
import { Sample } from '../../src/train/data';
import { DEFAULT_TRAIN_CONFIG, initFromPretrained, loadPretrained, trainModel, TrainConfig } from '../../src/train/trainer';
import { tmpDir, writeRandomModel } from '../model/helpers';

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
  const json = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
  assert.deepEqual(json.classes, ['happy', 'sadness']);
  assert.equal(json.folded, true);
  const st = JSON.parse(fs.readFileSync(path.join(out, 'selftest.json'), 'utf8'));
  const clf = await load({ model: out, logger: silentLogger });
  const res = await clf.classify(selfTestInputs().map((data) => ({ width: 48, height: 48, data })));
  res.forEach((c, i) => clf.classes.forEach((k, j) => assert.ok(Math.abs(c.probabilities[k] - st.probabilities[i][j]) < 1e-4)));
  clf.dispose();
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

  // Clear errors: another architecture, a BN-folded inference model, a folder without a model.
  assert.throws(() => loadPretrained(ck, variantSpec('nano-a')), /different architecture/);
  const folded = await writeRandomModel(path.join(dir, 'folded'), 'nano-b', ['horizontal', 'vertical']);
  assert.throws(() => loadPretrained(folded, variantSpec('nano-b')), /BN-folded inference model/);
  assert.throws(() => loadPretrained(path.join(dir, 'nothing'), variantSpec('nano-b')), /No model.json/);
});
