/**
 * Training kernels for the wasm backend (registerWasmGradientKernels, called by the trainers):
 * - `Conv2DBackpropFilter` is missing from tfjs-backend-wasm 4.22 (so `variableGrads` of a conv
 *   net fails there). dW[kh,kw,ci,co] = Σ_{n,y,x} xpad[n, y·s+kh, x·s+kw, ci] · dy[n,y,x,co]:
 *   by our SIMD loop (simd-kernels.wat `dwacc`, see conv2dBackpropFilterSimd), or as one dilated
 *   forward convolution (conv2d(xpadᵀ [ci, Hp, Wp, N], dyᵀ [oh, ow, N, co], dilation s) →
 *   [ci, kh, kw, co] → transposed) where the SIMD module is unavailable or ci < 4.
 * - `Conv2DBackpropInput` exists but is a naive loop, ~15x slower than the forward conv: dx =
 *   conv2d(dy, spatially flipped filter with in/out swapped, stride 1, explicit padding), and for
 *   strided convolutions the polyphase form (no multiplications by the zeros of a dilated dy).
 * - `Identity`/`Cast` share data instead of copying; `Concat`, `SplitV`, `Slice`, `PadV2`,
 *   `DepthToSpace` (float32) are strided SIMD row copies instead of JS loops.
 * - The fused training batch-norm (model/fused-bn.ts) and one-pass AdamW/lerp (optim.ts).
 * Every kernel is tested against the cpu backend (test/train/kernels, wasm-copy-kernels,
 * fused-bn, optim-kernels); the im2col filter gradient is kept as a reference implementation.
 * `node --import tsx bench/train-step.ts --profile` shows where a training step's time goes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerFusedBatchNorm } from '../model/fused-bn';
import { registerOptimizerKernels } from './optim';
import { concatSimd, heapF32, heapOffset, SimdKernels, simdKernelsFor, WasmBackendInternals } from '../model/wasm-simd';

type Info = { dataId: object; shape: number[]; dtype: tf.DataType };
type Pad = 'same' | 'valid' | number;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;
type F4 = [number, number, number, number];

function asTensor(t: Info): tf.Tensor {
  // A new Tensor handle on the kernel input's data. makeTensorFromDataId does not add a backend
  // reference, so add one: disposing the handle (tidy) then leaves the input's data alive.
  const h = tf.engine().makeTensorFromDataId(t.dataId as tf.DataId, t.shape, t.dtype);
  tf.engine().backend.incRef(t.dataId as tf.DataId);
  return h;
}

/**
 * The geometry of a 2-D convolution (NHWC, dilation 1) that the gradient kernels share: input and
 * filter sizes, strides, output size and tfjs's padding (computeConv2DInfo), plus the reach of the
 * filter taps over the padded input.
 */
interface ConvGeometry {
  /** Input [n, inH, inW, ·], filter [kh, kw, ci, co], strides, output [n, oh, ow, co]. */
  n: number;
  inH: number;
  inW: number;
  kh: number;
  kw: number;
  ci: number;
  co: number;
  sh: number;
  sw: number;
  oh: number;
  ow: number;
  /** tfjs's padding of the input. */
  top: number;
  bottom: number;
  left: number;
  right: number;
  /** Rows/cols of the padded input a filter tap reaches: (oh − 1)·sh + kh, (ow − 1)·sw + kw. */
  hp: number;
  wp: number;
  /** Padding after the input up to that reach; negative: trailing rows/cols no tap reads. */
  reachBottom: number;
  reachRight: number;
}

function convGeometry(xShape: F4, filterShape: F4, strides: number | [number, number], pad: Pad, rounding: Rounding): ConvGeometry {
  const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, strides, 1, pad as 'same', rounding, false, 'channelsLast');
  const [n, inH, inW] = xShape;
  const [kh, kw, ci, co] = filterShape;
  const { top, bottom, left, right } = info.padInfo;
  const sh = info.strideHeight;
  const sw = info.strideWidth;
  const oh = info.outHeight;
  const ow = info.outWidth;
  const hp = (oh - 1) * sh + kh;
  const wp = (ow - 1) * sw + kw;
  return { n, inH, inW, kh, kw, ci, co, sh, sw, oh, ow, top, bottom, left, right, hp, wp, reachBottom: hp - top - inH, reachRight: wp - left - inW };
}

