/**
 * Training-mode batch normalisation (+ optional ReLU) as ONE kernel with ONE gradient kernel,
 * for the cpu and wasm backends.
 *
 * The op-by-op form (`tf.moments`, scale/shift, `relu`) costs ~10 kernels forward and ~25
 * backward per layer on wasm, most of them full passes over the activation with broadcasting,
 * plus axis-[0,1,2] reductions that wasm implements as a transpose followed by a reduction, and
 * gradients of `mean`/`sum` that build a `ones` tensor in JS. Here the forward pass is three
 * plain passes over a channels-last Float32Array (sum, squared deviation, normalise), the
 * backward pass two: on wasm as SIMD loops in place on the backend's memory (simd-kernels.wat),
 * on cpu (or without wasm SIMD) as JS loops on the backend's arrays.
 *
 * The maths is the op form's, up to float rounding (sums are accumulated in float64):
 *   mean_c = Σ y / M,  var_c = Σ (y − mean_c)² / M  (biased, like tf.moments),
 *   scale = γ / √(var + ε),  out = max(0, y·scale + β − mean·scale)  (ReLU optional);
 * backward with g = dout · [out > 0] and x̂ = (y − mean)/√(var + ε):
 *   dβ = Σ g,  dγ = Σ g·x̂,  dy = scale · (g − dβ/M − x̂·dγ/M).
 * Outputs: [out, mean, variance] (the statistics feed the moving averages; no gradient flows
 * into them, like the op form's, whose statistics are also only read, not differentiated).
 */
import * as tf from '@tensorflow/tfjs-core';
import { heapF32, heapOffset, runOnArrays, SimdKernels, simdKernelsFor, WasmBackendInternals } from './wasm-simd';

export const BN_TRAIN_KERNEL = 'EmotionNetBatchNormTrain';
export const BN_TRAIN_GRAD_KERNEL = 'EmotionNetBatchNormTrainGrad';

const BACKENDS = ['wasm', 'cpu'] as const;

interface BnAttrs {
  relu: boolean;
  epsilon: number;
}

type Info = tf.TensorInfo;

/** Forward pass on arrays: y [M·C] channels-last, γ, β [C] → out [M·C], mean, variance [C]. */
export function bnTrainForward(y: Float32Array, gamma: Float32Array, beta: Float32Array, out: Float32Array, mean: Float32Array, variance: Float32Array, relu: boolean, epsilon: number): void {
  const C = gamma.length;
  const M = y.length / C;
  const acc = new Float64Array(C);
  for (let i = 0; i < y.length; i += C) for (let c = 0; c < C; c++) acc[c] += y[i + c];
  for (let c = 0; c < C; c++) {
    mean[c] = acc[c] / M;
    acc[c] = 0;
  }
  for (let i = 0; i < y.length; i += C) {
    for (let c = 0; c < C; c++) {
      const d = y[i + c] - mean[c];
      acc[c] += d * d;
    }
  }
  const scale = new Float32Array(C);
  const shift = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    variance[c] = acc[c] / M;
    scale[c] = gamma[c] * Math.fround(1 / Math.sqrt(Math.fround(variance[c] + epsilon)));
    shift[c] = beta[c] - mean[c] * scale[c];
  }
  // Branch-free ReLU ((v + |v|)/2 = max(v, 0) exactly): a data-dependent branch mispredicts on
  // half the elements and costs ~3x the whole loop in V8.
  if (relu) {
    for (let i = 0; i < y.length; i += C) {
      for (let c = 0; c < C; c++) {
        const v = y[i + c] * scale[c] + shift[c];
        out[i + c] = (v + Math.abs(v)) * 0.5;
      }
    }
  } else {
    for (let i = 0; i < y.length; i += C) for (let c = 0; c < C; c++) out[i + c] = y[i + c] * scale[c] + shift[c];
  }
}

