/**
 * A fused `relu(a + b)` kernel for the wasm backend: BlazeFace ends each of its ~30 residual
 * blocks with an Add followed by a Relu, two passes over the block's activations that cost
 * about a tenth of the network time on wasm. This does both in one SIMD pass, as a 153-byte
 * WebAssembly module that shares the backend's memory, so it works on the tensors in place.
 *
 * The module is assembled from this text (WebAssembly text format, with SIMD):
 * ```wat
 * (module
 *   (import "env" "memory" (memory 1))
 *   ;; out[i] = max(a[i] + b[i], 0) for n floats; n a multiple of 4 (16-byte steps)
 *   (func (export "addRelu") (param $a i32) (param $b i32) (param $o i32) (param $n i32)
 *     (local $end i32)
 *     (local.set $end (i32.add (local.get $o) (i32.shl (local.get $n) (i32.const 2))))
 *     (block $done
 *       (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
 *       (loop $next
 *         (v128.store (local.get $o)
 *           (f32x4.pmax
 *             (f32x4.add (v128.load (local.get $a)) (v128.load (local.get $b)))
 *             (v128.const f32x4 0 0 0 0)))
 *         (local.set $a (i32.add (local.get $a) (i32.const 16)))
 *         (local.set $b (i32.add (local.get $b) (i32.const 16)))
 *         (local.set $o (i32.add (local.get $o) (i32.const 16)))
 *         (br_if $next (i32.lt_u (local.get $o) (local.get $end))))))
 * )
 * ```
 * `pmax(x, 0)` is `x < 0 ? 0 : x`, the same as tfjs' Relu (bit-identical results; tested).
 * Anything else (other backends, no SIMD, shapes that differ or are not a multiple of 4 floats)
 * uses the backend's own Add and Relu kernels.
 */
import { tf } from '../backend';

const ADD_RELU_WASM =
  'AGFzbQEAAAABCAFgBH9/f38AAg8BA2VudgZtZW1vcnkCAAEDAgEABwsBB2FkZFJlbHUAAApjAWEBAX8gAiADQQJ0aiEEAkAgAiAETw0AA0AgAiAA/QAEACAB/QAEAP3kAf0MAAAAAAAAAAAAAAAAAAAAAP3rAf0LBAAgAEEQaiEAIAFBEGohASACQRBqIQIgAiAESQ0ACwsL';

/** The parts of tfjs-backend-wasm's backend this uses (public methods plus the module's memory). */
interface WasmBackendLike {
  wasm?: { asm?: { memory?: unknown } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): ArrayBufferView;
}

export type AddReluKernel = (a: tf.TensorInfo, b: tf.TensorInfo) => tf.TensorInfo;

/**
 * Returns `relu(a + b)` as one kernel for `backend`: the fused wasm pass when the backend is
 * wasm and the WebAssembly runtime has SIMD, else the backend's Add then Relu kernels.
 * `fused` says which one it is.
 */
export function addReluKernel(backendName: string, backend: tf.KernelBackend, allowFused = true): { fn: AddReluKernel; fused: boolean } {
  const add = tf.getKernel(tf.Add, backendName)?.kernelFunc;
  const relu = tf.getKernel(tf.Relu, backendName)?.kernelFunc;
  if (!add || !relu) throw new Error(`backend ${backendName} has no Add/Relu kernel`);
  const generic: AddReluKernel = (a, b) => {
    const sum = add({ inputs: { a, b }, attrs: {}, backend }) as tf.TensorInfo;
    try {
      return relu({ inputs: { x: sum }, attrs: {}, backend }) as tf.TensorInfo;
    } finally {
      backend.disposeData(sum.dataId);
    }
  };
  const wb = backend as unknown as WasmBackendLike;
  const memory = wb.wasm?.asm?.memory;
  if (!allowFused || backendName !== 'wasm' || !(memory instanceof WebAssembly.Memory) || typeof wb.typedArrayFromHeap !== 'function' || typeof wb.makeOutput !== 'function') {
    return { fn: generic, fused: false };
  }
  let run: (a: number, b: number, o: number, n: number) => void;
  try {
    const mod = new WebAssembly.Module(Buffer.from(ADD_RELU_WASM, 'base64'));
    const inst = new WebAssembly.Instance(mod, { env: { memory } });
    run = inst.exports.addRelu as typeof run;
  } catch {
    return { fn: generic, fused: false }; // no WebAssembly SIMD here
  }
  const fn: AddReluKernel = (a, b) => {
    const n = a.shape.reduce((x, y) => x * y, 1);
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || n % 4 !== 0 || a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
      return generic(a, b);
    }
    const out = wb.makeOutput(a.shape, 'float32');
    // Offsets after the output's allocation (which may grow the memory).
    run(wb.typedArrayFromHeap(a).byteOffset, wb.typedArrayFromHeap(b).byteOffset, wb.typedArrayFromHeap(out).byteOffset, n);
    return out;
  };
  return { fn, fused: true };
}
