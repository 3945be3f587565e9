/**
 * The direct executor of EmotionNet Nano inference: the BN-folded graph of an
 * {@link ResolvedSpec} mapped once, at load, to a fixed list of backend kernel calls (see
 * src/kernel-program.ts, shared with the face detector), so that one call costs little more
 * than its arithmetic. It computes what {@link inferForward} + softmax compute (the reference,
 * and the executor on other backends), within float rounding (tested to 1e-5).
 *
 * Per call: the packed input is written straight to the backend, then
 * - every node: its merge, then one FusedConv2D (bias, ReLU for `conv` nodes); a merge (AddN for
 *   Nano-B, channel concat for Nano-A) feeding several nodes is computed once (Nano-A's
 *   c6 and p1 both read concat(c1, c3, c5));
 * - the head: the merge, global average pooling as one AvgPool over the whole map (NHWC, no
 *   transpose: wasm's Mean over axes 1, 2 transposes first), _FusedMatMul with the dense bias,
 *   Softmax;
 * and the probabilities are read back; no engine tensor is created, no tidy scope is opened, and
 * every intermediate is released after its last use (also when a call throws).
 * On wasm with WebAssembly SIMD, concatenations are strided SIMD row copies in place on the
 * heap (concatSimd) instead of wasm's JS row loop.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CustomKernels, KernelProgram, kernelProgram, KernelStep } from '../kernel-program';
import type { TensorMap } from './graph';
import type { ResolvedSpec } from './spec';
import { concatSimd, simdKernelsFor, WasmBackendInternals } from './wasm-simd';

/** Backends whose kernels the direct executor calls (the ones it is tested on). */
export const DIRECT_BACKENDS: readonly string[] = ['wasm', 'cpu'];

/** A compiled classifier network. */
export interface DirectClassifier {
  /**
   * Class probabilities, row-major [rows, classes], of `rows` images already standardised with
   * normalizeInPlace (row-major [rows, size, size, 1]). Synchronous.
   */
  run(pixels: Float32Array, rows: number): Float32Array;
  /** The kernel calls, in order (for tests and profiling). */
  readonly steps: readonly KernelStep[];
  /** Later run() calls throw (it holds no tensors of its own: the model's weights stay the caller's). Idempotent. */
  dispose(): void;
}

/** The image (the spec's name for it) and the probabilities; the executor's own values start with `#`. */
const INPUT = 'input';
const OUTPUT = '#probs';

/** Channel concatenation: SIMD row copies on wasm where available, else the backend's Concat. */
const CONCAT = 'EmotionNetConcat';

const custom: CustomKernels = {
  [CONCAT]: (backendName, backend) => {
    const simd = backendName === 'wasm' ? simdKernelsFor(backend) : null;
    const concat = tf.getKernel(tf.Concat, backendName)?.kernelFunc;
    if (!concat) throw new Error(`backend ${backendName} has no ${tf.Concat} kernel`);
    if (!simd) return concat;
    return (args) => {
      const ts = args.inputs as unknown as tf.TensorInfo[];
      if (ts.some((t) => t.dtype !== 'float32')) return concat(args);
      return concatSimd(backend as unknown as WasmBackendInternals, simd, ts, (args.attrs as { axis: number }).axis);
    };
  },
};

/**
 * The kernel steps of the folded graph `r` with weights `w` (not copied): input value `input`,
 * output value `#probs`.
 */
export function classifierSteps(r: ResolvedSpec, w: TensorMap): KernelStep[] {
  const steps: KernelStep[] = [];
  const merges = new Set<string>();
  const merge = (ids: string[]): string => {
    if (ids.length === 1) return ids[0];
    const name = `#${r.spec.merge}(${ids.join(',')})`;
    if (!merges.has(name)) {
      steps.push(r.spec.merge === 'add' ? { name, kernel: tf.AddN, inputs: ids, attrs: {} } : { name, kernel: CONCAT, inputs: ids, attrs: { axis: 3 } });
      merges.add(name);
    }
    return name;
  };
  const weight = (name: string): tf.Tensor => {
    const t = w[name];
    if (!t) throw new Error(`weight ${name} is missing`);
    return t;
  };
  for (const n of r.nodes) {
    steps.push({
      name: n.id,
      kernel: tf.FusedConv2D,
      inputs: { x: merge(n.inputs), filter: weight(`${n.id}/kernel`), bias: weight(`${n.id}/bias`) },
      // the attributes tf.fused.conv2d passes
      attrs: { strides: [n.stride, n.stride], pad: 'same', dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined, activation: n.kind === 'conv' ? 'relu' : 'linear', leakyreluAlpha: undefined },
    });
  }
  const dense = weight('dense/kernel');
  // The dense kernel as _FusedMatMul takes it, [1, in, classes]: a view of its data (no copy, no new tensor).
  const dense3d: tf.TensorInfo = { dataId: dense.dataId, shape: [1, ...dense.shape], dtype: dense.dtype };
  const s = r.headSize;
  steps.push(
    { name: '#pool', kernel: tf.AvgPool, inputs: { x: merge(r.spec.head) }, attrs: { filterSize: [s, s], strides: [s, s], pad: 'valid', dimRoundingMode: undefined } },
    { name: '#pooled', kernel: tf.Reshape, inputs: { x: '#pool' }, attrs: { shape: [1, -1, r.headChannels] } },
    { name: '#logits', kernel: tf._FusedMatMul, inputs: { a: '#pooled', b: dense3d, bias: weight('dense/bias') }, attrs: { transposeA: false, transposeB: false, activation: 'linear', leakyreluAlpha: undefined } },
    { name: OUTPUT, kernel: tf.Softmax, inputs: { logits: '#logits' }, attrs: { dim: 2 } },
  );
  return steps;
}

/**
 * Compiles the folded graph `r` with weights `w` for the backend active now. Throws if the
 * backend is not one of {@link DIRECT_BACKENDS} or lacks a kernel (the caller then uses
 * inferForward).
 */
export function compileDirectClassifier(r: ResolvedSpec, w: TensorMap): DirectClassifier {
  const backendName = tf.getBackend();
  if (!DIRECT_BACKENDS.includes(backendName)) throw new Error(`the direct executor supports the ${DIRECT_BACKENDS.join(' and ')} backends, not ${backendName}`);
  const steps = classifierSteps(r, w);
  const program: KernelProgram = kernelProgram(INPUT, steps, [OUTPUT], custom, 'the classifier');
  const { backend } = program;
  const size = r.spec.inputSize;
  let disposed = false;
  return {
    steps,
    run(pixels: Float32Array, rows: number): Float32Array {
      if (disposed) throw new Error('the direct classifier has been disposed');
      const shape = [rows, size, size, 1];
      if (!(rows > 0) || pixels.length !== rows * size * size) throw new Error(`direct classifier: expected ${rows} images of ${size}x${size} values, got ${pixels.length} values`);
      const x: tf.TensorInfo = { dataId: backend.write(pixels, shape, 'float32'), shape, dtype: 'float32' };
      try {
        const [probs] = program.run(x);
        try {
          return backend.readSync(probs.dataId) as Float32Array;
        } finally {
          backend.disposeData(probs.dataId);
        }
      } finally {
        backend.disposeData(x.dataId);
      }
    },
    dispose() {
      disposed = true;
    },
  };
}