/** Backward pass on arrays → dy [M·C], dγ, dβ [C]. `out` is the forward output (ReLU mask). */
export function bnTrainBackward(dout: Float32Array, y: Float32Array, gamma: Float32Array, mean: Float32Array, variance: Float32Array, out: Float32Array, dy: Float32Array, dgamma: Float32Array, dbeta: Float32Array, relu: boolean, epsilon: number): void {
  const C = gamma.length;
  const M = y.length / C;
  const db = new Float64Array(C);
  const dg = new Float64Array(C); // Σ g·(y − mean)
  if (relu) {
    for (let i = 0; i < y.length; i += C) {
      for (let c = 0; c < C; c++) {
        const g = dout[i + c] * +(out[i + c] > 0); // branch-free mask
        db[c] += g;
        dg[c] += g * (y[i + c] - mean[c]);
      }
    }
  } else {
    for (let i = 0; i < y.length; i += C) {
      for (let c = 0; c < C; c++) {
        const g = dout[i + c];
        db[c] += g;
        dg[c] += g * (y[i + c] - mean[c]);
      }
    }
  }
  const scale = new Float64Array(C);
  const k1 = new Float64Array(C);
  const k2 = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const rstd = Math.fround(1 / Math.sqrt(Math.fround(variance[c] + epsilon)));
    scale[c] = Math.fround(gamma[c] * rstd);
    dbeta[c] = db[c];
    dgamma[c] = dg[c] * rstd;
    k1[c] = (scale[c] * db[c]) / M;
    k2[c] = (scale[c] * rstd * rstd * dg[c]) / M;
  }
  if (relu) {
    for (let i = 0; i < y.length; i += C) {
      for (let c = 0; c < C; c++) {
        const g = dout[i + c] * +(out[i + c] > 0);
        dy[i + c] = scale[c] * g - k1[c] - (y[i + c] - mean[c]) * k2[c];
      }
    }
  } else {
    for (let i = 0; i < y.length; i += C) {
      for (let c = 0; c < C; c++) dy[i + c] = scale[c] * dout[i + c] - k1[c] - (y[i + c] - mean[c]) * k2[c];
    }
  }
}


// ---- wasm SIMD path: the loops of fused-bn.wat run in place on the tfjs wasm heap ----

/** Rows per SIMD call of a reduction: float32 partial sums, accumulated in float64 in JS. */
const BLOCK_ROWS = 256;

function simdForward(b: WasmBackendInternals, k: SimdKernels, y: Info, gamma: Info, beta: Info, relu: boolean, epsilon: number): Info[] {
  const C = gamma.shape[0];
  const C4 = Math.ceil(C / 4) * 4;
  const M = tf.util.sizeFromShape(y.shape) / C;
  const outs = [b.makeOutput(y.shape, 'float32'), b.makeOutput([C], 'float32'), b.makeOutput([C], 'float32')];
  const scratch = b.wasm._malloc(4 * C4 * 4);
  try {
    const [acc, meanP, scaleP, shiftP] = [0, 1, 2, 3].map((i) => scratch + i * C4 * 4);
    const yp = heapOffset(b, y);
    const op = heapOffset(b, outs[0]);
    const F = heapF32(b);
    const g = b.typedArrayFromHeap(gamma);
    const be = b.typedArrayFromHeap(beta);
    const mean = b.typedArrayFromHeap(outs[1]);
    const variance = b.typedArrayFromHeap(outs[2]);
    const vecRows = M - 1; // the last row in scalar code (see fused-bn.wat)
    const last = yp / 4 + vecRows * C;
    const reduce = (run: (y0: number, rows: number) => void, lastRow: (c: number) => number): Float64Array => {
      const s = new Float64Array(C);
      for (let r0 = 0; r0 < vecRows; r0 += BLOCK_ROWS) {
        F.fill(0, acc / 4, acc / 4 + C4);
        run(yp + r0 * C * 4, Math.min(BLOCK_ROWS, vecRows - r0));
        for (let c = 0; c < C; c++) s[c] += F[acc / 4 + c];
      }
      for (let c = 0; c < C; c++) s[c] += lastRow(c);
      return s;
    };
    const sum = reduce((y0, rows) => k.colsum(y0, rows, C, acc), (c) => F[last + c]);
    F.fill(0, meanP / 4, meanP / 4 + C4);
    for (let c = 0; c < C; c++) F[meanP / 4 + c] = mean[c] = sum[c] / M;
    const sq = reduce((y0, rows) => k.colsqdev(y0, rows, C, meanP, acc), (c) => (F[last + c] - mean[c]) ** 2);
    F.fill(0, scaleP / 4, scaleP / 4 + 2 * C4);
    for (let c = 0; c < C; c++) {
      variance[c] = sq[c] / M;
      const sc = Math.fround(g[c] * Math.fround(1 / Math.sqrt(Math.fround(variance[c] + epsilon))));
      F[scaleP / 4 + c] = sc;
      F[shiftP / 4 + c] = be[c] - mean[c] * sc;
    }
    k.apply(yp, vecRows, C, scaleP, shiftP, op, relu ? 1 : 0);
    const lo = op / 4 + vecRows * C;
    for (let c = 0; c < C; c++) {
      const v = Math.fround(F[last + c] * F[scaleP / 4 + c]) + F[shiftP / 4 + c];
      F[lo + c] = relu ? Math.max(v, 0) : v;
    }
  } finally {
    b.wasm._free(scratch);
  }
  return outs;
}

