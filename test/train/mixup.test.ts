/** Mixup for train:fer (`--mixup <alpha>`): the draws, the in-place mixing, makeBatch and the config key. No dataset needed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mixupOption } from '../../src/cli/train-fer';
import { parseArgs } from '../../src/cli/args';
import { variantSpec } from '../../src/model/spec';
import { mulberry32 } from '../../src/model/graph';
import { DEFAULT_FER_CONFIG, ferConfigKey, FerSample, FerTrainConfig, keyDifferences, makeBatch } from '../../src/train/fer-trainer';
import { applyMixup, mixupPlan, sampleGamma, sampleSymmetricBeta } from '../../src/train/mixup';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (±${tol})`);

test('Gamma and Beta draws have the right moments (shape < 1 and > 1)', () => {
  const rand = mulberry32(7);
  for (const shape of [0.3, 2.5]) {
    const xs = Array.from({ length: 20000 }, () => sampleGamma(shape, rand));
    assert.ok(xs.every((x) => x >= 0 && Number.isFinite(x)));
    close(xs.reduce((a, b) => a + b, 0) / xs.length, shape, 0.05 * Math.max(1, shape), `gamma(${shape}) mean`);
  }
  for (const alpha of [0.2, 1]) {
    const xs = Array.from({ length: 20000 }, () => sampleSymmetricBeta(alpha, rand));
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
    close(mean, 0.5, 0.01, `beta(${alpha}) mean`);
    close(variance, 1 / (4 * (2 * alpha + 1)), 0.01, `beta(${alpha}) variance`);
  }
  assert.throws(() => sampleGamma(0, rand), /shape must be > 0/);
  assert.throws(() => mixupPlan(4, 0, rand), /alpha must be > 0/);
});

test('a plan pairs each row with a partner (a permutation) at a weight in [0.5, 1]; the same seed gives the same plan', () => {
  const p = mixupPlan(64, 0.2, mulberry32(3));
  assert.deepEqual(Array.from(p.partner).sort((a, b) => a - b), Array.from({ length: 64 }, (_, i) => i));
  assert.ok(Array.from(p.lambda).every((l) => l >= 0.5 && l <= 1));
  assert.deepEqual(mixupPlan(64, 0.2, mulberry32(3)), p);
  assert.notDeepEqual(Array.from(mixupPlan(64, 0.2, mulberry32(4)).partner), Array.from(p.partner));
});

test('applyMixup mixes every block from the original rows (exact), and refuses a block of the wrong size', () => {
  const plan = { partner: Int32Array.from([1, 2, 0]), lambda: Float32Array.from([0.75, 1, 0.5]) };
  const a = Float32Array.from([0, 0, 4, 4, 8, 0]); // 3 rows x 2
  const b = Float32Array.from([1, 0, 0]); // 3 rows x 1
  applyMixup(plan, [{ data: a, width: 2 }, { data: b, width: 1 }]);
  assert.deepEqual(Array.from(a), [1, 1, 4, 4, 4, 0]);
  assert.deepEqual(Array.from(b), [0.75, 0, 0.5]);
  assert.throws(() => applyMixup(plan, [{ data: new Float32Array(5), width: 2 }]), /expected 3 x 2/);
});

test('makeBatch with mixup: pixels and both targets are the same convex mix; targets stay distributions; a row without FER+ votes lowers the FER+ weight', () => {
  const cfg: FerTrainConfig = { ...DEFAULT_FER_CONFIG, variant: 'nano-b', spec: variantSpec('nano-b'), augment: null };
  const px = 48 * 48;
  const soft = (c: number) => Float32Array.from({ length: 8 }, (_, k) => (k === c ? 0.7 : 0.3 / 7));
  const samples: FerSample[] = Array.from({ length: 8 }, (_, i) => ({
    data: Uint8Array.from({ length: px }, (_, p) => (i * 31 + p) % 256),
    soft8: i === 5 ? null : soft(i % 8),
    label7: i % 7,
  }));
  const idx = [0, 1, 2, 3, 4, 5, 6, 7];
  const plain = makeBatch(samples, idx, 48, mulberry32(9), cfg);
  assert.deepEqual(makeBatch(samples, idx, 48, mulberry32(9), { ...cfg, mixup: 0 }), plain, 'mixup 0 is off');
  const mixed = makeBatch(samples, idx, 48, mulberry32(9), { ...cfg, mixup: 0.4 });
  assert.deepEqual(mixed, makeBatch(samples, idx, 48, mulberry32(9), { ...cfg, mixup: 0.4 }), 'seeded: the same batch twice');
  // The plan makeBatch used: the same draws after the (augmentation-free) batch.
  const plan = mixupPlan(8, 0.4, mulberry32(9));
  let moved = 0;
  for (let i = 0; i < 8; i++) {
    const j = plan.partner[i];
    const l = plan.lambda[i];
    if (j !== i && l < 0.999) moved++;
    for (const p of [0, 100, px - 1]) close(mixed.pixels[i * px + p], l * plain.pixels[i * px + p] + (1 - l) * plain.pixels[j * px + p], 1e-3, `pixel ${p} of row ${i}`);
    for (let c = 0; c < 7; c++) close(mixed.target7[i * 7 + c], l * plain.target7[i * 7 + c] + (1 - l) * plain.target7[j * 7 + c], 1e-6, `target7 row ${i}`);
    close(mixed.target7.slice(i * 7, i * 7 + 7).reduce((a, b) => a + b, 0), 1, 1e-5, `target7 row ${i} sum`);
    const w = l * plain.mask8[i] + (1 - l) * plain.mask8[j];
    close(mixed.mask8[i], w, 1e-6, `mask8 row ${i}`);
    if (w > 0) {
      close(mixed.soft8.slice(i * 8, i * 8 + 8).reduce((a, b) => a + b, 0), 1, 1e-5, `soft8 row ${i} sum`);
      for (let c = 0; c < 8; c++) close(mixed.soft8[i * 8 + c], (l * plain.mask8[i] * plain.soft8[i * 8 + c] + (1 - l) * plain.mask8[j] * plain.soft8[j * 8 + c]) / w, 1e-5, `soft8 row ${i}`);
    } else assert.equal(mixed.majority8[i], -1);
  }
  assert.ok(moved >= 4, `most rows mix with another image (${moved} of 8)`);
  const partnerOf5 = Array.from(plan.partner).indexOf(5);
  if (partnerOf5 !== 5) assert.ok(mixed.mask8[partnerOf5] < 1, 'mixed with the image without FER+ votes: lower FER+ weight');
});

test('--mixup enters the config key only when on, is named by keyDifferences, and is validated', () => {
  const cfg: FerTrainConfig = { ...DEFAULT_FER_CONFIG, variant: 'nano-b', spec: variantSpec('nano-b') };
  const off = ferConfigKey(cfg, 100);
  assert.equal(ferConfigKey({ ...cfg, mixup: 0 }, 100), off, 'older checkpoints keep resuming');
  const on = ferConfigKey({ ...cfg, mixup: 0.2 }, 100);
  assert.deepEqual(keyDifferences(off, on), ['--mixup (checkpoint: none, now: 0.2)']);
  assert.equal(mixupOption(parseArgs([])), 0);
  assert.equal(mixupOption(parseArgs(['--mixup', '0.2'])), 0.2);
  for (const bad of [['--mixup'], ['--mixup', '-1'], ['--mixup', 'x'], ['--mixup', '11']]) assert.throws(() => mixupOption(parseArgs(bad)), /--mixup needs an alpha/);
});
