/** Test helpers: random (but valid) EmotionNet Nano models written in our file format. */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { foldBatchNorm, initTrainWeights, mulberry32, TensorMap } from '../../src/model/graph';
import { NamedArrays, writeModelDir } from '../../src/model/io';
import { ArchSpec, resolveSpec, variantSpec } from '../../src/model/spec';
import type { EmotionClassifier, FaceImage } from '../../src/model';

export function tmpDir(prefix = 'emotionnet-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Training-form weights with non-trivial BN statistics (so folding is really exercised). */
export function randomTrainWeights(variant: string, classes: number, seed = 7, spec: ArchSpec = variantSpec(variant)): NamedArrays {
  const r = resolveSpec(spec);
  const w = initTrainWeights(r, classes, seed);
  const rand = mulberry32(seed + 1);
  for (const [n, a] of Object.entries(w)) {
    if (n.endsWith('/gamma')) a.data.forEach((_, i) => (a.data[i] = 0.5 + rand()));
    if (n.endsWith('/beta') || n.endsWith('/moving_mean')) a.data.forEach((_, i) => (a.data[i] = rand() - 0.5));
    if (n.endsWith('/moving_variance')) a.data.forEach((_, i) => (a.data[i] = 0.5 + 2 * rand()));
  }
  return w;
}

export function toTensors(a: NamedArrays): TensorMap {
  const m: TensorMap = {};
  for (const [n, v] of Object.entries(a)) m[n] = tf.tensor(v.data, v.shape);
  return m;
}

/** Writes a random folded model to `<dir>` and returns the dir. */
export async function writeRandomModel(
  dir: string,
  variant = 'nano-b',
  classes = ['anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise'],
  seed = 7,
  spec: ArchSpec = variantSpec(variant),
): Promise<string> {
  const r = resolveSpec(spec);
  const tw = toTensors(randomTrainWeights(variant, classes.length, seed, spec));
  const folded = foldBatchNorm(r, tw);
  const arrays: NamedArrays = {};
  for (const [n, t] of Object.entries(folded)) arrays[n] = { shape: t.shape.slice(), data: (await t.data()) as Float32Array };
  tf.dispose([...Object.values(tw), ...Object.values(folded)]);
  writeModelDir(dir, { name: path.basename(dir), variant, classes, spec, folded: true }, arrays);
  return dir;
}

/** A 48x48 gray test image from a seed. */
export function grayImage(seed: number, size = 48): { width: number; height: number; data: Uint8Array } {
  const rand = mulberry32(seed);
  const data = new Uint8Array(size * size);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rand() * 256);
  return { width: size, height: size, data };
}

/**
 * Classifies `faces` with both classifiers; checks counts and labels (where the top two classes
 * are not a near-tie) and returns the largest absolute difference of any probability.
 */
export async function compareExecutors(a: EmotionClassifier, b: EmotionClassifier, faces: FaceImage[], what: string): Promise<number> {
  const ra = await a.classify(faces);
  const rb = await b.classify(faces);
  assert.equal(ra.length, faces.length, what);
  assert.equal(rb.length, faces.length, what);
  let worst = 0;
  ra.forEach((r, i) => {
    const ps = Object.values(rb[i].probabilities).sort((x, y) => y - x);
    if (ps[0] - ps[1] > 1e-4) assert.equal(r.label, rb[i].label, `${what}, face ${i}`);
    for (const [c, p] of Object.entries(r.probabilities)) worst = Math.max(worst, Math.abs(p - rb[i].probabilities[c]));
  });
  return worst;
}
