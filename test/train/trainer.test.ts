import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { PNG } from 'pngjs';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { load } from '../../src/model';
import { mulberry32 } from '../../src/model/graph';
import { selfTestInputs } from '../../src/model/selftest';
import { variantSpec } from '../../src/model/spec';
import { Sample } from '../../src/train/data';
import { DEFAULT_TRAIN_CONFIG, trainModel, TrainConfig } from '../../src/train/trainer';
import { tmpDir } from '../model/helpers';

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
