/**
 * A fused `relu(a + b)` kernel for the wasm backend: BlazeFace ends each of its ~30 residual
 * blocks with an Add followed by a Relu, two passes over the block's activations that cost
 * about a tenth of the network time on wasm. This does both in one SIMD pass, as a 153-byte
 * WebAssembly module that shares the backend's memory, so it works on the tensors in place.
 *
 * Source: `wasm/add-relu.wat` next to this file (test/face checks that it assembles to the bytes
 * below). `pmax(x, 0)` is `x < 0 ? 0 : x`, the same as tfjs' Relu (bit-identical results; tested).
 * Anything else (other backends, no SIMD, shapes that differ or are not a multiple of 4 floats)
 * uses the backend's own Add and Relu kernels.
 */
import { tf } from '../backend';
import { wasmKernel } from './wasm-module';

export const ADD_RELU_WASM =
  'AGFzbQEAAAABCAFgBH9/f38AAg8BA2VudgZtZW1vcnkCAAEDAgEABwsBB2FkZFJlbHUAAApjAWEBAX8gAiADQQJ0aiEEAkAgAiAETw0AA0AgAiAA/QAEACAB/QAEAP3kAf0MAAAAAAAAAAAAAAAAAAAAAP3rAf0LBAAgAEEQaiEAIAFBEGohASACQRBqIQIgAiAESQ0ACwsL';

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
  const k = allowFused ? wasmKernel<(a: number, b: number, o: number, n: number) => void>(backendName, backend, ADD_RELU_WASM, 'addRelu') : null;
  if (!k) return { fn: generic, fused: false };
  const { wb, fn: run } = k;
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
