/**
 * A depthwise 3x3 convolution kernel (stride 1, "same" padding) for the wasm backend.
 * BlazeFace's residual blocks each start with one, and tfjs' own kernel (XNNPACK) spent about
 * 0.3 ms on each of the seven at 96x72x24 (its indirection set-up on every call), a third of
 * the detector's time. This is one SIMD pass per image (about half the time there), as a small
 * WebAssembly module that shares the backend's memory and works on the tensors in place.
 *
 * Source: `wasm/depthwise3x3.wat` next to this file (test/face checks that it assembles to the
 * bytes below). The taps are summed in the order XNNPACK's kernel sums them, so the outputs are
 * bit-identical to the backend's kernel (tested here; scripts/check-arm64.sh checks arm64 and armv7). Anything else (other backends, no SIMD, other filter sizes, strides,
 * paddings, dilations or dtypes, channels not a positive multiple of 4) uses the backend's own kernel.
 */
import { tf } from '../backend';
import { wasmKernel } from './wasm-module';

export const DEPTHWISE3X3_WASM =
  'AGFzbQEAAAABFQJgCH9/f39/f39/AGAGf39/f39/AAIPAQNlbnYGbWVtb3J5AgABAwMCAAEHCQEFZHczeDMAAQqABgLjAQMFfwF7An8gAiAGIARsIAdqIAVsaiEOQQAhCCABIQ8DQP0MAAAAAAAAAAAAAAAAAAAAACENQQAhCgNAIAcgCmpBAWshDCAMQQBOIAwgBEhxBEBBACEJA0AgBiAJakEBayELIAtBAE4gCyADSHEEQCANIAAgCGogCyAEbCAMaiAFbGr9AAQAIA8gCkEDbCAJakEEdGr9AAQA/eYB/eQBIQ0LIAlBAWohCSAJQQNIDQALCyAKQQFqIQogCkEDSA0ACyAOIAhqIA39CwQAIA9BkAFqIQ8gCEEQaiEIIAggBUkNAAsLmAQCC38BeyAFQQJ0IQYgBkEBdCEHIAQgBmwhCEEAIQkDQCAJRSAJIANBAWtGcgRAQQAhCgNAIAAgASACIAMgBCAGIAkgChAAIApBAWohCiAKIARIDQALBSAAIAEgAiADIAQgBiAJQQAQAEEBIQogBEECSgRAA0AgACAJQQFrIARsIApBAWtqIAZsaiELIAsgCGohDCAMIAhqIQ0gAiAJIARsIApqIAZsaiEOIA4gBmohECABIQ8DQP0MAAAAAAAAAAAAAAAAAAAAACERIBEgC/0ABAAgD/0ABAD95gH95AEhESARIAz9AAQAIA/9AAQQ/eYB/eQBIREgESAN/QAEACAP/QAEIP3mAf3kASERIBEgCyAGav0ABAAgD/0ABDD95gH95AEhESARIAwgBmr9AAQAIA/9AARA/eYB/eQBIREgESANIAZq/QAEACAP/QAEUP3mAf3kASERIBEgCyAHav0ABAAgD/0ABGD95gH95AEhESARIAwgB2r9AAQAIA/9AARw/eYB/eQBIREgESANIAdq/QAEACAP/QAEgAH95gH95AEhESAOIBH9CwQAIAtBEGohCyAMQRBqIQwgDUEQaiENIA9BkAFqIQ8gDkEQaiEOIA4gEEkNAAsgCkEBaiEKIAogBEEBa0gNAAsLIARBAUoEQCAAIAEgAiADIAQgBiAJIARBAWsQAAsLIAlBAWohCSAJIANIDQALCw==';

export type DepthwiseKernel = (x: tf.TensorInfo, filter: tf.TensorInfo, attrs: tf.NamedAttrMap) => tf.TensorInfo;

/** The filter [3, 3, C, 1] as [C/4][9][4] floats, taps in column order (see the .wat). */
function packFilter(f: Float32Array, c: number): Float32Array {
  const packed = new Float32Array(9 * c);
  for (let cv = 0; cv < c / 4; cv++) {
    for (let kx = 0; kx < 3; kx++) {
      for (let ky = 0; ky < 3; ky++) {
        const to = (cv * 9 + kx * 3 + ky) * 4;
        const from = (ky * 3 + kx) * c + cv * 4;
        for (let i = 0; i < 4; i++) packed[to + i] = f[from + i];
      }
    }
  }
  return packed;
}

const same = (a: unknown, b: number[]) => Array.isArray(a) && a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * Returns tfjs' `DepthwiseConv2dNative` for `backend` (inputs `x`, `filter`; its attributes):
 * the SIMD pass when the backend is wasm, the WebAssembly runtime has SIMD and the call is a
 * stride-1 "same" 3x3 NHWC float32 one with channels a positive multiple of 4; else the backend's kernel.
 * `fused` says whether the SIMD pass is available at all.
 */
export function depthwiseKernel(backendName: string, backend: tf.KernelBackend, allowFast = true): { fn: DepthwiseKernel; fused: boolean } {
  const own = tf.getKernel(tf.DepthwiseConv2dNative, backendName)?.kernelFunc;
  if (!own) throw new Error(`backend ${backendName} has no DepthwiseConv2dNative kernel`);
  const generic: DepthwiseKernel = (x, filter, attrs) => own({ inputs: { x, filter }, attrs, backend }) as tf.TensorInfo;
  type Run = (x: number, w: number, out: number, height: number, width: number, channels: number) => void;
  const k = allowFast ? wasmKernel<Run>(backendName, backend, DEPTHWISE3X3_WASM, 'dw3x3') : null;
  if (!k) return { fn: generic, fused: false };
  const { wb, fn: run } = k;
  // Packed filters by the filter's data (the detector's weights: packed once each).
  const packedFilters = new WeakMap<object, Float32Array>();
  const fn: DepthwiseKernel = (x, filter, attrs) => {
    const [n, h, w, c] = x.shape;
    const fs = filter.shape;
    if (
      x.dtype !== 'float32' || filter.dtype !== 'float32' || x.shape.length !== 4 || c % 4 !== 0 || !(n > 0 && h > 0 && w > 0 && c > 0) ||
      fs.length !== 4 || fs[0] !== 3 || fs[1] !== 3 || fs[2] !== c || fs[3] !== 1 ||
      !same(attrs.strides, [1, 1]) || attrs.pad !== 'same' || !same(attrs.dilations ?? [1, 1], [1, 1]) ||
      (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') || attrs.dimRoundingMode != null
    ) {
      return generic(x, filter, attrs);
    }
    let packed = packedFilters.get(filter.dataId);
    if (!packed) {
      packed = packFilter(wb.typedArrayFromHeap(filter) as Float32Array, c);
      packedFilters.set(filter.dataId, packed);
    }
    const out = wb.makeOutput(x.shape, 'float32');
    const weights = wb.makeOutput([packed.length], 'float32');
    try {
      // Offsets after both allocations (which may grow the memory).
      (wb.typedArrayFromHeap(weights) as Float32Array).set(packed);
      const xAt = wb.typedArrayFromHeap(x).byteOffset;
      const wAt = wb.typedArrayFromHeap(weights).byteOffset;
      const outAt = wb.typedArrayFromHeap(out).byteOffset;
      const image = h * w * c * 4;
      for (let i = 0; i < n; i++) run(xAt + i * image, wAt, outAt + i * image, h, w, c);
    } finally {
      backend.disposeData(weights.dataId);
    }
    return out;
  };
  return { fn, fused: true };
}