function simdBackward(b: WasmBackendInternals, k: SimdKernels, ins: Record<string, Info>, relu: boolean, epsilon: number): Info[] {
  const { dout, y, gamma, mean, variance, out } = ins;
  const C = gamma.shape[0];
  const C4 = Math.ceil(C / 4) * 4;
  const M = tf.util.sizeFromShape(y.shape) / C;
  const outs = [b.makeOutput(y.shape, 'float32'), b.makeOutput([C], 'float32'), b.makeOutput([C], 'float32')];
  const scratch = b.wasm._malloc(6 * C4 * 4);
  try {
    const [meanP, aP, k1P, k2P, dbP, dgP] = [0, 1, 2, 3, 4, 5].map((i) => scratch + i * C4 * 4);
    const [dp, yp, op, dyp] = [dout, y, out, outs[0]].map((t) => heapOffset(b, t));
    const F = heapF32(b);
    const g = b.typedArrayFromHeap(gamma);
    const mv = b.typedArrayFromHeap(mean);
    const vv = b.typedArrayFromHeap(variance);
    const dgamma = b.typedArrayFromHeap(outs[1]);
    const dbeta = b.typedArrayFromHeap(outs[2]);
    F.fill(0, scratch / 4, scratch / 4 + 6 * C4);
    for (let c = 0; c < C; c++) F[meanP / 4 + c] = mv[c];
    const vecRows = M - 1;
    const db = new Float64Array(C);
    const dg = new Float64Array(C);
    for (let r0 = 0; r0 < vecRows; r0 += BLOCK_ROWS) {
      F.fill(0, dbP / 4, dbP / 4 + 2 * C4);
      const o = r0 * C * 4;
      k.gradsums(dp + o, yp + o, op + o, Math.min(BLOCK_ROWS, vecRows - r0), C, meanP, dbP, dgP, relu ? 1 : 0);
      for (let c = 0; c < C; c++) {
        db[c] += F[dbP / 4 + c];
        dg[c] += F[dgP / 4 + c];
      }
    }
    const lr = vecRows * C;
    for (let c = 0; c < C; c++) {
      const gg = relu && !(F[op / 4 + lr + c] > 0) ? 0 : F[dp / 4 + lr + c];
      db[c] += gg;
      dg[c] += gg * (F[yp / 4 + lr + c] - mv[c]);
    }
    for (let c = 0; c < C; c++) {
      const rstd = Math.fround(1 / Math.sqrt(Math.fround(vv[c] + epsilon)));
      const sc = Math.fround(g[c] * rstd);
      dbeta[c] = db[c];
      dgamma[c] = dg[c] * rstd;
      F[aP / 4 + c] = sc;
      F[k1P / 4 + c] = (sc * db[c]) / M;
      F[k2P / 4 + c] = (sc * rstd * rstd * dg[c]) / M;
    }
    k.gradapply(dp, yp, op, vecRows, C, meanP, aP, k1P, k2P, dyp, relu ? 1 : 0);
    for (let c = 0; c < C; c++) {
      const gg = relu && !(F[op / 4 + lr + c] > 0) ? 0 : F[dp / 4 + lr + c];
      F[dyp / 4 + lr + c] = F[aP / 4 + c] * gg - F[k1P / 4 + c] - (F[yp / 4 + lr + c] - mv[c]) * F[k2P / 4 + c];
    }
  } finally {
    b.wasm._free(scratch);
  }
  return outs;
}