/** `t` [N, H, W, C] without the trailing rows/cols a negative `bottom`/`right` says no tap reads. */
function cutUnreached(t: tf.Tensor4D, bottom: number, right: number): tf.Tensor4D {
  if (bottom >= 0 && right >= 0) return t;
  return tf.slice(t, [0, 0, 0, 0], [-1, t.shape[1] + Math.min(0, bottom), t.shape[2] + Math.min(0, right), -1]);
}

/** Zero padding of an NHWC tensor, spatial (negative ends count as 0: see cutUnreached) and after the channels. */
function nhwcPadding(top: number, bottom: number, left: number, right: number, channels = 0): Array<[number, number]> {
  return [[0, 0], [top, Math.max(0, bottom)], [left, Math.max(0, right)], [0, channels]];
}

/** The padding argument of a forward convolution: explicit (no padded copy), or 'valid' where there is none. */
function convPadding(top: number, bottom: number, left: number, right: number): tf.backend_util.ExplicitPadding | 'valid' {
  return top || left || bottom > 0 || right > 0 ? (nhwcPadding(top, bottom, left, right) as tf.backend_util.ExplicitPadding) : 'valid';
}

/** dW of a 2-D convolution (NHWC, dilation 1) as one dilated forward convolution. */
export function conv2dBackpropFilterAsConv(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: F4, strides: number | [number, number], pad: Pad, rounding?: Rounding): tf.Tensor4D {
  return tf.tidy(() => {
    const { kh, kw, ci, co, sh, sw, top, left, reachBottom, reachRight } = convGeometry(x.shape, filterShape, strides, pad, rounding);
    // Only the rows/cols a filter tap can reach: Hp = (oh−1)·s + kh of the padded input. The
    // padding goes to the convolution (explicit padding: no padded copy of x); rows/cols past
    // the reach are sliced off first.
    const xt = tf.transpose(cutUnreached(x, reachBottom, reachRight), [3, 1, 2, 0]) as tf.Tensor4D; // [ci, H, W, N]
    const dyt = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [oh, ow, N, co]
    const out = tf.conv2d(xt, dyt, 1, convPadding(top, reachBottom, left, reachRight), 'NHWC', [sh, sw]); // [ci, kh, kw, co]
    if (out.shape[0] !== ci || out.shape[1] !== kh || out.shape[2] !== kw || out.shape[3] !== co) {
      throw new Error(`Conv2DBackpropFilter: internal shape mismatch ${out.shape.join('x')}`);
    }
    return tf.transpose(out, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/**
 * dW with our SIMD loop (simd-kernels.wat `dwacc`) instead of XNNPACK: no transposes, and the
 * reduction over batch and pixels runs row by row with a 4x8 register tile, so the data of a row
 * stay in L1 (as a GEMM with K = N·oh·ow and few rows, XNNPACK streams the whole K from memory
 * for every 4 output rows). Same sums, accumulated in float32 in pixel order. Null where the
 * SIMD module is not available (then the conv form runs).
 */
export function conv2dBackpropFilterSimd(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: F4, strides: number | [number, number], pad: Pad, rounding?: Rounding): tf.Tensor4D | null {
  const backend = tf.backend() as unknown as WasmBackendInternals;
  const k = simdKernelsFor(backend);
  // Fewer than 4 input channels (the stem's gray image) would be padded to 4: the conv form wins.
  if (!k || process.env.EMOTIONNET_SIMD_DW === '0' || x.dtype !== 'float32' || dy.dtype !== 'float32' || filterShape[2] < 4) return null;
  return tf.tidy(() => {
    const { n, kh, kw, ci, co, sh, sw, oh, ow, top, left, hp, wp, reachBottom, reachRight } = convGeometry(x.shape, filterShape, strides, pad, rounding);
    const ci4 = Math.ceil(ci / 4) * 4;
    const co4 = Math.ceil(co / 4) * 4;
    const xs = cutUnreached(x, reachBottom, reachRight);
    const padX = nhwcPadding(top, reachBottom, left, reachRight, ci4 - ci);
    const xp = padX.some(([a, b]) => a || b) ? tf.pad(xs, padX) : xs; // [N, hp, wp, ci4]
    const dyp = co4 > co ? tf.pad(dy, [[0, 0], [0, 0], [0, 0], [0, co4 - co]]) : dy; // [N, oh, ow, co4]
    const outInfo = backend.makeOutput([kh, kw, ci4, co4], 'float32');
    const out = tf.engine().makeTensorFromTensorInfo(outInfo) as tf.Tensor4D;
    const o = heapOffset(backend, outInfo);
    heapF32(backend).fill(0, o / 4, o / 4 + kh * kw * ci4 * co4);
    const xo = heapOffset(backend, xp as unknown as tf.TensorInfo);
    const dyo = heapOffset(backend, dyp as unknown as tf.TensorInfo);
    const xRow = wp * ci4 * 4;
    for (let i = 0; i < n; i++) {
      k.dwacc(xo + i * hp * xRow, sh * xRow, xRow, sw * ci4 * 4, dyo + i * oh * ow * co4 * 4, oh, ow, kh, kw, ci4, co4, o);
    }
    return ci4 > ci || co4 > co ? (tf.slice(out, [0, 0, 0, 0], [kh, kw, ci, co]) as tf.Tensor4D) : out;
  });
}

/** The filter of the input-gradient convolution: spatially flipped, in/out swapped ([kh, kw, co, ci]). */
function flippedFilter(filter: tf.Tensor4D): tf.Tensor4D {
  const [kh, kw, ci, co] = filter.shape;
  const w = filter.dataSync() as Float32Array; // small (≤ 3·3·64·64): one copy beats two kernels
  const f = new Float32Array(w.length);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const src = (i * kw + j) * ci * co;
      const dst = ((kh - 1 - i) * kw + (kw - 1 - j)) * co * ci;
      for (let a = 0; a < ci; a++) for (let b = 0; b < co; b++) f[dst + b * ci + a] = w[src + a * co + b];
    }
  }
  return tf.tensor4d(f, [kh, kw, co, ci]);
}

/**
 * dx of a strided convolution without multiplying zeros: output pixel y = s·p + q (phase q)
 * receives dy[o]·W[i] exactly for the taps i ≡ q + pad (mod s), from o = p + d with
 * d = (q + pad − i)/s. One stride-1 convolution over dy computes every phase at once: its output
 * channel block q·ci…(q+1)·ci holds phase q, its filter (F×F, F = span of d) holds W[i] at
 * offset d − d_min; depthToSpace then interleaves the phases. The zero-dilated form costs s²
 * times the useful work; this one 16/9 of it for 3x3 stride 2 and 1x for 1x1 stride 2 (its
 * all-zero phases are appended by padding instead of computed). Needs in = out·s, equal strides.
 */
function polyphaseInputGrad(dy: tf.Tensor4D, filter: tf.Tensor4D, sh: number, sw: number, padTop: number, padLeft: number): tf.Tensor4D {
  const [kh, kw, ci, co] = filter.shape;
  // Offsets d of each (phase, tap) pair along one axis.
  const taps = (s: number, k: number, pad: number) => {
    const out: Array<{ q: number; i: number; d: number }> = [];
    for (let q = 0; q < s; q++) for (let i = 0; i < k; i++) if ((((q + pad - i) % s) + s) % s === 0) out.push({ q, i, d: (q + pad - i) / s });
    return out;
  };
  const ty = taps(sh, kh, padTop);
  const tx = taps(sw, kw, padLeft);
  const dminY = Math.min(...ty.map((t) => t.d));
  const dmaxY = Math.max(...ty.map((t) => t.d));
  const dminX = Math.min(...tx.map((t) => t.d));
  const dmaxX = Math.max(...tx.map((t) => t.d));
  const fh = dmaxY - dminY + 1;
  const fw = dmaxX - dminX + 1;
  // Phases (qy, qx) with at least one tap; if they are the first ones, compute only those.
  const phases = sh * sw;
  const live = new Set<number>();
  for (const a of ty) for (const b of tx) live.add(a.q * sw + b.q);
  const nLive = live.size === phases || [...live].every((q) => q < live.size) ? live.size : phases;
  const w = filter.dataSync() as Float32Array;
  const f = new Float32Array(fh * fw * co * nLive * ci);
  const oc = nLive * ci;
  for (const a of ty) {
    for (const b of tx) {
      const q = a.q * sw + b.q;
      if (q >= nLive) continue;
      const src = (a.i * kw + b.i) * ci * co;
      const dst = ((a.d - dminY) * fw + (b.d - dminX)) * co * oc + q * ci;
      for (let c = 0; c < ci; c++) for (let o = 0; o < co; o++) f[dst + o * oc + c] = w[src + c * co + o];
    }
  }
  return tf.tidy(() => {
    const ft = tf.tensor4d(f, [fh, fw, co, oc]);
    const oh = dy.shape[1];
    const ow = dy.shape[2];
    // Output p's window covers o = p + dmin … p + dmax: pad −dmin before, dmax after (clipped).
    const padding = [[0, 0], [Math.max(0, -dminY), Math.max(0, dmaxY)], [Math.max(0, -dminX), Math.max(0, dmaxX)], [0, 0]] as tf.backend_util.ExplicitPadding;
    let phasesOut = tf.conv2d(dy, ft, 1, padding); // [N, oh + extra, ow + extra, nLive·ci]
    if (dminY > 0 || dminX > 0 || phasesOut.shape[1] !== oh || phasesOut.shape[2] !== ow) {
      phasesOut = tf.slice(phasesOut, [0, Math.max(0, dminY), Math.max(0, dminX), 0], [-1, oh, ow, -1]);
    }
    if (nLive < phases) phasesOut = tf.pad(phasesOut, [[0, 0], [0, 0], [0, 0], [0, (phases - nLive) * ci]]);
    return tf.depthToSpace(phasesOut, sh) as tf.Tensor4D;
  });
}

/** dx of a 2-D convolution (NHWC, dilation 1) as one stride-1 forward convolution. */
export function conv2dBackpropInputAsConv(dy: tf.Tensor4D, filter: tf.Tensor4D, inputShape: F4, strides: number | [number, number], pad: Pad, rounding?: Rounding): tf.Tensor4D {
  return tf.tidy(() => {
    const { n, inH, inW, kh, kw, sh, sw, top, left } = convGeometry(inputShape, filter.shape as F4, strides, pad, rounding);
    const [, oh, ow, co] = dy.shape;
    if (sh > 1 && sh === sw && inH === oh * sh && inW === ow * sw && process.env.EMOTIONNET_POLYPHASE !== '0') {
      return polyphaseInputGrad(dy, filter, sh, sw, top, left);
    }
    // Zero-dilate dy: [N, oh·sh, ow·sw, co] with dy at multiples of the stride.
    let d: tf.Tensor4D = dy;
    if (sh > 1 || sw > 1) {
      const r = tf.reshape(dy, [n, oh, 1, ow, 1, co]);
      const p = tf.pad(r, [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
      d = tf.reshape(p, [n, oh * sh, ow * sw, co]) as tf.Tensor4D;
    }
    const padT = kh - 1 - top;
    const padL = kw - 1 - left;
    const padB = inH + kh - 1 - padT - d.shape[1];
    const padR = inW + kw - 1 - padL - d.shape[2];
    if (padT < 0 || padL < 0) throw new Error('Conv2DBackpropInput: unsupported padding');
    // Padding goes to the convolution (explicit padding, no padded copy of dy).
    return tf.conv2d(cutUnreached(d, padB, padR), flippedFilter(filter), 1, convPadding(padT, padB, padL, padR));
  });
}

/** dW by im2col + matMul (reference implementation, slower on wasm: strided slices are loops). */
export function conv2dBackpropFilterIm2col(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: F4, strides: number | [number, number], pad: Pad, rounding?: Rounding): tf.Tensor4D {
  return tf.tidy(() => {
    const { n, kh, kw, ci, co, sh, sw, oh, ow, top, bottom, left, right } = convGeometry(x.shape, filterShape, strides, pad, rounding);
    const xp = top || bottom || left || right ? tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]) : x;
    const cols: tf.Tensor4D[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        cols.push(tf.stridedSlice(xp, [0, i, j, 0], [n, i + (oh - 1) * sh + 1, j + (ow - 1) * sw + 1, ci], [1, sh, sw, 1]) as tf.Tensor4D);
      }
    }
    const patches = tf.reshape(cols.length === 1 ? cols[0] : tf.concat(cols, 3), [n * oh * ow, kh * kw * ci]);
    const dw = tf.matMul(patches as tf.Tensor2D, tf.reshape(dy, [n * oh * ow, co]) as tf.Tensor2D, true, false);
    return tf.reshape(dw, filterShape) as tf.Tensor4D;
  });
}

interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: Rounding;
  filterShape?: F4;
  inputShape?: F4;
}

