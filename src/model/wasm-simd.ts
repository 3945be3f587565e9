/**
 * Our own small WebAssembly SIMD module (simd-kernels.wat), instantiated on the MEMORY of the
 * tfjs wasm backend, so its loops read and write tensors in place (pointers = the backend's
 * memory offsets). Used by training kernels the wasm backend lacks or runs slowly: the fused
 * batch-norm (fused-bn.ts) and channel concat/split/slice (train/kernels.ts), and by the
 * classifier's direct executor (channel concat, direct.ts).
 * Returns null where it cannot run (another backend, an engine without wasm SIMD, or
 * EMOTIONNET_WASM_SIMD=0); callers then use their JS or op-by-op forms.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SIMD_KERNELS_WASM } from './simd-kernels-wasm';

export interface SimdKernels {
  colsum(y: number, rows: number, C: number, acc: number): void;
  colsqdev(y: number, rows: number, C: number, mean: number, acc: number): void;
  apply(y: number, rows: number, C: number, scale: number, shift: number, out: number, relu: number): void;
  gradsums(dout: number, y: number, out: number, rows: number, C: number, mean: number, db: number, dg: number, relu: number): void;
  gradapply(dout: number, y: number, out: number, rows: number, C: number, mean: number, a: number, k1: number, k2: number, dy: number, relu: number): void;
  copyrows(src: number, srcStride: number, dst: number, dstStride: number, rows: number, n: number): void;
  copyplanes(src: number, srcPlane: number, srcStride: number, dst: number, dstPlane: number, dstStride: number, planes: number, rows: number, n: number): void;
  dwacc(xp: number, rowStepX: number, xRow: number, colStepX: number, dy: number, rows: number, W: number, kh: number, kw: number, ci4: number, co4: number, acc: number): void;
}

/** The parts of tfjs' BackendWasm these kernels use. */
export interface WasmBackendInternals {
  wasm: { asm?: { memory?: WebAssembly.Memory }; _malloc(n: number): number; _free(p: number): void };
  dataIdMap: { get(id: tf.DataId): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

let cache: { memory: WebAssembly.Memory; exports: SimdKernels | null } | null = null;

/** The module on `backend`'s memory, or null. */
export function simdKernelsFor(backend: unknown): SimdKernels | null {
  if (process.env.EMOTIONNET_WASM_SIMD === '0') return null;
  const memory = (backend as WasmBackendInternals).wasm?.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) return null;
  if (cache && cache.memory === memory) return cache.exports;
  let exports: SimdKernels | null = null;
  try {
    const mod = new WebAssembly.Module(Buffer.from(SIMD_KERNELS_WASM, 'base64'));
    exports = new WebAssembly.Instance(mod, { env: { memory } }).exports as unknown as SimdKernels;
  } catch {
    exports = null; // no wasm SIMD in this engine
  }
  cache = { memory, exports };
  return exports;
}

/** Byte offset of a tensor's data in the wasm memory. */
export function heapOffset(b: WasmBackendInternals, t: tf.TensorInfo): number {
  return b.dataIdMap.get(t.dataId as tf.DataId).memoryOffset;
}

/** A fresh Float32Array view of the whole wasm memory (take it after every allocation). */
export function heapF32(b: WasmBackendInternals): Float32Array {
  return new Float32Array((b.wasm.asm as { memory: WebAssembly.Memory }).memory.buffer);
}

/**
 * Concatenation of float32 tensors along `axis`, as one strided SIMD row copy per input in place
 * on the heap (tfjs-backend-wasm's Concat copies row by row through JS: ~1/4 of Nano-A's time).
 * Bit-identical to Concat. Used by the training kernels and the classifier's direct executor.
 */
export function concatSimd(b: WasmBackendInternals, k: SimdKernels, ts: tf.TensorInfo[], axis: number): tf.TensorInfo {
  const prod = (xs: number[]) => xs.reduce((p, v) => p * v, 1);
  const outShape = tf.backend_util.computeOutShape(ts.map((t) => t.shape), axis);
  const out = b.makeOutput(outShape, 'float32');
  const outer = prod(outShape.slice(0, axis));
  const total = prod(outShape.slice(axis));
  if (outer * total === 0) return out;
  const dst = heapOffset(b, out);
  let off = 0;
  for (const t of ts) {
    const inner = prod(t.shape.slice(axis));
    if (inner > 0) k.copyrows(heapOffset(b, t), inner * 4, dst + off * 4, total * 4, outer, inner);
    off += inner;
  }
  return out;
}

interface CpuLike {
  readSync(dataId: tf.DataId): unknown;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array): tf.TensorInfo;
}

/**
 * For JS kernels on the wasm and cpu backends: runs `fn` on Float32Array views of `inputs` and
 * of fresh outputs of `outShapes` (in place on the wasm heap, or on the cpu backend's arrays).
 */
export function runOnArrays(backend: unknown, inputs: tf.TensorInfo[], outShapes: number[][], fn: (ins: Float32Array[], outs: Float32Array[]) => void, kernelName = 'kernel'): tf.TensorInfo[] {
  for (const t of inputs) if (t.dtype !== 'float32') throw new Error(`${kernelName}: float32 inputs expected, got ${t.dtype}`);
  const w = backend as WasmBackendInternals;
  if (typeof w.typedArrayFromHeap === 'function') {
    // Allocate every output first: an allocation can grow (and so detach) the wasm heap.
    const outs = outShapes.map((s) => w.makeOutput(s, 'float32'));
    fn(
      inputs.map((t) => w.typedArrayFromHeap(t)),
      outs.map((t) => w.typedArrayFromHeap(t)),
    );
    return outs;
  }
  const c = backend as CpuLike;
  const outs = outShapes.map((s) => new Float32Array(s.reduce((a, b) => a * b, 1)));
  fn(
    inputs.map((t) => c.readSync(t.dataId) as Float32Array),
    outs,
  );
  return outs.map((v, i) => c.makeTensorInfo(outShapes[i], 'float32', v));
}