let registered = false;

/** Registers the fused kernels (cpu and wasm) and their gradient. Idempotent. */
export function registerFusedBatchNorm(): void {
  if (registered) return;
  for (const backendName of BACKENDS) {
    if (!tf.getKernel(BN_TRAIN_KERNEL, backendName)) {
      tf.registerKernel({
        kernelName: BN_TRAIN_KERNEL,
        backendName,
        kernelFunc: ({ inputs, attrs, backend }) => {
          const { y, gamma, beta } = inputs as unknown as { y: Info; gamma: Info; beta: Info };
          const a = attrs as unknown as BnAttrs;
          const C = gamma.shape[0];
          if (y.shape[y.shape.length - 1] !== C || beta.shape[0] !== C) throw new Error(`${BN_TRAIN_KERNEL}: channel mismatch`);
          const k = y.dtype === 'float32' ? simdKernelsFor(backend) : null;
          if (k) return simdForward(backend as WasmBackendInternals, k, y, gamma, beta, a.relu, a.epsilon);
          return runOnArrays(backend, [y, gamma, beta], [y.shape, [C], [C]], ([yv, g, b], [o, m, v]) => bnTrainForward(yv, g, b, o, m, v, a.relu, a.epsilon), BN_TRAIN_KERNEL);
        },
      });
    }
    if (!tf.getKernel(BN_TRAIN_GRAD_KERNEL, backendName)) {
      tf.registerKernel({
        kernelName: BN_TRAIN_GRAD_KERNEL,
        backendName,
        kernelFunc: ({ inputs, attrs, backend }) => {
          const { dout, y, gamma, mean, variance, out } = inputs as unknown as Record<string, Info>;
          const a = attrs as unknown as BnAttrs;
          const C = gamma.shape[0];
          const k = y.dtype === 'float32' && dout.dtype === 'float32' ? simdKernelsFor(backend) : null;
          if (k) return simdBackward(backend as WasmBackendInternals, k, { dout, y, gamma, mean, variance, out }, a.relu, a.epsilon);
          return runOnArrays(backend, [dout, y, gamma, mean, variance, out], [y.shape, [C], [C]], ([d, yv, g, m, v, o], [dy, dg, db]) => bnTrainBackward(d, yv, g, m, v, o, dy, dg, db, a.relu, a.epsilon));
        },
      });
    }
  }
  if (!tf.getGradient(BN_TRAIN_KERNEL)) {
    tf.registerGradient({
      kernelName: BN_TRAIN_KERNEL,
      inputsToSave: ['y', 'gamma'],
      outputsToSave: [true, true, true],
      gradFunc: (dys, saved, attrs) => {
        const dout = Array.isArray(dys) ? dys[0] : dys;
        const [y, gamma, out, mean, variance] = saved;
        // One kernel computes all three gradients; the engine asks for them one by one.
        const [dy, dgamma, dbeta] = tf.engine().runKernel(BN_TRAIN_GRAD_KERNEL, { dout, y, gamma, mean, variance, out } as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
        return { y: () => dy, gamma: () => dgamma, beta: () => dbeta };
      },
    });
  }
  registered = true;
}

/** True when the active backend has the fused kernel (registered, and not switched off). */
export function fusedBatchNormAvailable(): boolean {
  if (process.env.EMOTIONNET_FUSED_BN === '0') return false;
  return tf.getKernel(BN_TRAIN_KERNEL, tf.getBackend()) !== undefined;
}

/** Batch-norm with batch statistics (+ ReLU) of a channels-last tensor in one kernel. */
export function batchNormTrain<T extends tf.Tensor>(y: T, gamma: tf.Tensor1D, beta: tf.Tensor1D, relu: boolean, epsilon: number): { out: T; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const [out, mean, variance] = tf.engine().runKernel(BN_TRAIN_KERNEL, { y, gamma, beta } as unknown as tf.NamedTensorMap, { relu, epsilon } as unknown as tf.NamedAttrMap) as tf.Tensor[];
  return { out: out as T, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}