function checkAttrs(name: string, a: ConvAttrs): void {
  if (a.dataFormat && a.dataFormat !== 'NHWC') throw new Error(`${name} (wasm): only NHWC is supported`);
  const d = a.dilations;
  if (d !== undefined && d !== 1 && !(Array.isArray(d) && d[0] === 1 && d[1] === 1)) throw new Error(`${name} (wasm): dilation > 1 is not supported`);
  if (typeof a.pad !== 'string' && typeof a.pad !== 'number') throw new Error(`${name} (wasm): explicit padding is not supported`);
}

let registered = false;

/** Replaces (or adds) a wasm kernel computed by `fn` from tensor handles on its inputs. */
function replaceWasmKernel(name: string, inputNames: [string, string], fn: (a: tf.Tensor4D, b: tf.Tensor4D, attrs: ConvAttrs) => tf.Tensor): void {
  if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({
    kernelName: name,
    backendName: 'wasm',
    kernelFunc: ({ inputs, attrs }) => {
      const ins = inputs as unknown as Record<string, Info>;
      const a = attrs as unknown as ConvAttrs;
      checkAttrs(name, a);
      return tf.tidy(() => fn(asTensor(ins[inputNames[0]]) as tf.Tensor4D, asTensor(ins[inputNames[1]]) as tf.Tensor4D, a)) as unknown as tf.TensorInfo;
    },
  });
}

