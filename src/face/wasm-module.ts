/**
 * Shared by the face detector's own WebAssembly kernels (wasm-add-relu.ts, wasm-depthwise.ts):
 * a small module instantiated on the memory of tfjs' wasm backend, so it reads and writes the
 * backend's tensors in place. Their sources are the .wat files in ./wasm.
 */
import { tf } from '../backend';

/** The parts of tfjs-backend-wasm's backend the kernels use (public methods plus the module's memory). */
export interface WasmBackendLike {
  wasm?: { asm?: { memory?: unknown } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): ArrayBufferView;
}

/**
 * The export `name` of the module `base64`, instantiated on the wasm backend's memory, with the
 * backend; null when `backendName` is not wasm, the backend lacks what the kernels use, or the
 * WebAssembly runtime cannot compile the module (no SIMD).
 */
export function wasmKernel<F>(backendName: string, backend: tf.KernelBackend, base64: string, name: string): { wb: WasmBackendLike; fn: F } | null {
  const wb = backend as unknown as WasmBackendLike;
  const memory = wb.wasm?.asm?.memory;
  if (backendName !== 'wasm' || !(memory instanceof WebAssembly.Memory) || typeof wb.typedArrayFromHeap !== 'function' || typeof wb.makeOutput !== 'function') {
    return null;
  }
  try {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(base64, 'base64')), { env: { memory } });
    return { wb, fn: inst.exports[name] as F };
  } catch {
    return null; // no WebAssembly SIMD here
  }
}
