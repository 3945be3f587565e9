/**
 * Reference outputs for shipped weights: fixed synthetic inputs, and the class probabilities
 * the TRAINING-form graph (unfolded batch-norm in inference mode, from the last checkpoint)
 * gives for them. The test suite checks that `load()` (BN folded, weights read back from
 * disk) reproduces them — covering folding, the file format and the inference graph.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { mulberry32, TensorMap, trainForward } from './graph';
import { NamedArrays, readModelDir, trainingFormWeights } from './io';
import { ArchSpec, resolveSpec } from './spec';

export const SELFTEST_VERSION = 1;

/** Four deterministic 48x48 gray images: a face-like blob pattern, a gradient, stripes, seeded noise. */
export function selfTestInputs(size = 48): Uint8Array[] {
  const face = new Uint8Array(size * size);
  const grad = new Uint8Array(size * size);
  const stripes = new Uint8Array(size * size);
  const noise = new Uint8Array(size * size);
  const rand = mulberry32(12345);
  const c = size / 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      const r = Math.hypot((x - c) / (0.42 * size), (y - c) / (0.5 * size));
      let v = r < 1 ? 170 : 60;
      const eye = (ex: number) => Math.hypot(x - ex, y - 0.41 * size) < 0.06 * size;
      if (eye(0.3 * size) || eye(0.68 * size)) v = 30;
      if (Math.abs(y - 0.78 * size) < 1.5 && Math.abs(x - c) < 0.18 * size) v = 50;
      face[i] = v;
      grad[i] = Math.round((255 * (x + y)) / (2 * (size - 1)));
      stripes[i] = Math.floor(y / 4) % 2 ? 220 : 35;
      noise[i] = Math.floor(rand() * 256);
    }
  }
  return [face, grad, stripes, noise];
}

export interface SelfTest {
  version: number;
  note: string;
  classes: string[];
  /** One row per input of {@link selfTestInputs}. */
  probabilities: number[][];
}

const CHECKPOINT_NOTE = 'Probabilities of the unfolded training-form graph (BN in inference mode, last checkpoint) for selfTestInputs(); load() must reproduce them.';

/**
 * Reference probabilities of training-form weights (parameters and BN moving statistics, the
 * graph in inference mode); `note` says where the weights came from.
 */
export async function selfTestOf(spec: ArchSpec, classes: string[], weights: NamedArrays, note = CHECKPOINT_NOTE): Promise<SelfTest> {
  const logits = selfTestLogits(spec, weights);
  const p = tf.tidy(() => tf.softmax(logits));
  const data = Array.from(await p.data());
  const rows = logits.shape[0];
  tf.dispose([logits, p]);
  return { version: SELFTEST_VERSION, note, classes, probabilities: selfTestRows(data, rows, classes.length) };
}

/**
 * Logits of training-form weights (parameters and BN moving statistics, the graph in inference
 * mode) for {@link selfTestInputs}, one row per input: the forward pass behind every self-test
 * (one head here, both FER heads in ferSelfTests). The caller disposes the returned tensor.
 */
export function selfTestLogits(spec: ArchSpec, weights: NamedArrays): tf.Tensor2D {
  const r = resolveSpec(spec);
  const size = spec.inputSize;
  const w: TensorMap = {};
  for (const [n, a] of Object.entries(weights)) w[n] = tf.tensor(a.data, a.shape);
  const inputs = selfTestInputs(size);
  const px = new Float32Array(inputs.length * size * size);
  inputs.forEach((d, i) => px.set(d, i * size * size));
  const x = tf.tensor4d(px, [inputs.length, size, size, 1]);
  try {
    return tf.tidy(() => trainForward(r, w, x, false).logits);
  } finally {
    tf.dispose([x, ...Object.values(w)]);
  }
}

/** Splits row-major probabilities (`k` classes a row) into `rows` rows: one per self-test input. */
export function selfTestRows(data: number[], rows: number, k: number): number[][] {
  return Array.from({ length: rows }, (_, i) => data.slice(i * k, (i + 1) * k));
}

/** Computes reference probabilities from a training checkpoint (training-form weights, EMA ones if kept). */
export async function computeSelfTest(checkpointDir: string): Promise<SelfTest> {
  const { json, arrays } = readModelDir(checkpointDir);
  // The EMA weights when the run kept them (what it exported), else the raw ones.
  return selfTestOf(json.spec, json.classes, trainingFormWeights(arrays));
}

/** Writes `<modelDir>/selftest.json`: from the run's last checkpoint (a directory), or a computed {@link SelfTest}. */
export async function writeSelfTest(modelDir: string, source: string | SelfTest): Promise<void> {
  const st = typeof source === 'string' ? await computeSelfTest(source) : source;
  fs.writeFileSync(path.join(modelDir, 'selftest.json'), JSON.stringify(st, null, 1) + '\n');
}