/**
 * Registers the fast gradient kernels on the wasm backend (idempotent). Call after the wasm
 * backend is registered (i.e. after `selectBackend`); harmless on other backends.
 */
export function registerWasmGradientKernels(): void {
  if (registered) return;
  replaceWasmKernel('Conv2DBackpropFilter', ['x', 'dy'], (x, dy, a) => conv2dBackpropFilterSimd(x, dy, a.filterShape as F4, a.strides, a.pad, a.dimRoundingMode) ?? conv2dBackpropFilterAsConv(x, dy, a.filterShape as F4, a.strides, a.pad, a.dimRoundingMode));
  replaceWasmKernel('Conv2DBackpropInput', ['dy', 'filter'], (dy, w, a) => conv2dBackpropInputAsConv(dy, w, a.inputShape as F4, a.strides, a.pad, a.dimRoundingMode));
  shareWasmIdentity();
  registerWasmCopyKernels();
  registerFusedBatchNorm();
  registerOptimizerKernels();
  registered = true;
}

/**
 * wasm's `Identity` (and `Cast` to the same dtype) copy the data; tfjs calls Identity for every
 * tensor a gradient saves (`engine.clone`), ~500 copies of activations per training step.
 * Tensor data is immutable in tfjs, so share it instead (a new reference on the same data, as
 * the cpu backend's Identity does). Results are bit-identical.
 */
function shareWasmIdentity(): void {
  const share = (x: Info, backend: unknown): tf.TensorInfo => {
    (backend as { incRef(d: object): void }).incRef(x.dataId);
    return { dataId: x.dataId as tf.DataId, shape: x.shape, dtype: x.dtype };
  };
  const id = tf.getKernel('Identity', 'wasm');
  if (id) {
    const orig = id.kernelFunc;
    tf.unregisterKernel('Identity', 'wasm');
    tf.registerKernel({ ...id, kernelFunc: (a) => ((a.inputs.x as Info).dtype === 'string' ? orig(a) : share(a.inputs.x as Info, a.backend)) });
  }
  const cast = tf.getKernel('Cast', 'wasm');
  if (cast) {
    const orig = cast.kernelFunc;
    tf.unregisterKernel('Cast', 'wasm');
    tf.registerKernel({ ...cast, kernelFunc: (a) => ((a.inputs.x as Info).dtype === (a.attrs as { dtype: string }).dtype && (a.inputs.x as Info).dtype !== 'string' ? share(a.inputs.x as Info, a.backend) : orig(a)) });
  }
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

function overrideWasmKernel(name: string, fast: (a: KernelArgs, orig: tf.KernelFunc) => tf.TensorInfo | tf.TensorInfo[] | null): void {
  const k = tf.getKernel(name, 'wasm');
  if (!k) return;
  const orig = k.kernelFunc;
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ ...k, kernelFunc: (a) => fast(a, orig) ?? orig(a) });
}

const prod = (xs: number[]) => xs.reduce((p, v) => p * v, 1);

/**
 * wasm's Concat, SplitV (the gradient of concat), Slice, PadV2 and DepthToSpace copy through JS: Slice first copies
 * the WHOLE input out of the heap (readSync), then copies row by row with typed-array calls, and
 * SplitV is one Slice per output. Nano-A concatenates channels at every merge, so these cost
 * ~25% of its training step. Here: strided row copies in our SIMD module, in place on the heap
 * (float32; anything else goes to the original kernels). Results are bit-identical copies.
 */
function registerWasmCopyKernels(): void {
  overrideWasmKernel('Concat', ({ inputs, attrs, backend }) => {
    const k = simdKernelsFor(backend);
    const ts = (Array.isArray(inputs) ? inputs : Object.values(inputs)) as tf.TensorInfo[];
    if (!k || ts.length < 2 || ts.some((t) => t.dtype !== 'float32')) return null;
    const axis = tf.util.parseAxisParam((attrs as { axis: number | number[] }).axis, ts[0].shape)[0];
    return concatSimd(backend as WasmBackendInternals, k, ts, axis);
  });
  overrideWasmKernel('SplitV', ({ inputs, attrs, backend }) => {
    const k = simdKernelsFor(backend);
    const x = (inputs as unknown as { x: tf.TensorInfo }).x;
    if (!k || x.dtype !== 'float32') return null;
    const { numOrSizeSplits, axis } = attrs as { numOrSizeSplits: number | number[]; axis: number | number[] };
    const ax = tf.util.parseAxisParam(axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, ax);
    const b = backend as WasmBackendInternals;
    const outs = sizes.map((sz) => {
      const shape = x.shape.slice();
      shape[ax] = sz;
      return b.makeOutput(shape, 'float32');
    });
    const outer = prod(x.shape.slice(0, ax));
    const after = prod(x.shape.slice(ax + 1));
    const total = x.shape[ax] * after;
    const src = heapOffset(b, x);
    let off = 0;
    outs.forEach((o, i) => {
      const inner = sizes[i] * after;
      if (inner > 0 && outer > 0) k.copyrows(src + off * 4, total * 4, heapOffset(b, o), inner * 4, outer, inner);
      off += inner;
    });
    return outs;
  });
  // wasm's DepthToSpace (used by the polyphase input gradient) is an element-by-element loop.
  overrideWasmKernel('DepthToSpace', ({ inputs, attrs, backend }) => {
    const k = simdKernelsFor(backend);
    const x = (inputs as unknown as { x: tf.TensorInfo }).x;
    const { blockSize: bs, dataFormat } = attrs as unknown as { blockSize: number; dataFormat: string };
    if (!k || x.dtype !== 'float32' || dataFormat !== 'NHWC') return null;
    const [n, h, w, d] = x.shape;
    const c = d / (bs * bs);
    const b = backend as WasmBackendInternals;
    const out = b.makeOutput([n, h * bs, w * bs, c], 'float32');
    if (n * h * w * d === 0) return out;
    const src0 = heapOffset(b, x);
    const dst0 = heapOffset(b, out);
    // out[i, p·bs + qy, p'·bs + qx, :] = x[i, p, p', (qy·bs + qx)·c …]: one strided copy per
    // (i, qy, qx) over the planes p and rows p'.
    for (let i = 0; i < n; i++) {
      for (let qy = 0; qy < bs; qy++) {
        for (let qx = 0; qx < bs; qx++) {
          const src = src0 + (i * h * w * d + (qy * bs + qx) * c) * 4;
          const dst = dst0 + ((i * h * bs + qy) * w * bs + qx) * c * 4;
          k.copyplanes(src, w * d * 4, d * 4, dst, bs * w * bs * c * 4, bs * c * 4, h, w, c);
        }
      }
    }
    return out;
  });
  overrideWasmKernel('Slice', ({ inputs, attrs, backend }) => {
    const k = simdKernelsFor(backend);
    const x = (inputs as unknown as { x: tf.TensorInfo }).x;
    if (!k || x.dtype !== 'float32') return null;
    const { begin, size } = attrs as unknown as { begin: number[]; size: number[] };
    const [b0, s0] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, begin, size);
    const b = backend as WasmBackendInternals;
    const out = b.makeOutput(s0, 'float32');
    if (prod(s0) > 0) copyBox(k, heapOffset(b, x), x.shape, b0, heapOffset(b, out), s0, s0.map(() => 0), s0);
    return out;
  });
  // Zero/constant padding: fill, then one strided copy of the input into the interior.
  overrideWasmKernel('PadV2', ({ inputs, attrs, backend }) => {
    const k = simdKernelsFor(backend);
    const x = (inputs as unknown as { x: tf.TensorInfo }).x;
    if (!k || x.dtype !== 'float32') return null;
    const { paddings, constantValue } = attrs as unknown as { paddings: Array<[number, number]>; constantValue: number };
    const outShape = x.shape.map((d, i) => paddings[i][0] + d + paddings[i][1]);
    const b = backend as WasmBackendInternals;
    const out = b.makeOutput(outShape, 'float32');
    const o = heapOffset(b, out);
    heapF32(b).fill(constantValue, o / 4, o / 4 + prod(outShape));
    if (prod(x.shape) > 0) copyBox(k, heapOffset(b, x), x.shape, x.shape.map(() => 0), o, outShape, paddings.map((p) => p[0]), x.shape);
    return out;
  });
}

/**
 * Copies the box `size` of a dense row-major float32 array (`srcShape`, at `srcBegin`) into
 * another (`dstShape`, at `dstBegin`) with the SIMD row copy: axes inside the innermost one that
 * is not whole in both are one contiguous run, the next axis out gives the rows of one call, and
 * JS loops over the rest. Offsets are bytes on the wasm heap.
 */
function copyBox(k: SimdKernels, src: number, srcShape: number[], srcBegin: number[], dst: number, dstShape: number[], dstBegin: number[], size: number[]): void {
  const rank = size.length;
  const ss = [...tf.util.computeStrides(srcShape), 1];
  const ds = [...tf.util.computeStrides(dstShape), 1];
  let a = rank - 1;
  while (a > 0 && size[a] === srcShape[a] && size[a] === dstShape[a]) a--;
  const run = size[a] * ss[a];
  const s0 = src + 4 * srcBegin.reduce((p, v, i) => p + v * ss[i], 0);
  const d0 = dst + 4 * dstBegin.reduce((p, v, i) => p + v * ds[i], 0);
  if (a === 0 || rank === 1) {
    k.copyrows(s0, 0, d0, 0, 1, run);
    return;
  }
  const rowAxis = a - 1;
  if (rowAxis === 0) {
    k.copyrows(s0, ss[0] * 4, d0, ds[0] * 4, size[0], run);
    return;
  }
  // Rows along a−1 and planes along a−2 in one call; JS loops over the axes before those.
  const planeAxis = rowAxis - 1;
  const outer = size.slice(0, planeAxis);
  const count = prod(outer);
  const idx = new Array<number>(planeAxis).fill(0);
  for (let o = 0; o < count; o++) {
    let so = s0;
    let dd = d0;
    for (let i = 0; i < planeAxis; i++) {
      so += 4 * idx[i] * ss[i];
      dd += 4 * idx[i] * ds[i];
    }
    k.copyplanes(so, ss[planeAxis] * 4, ss[rowAxis] * 4, dd, ds[planeAxis] * 4, ds[rowAxis] * 4, size[planeAxis], size[rowAxis], run);
    for (let i = planeAxis - 1; i >= 0; i--) {
      if (++idx[i] < outer[i]) break;
      idx[i] = 0;
    }
  }
}
