/**
 * Kernel programs: a network compiled once into a fixed list of kernel calls on the active
 * backend, so that running it costs little more than the kernels themselves. Shared by the face
 * detector's graph runner (face/graph-runner.ts) and the classifier's direct executor
 * (model/direct.ts), which only translate their network into {@link KernelStep}s.
 *
 * Two ways to run a program:
 * - {@link kernelProgram}: each step is a direct call of the backend's kernel function on plain
 *   tensor infos (no op wrapper, no gradient bookkeeping, no engine tracking); intermediates are
 *   released with the backend's reference-counted `disposeData` right after their last use, and
 *   every one of them also when a step throws. The caller owns the outputs.
 * - {@link opsProgram}: each step through `engine.runKernel` (tracked tensors throughout), for
 *   backends whose kernels are not safe to call directly.
 */
import { tf } from './backend';

/**
 * A step's input: the name of an earlier value, or a constant (a tensor, or a view of one's data
 * with another shape: not owned by the program; {@link opsProgram} takes tensors only).
 */
export type ValueRef = string | tf.TensorInfo;

/** One kernel call of a program. */
export interface KernelStep {
  /** Name of the value it produces (its first output). */
  name: string;
  /** A registered kernel name, or one of the program's custom kernels. */
  kernel: string;
  /** Kernel inputs by name (`{ x: 'c1', filter: tensor }`), or as a list for list kernels (AddN, Concat). */
  inputs: Record<string, ValueRef> | ValueRef[];
  attrs: Record<string, unknown>;
}

/** Kernels outside tfjs' registry (fused pseudo-ops): name → the kernel function for a backend. */
export type CustomKernels = Record<string, (backendName: string, backend: tf.KernelBackend) => tf.KernelFunc>;

/** The program's values and constants as kernel inputs, fixed at compile time. */
interface CompiledStep {
  fn: tf.KernelFunc;
  list: boolean;
  keys: string[];
  refs: ValueRef[];
  attrs: tf.NamedAttrMap;
}

const refsOf = (st: KernelStep): ValueRef[] => (Array.isArray(st.inputs) ? st.inputs : Object.values(st.inputs));

/**
 * For each step, the values no longer needed after it: those read for the last time, and the
 * step's own value if nothing reads it. Never the program's input or outputs.
 */
export function releasePlan(input: string, steps: KernelStep[], outputs: string[]): string[][] {
  const known = new Set([input]);
  const lastUse = new Map<string, number>();
  steps.forEach((st, i) => {
    for (const r of refsOf(st)) {
      if (typeof r !== 'string') continue;
      if (!known.has(r)) throw new Error(`step ${st.name} (${st.kernel}) reads ${r} before it is computed`);
      lastUse.set(r, i);
    }
    if (known.has(st.name)) throw new Error(`value ${st.name} is computed twice`);
    known.add(st.name);
  });
  for (const o of outputs) if (!known.has(o)) throw new Error(`program output ${o} is never computed`);
  const keep = new Set([input, ...outputs]);
  const frees: string[][] = steps.map(() => []);
  steps.forEach((st, i) => {
    if (!keep.has(st.name) && !lastUse.has(st.name)) frees[i].push(st.name);
  });
  for (const [name, i] of lastUse) if (!keep.has(name)) frees[i].push(name);
  return frees;
}

/** A compiled program on one backend: `run` maps the input's tensor info to the outputs' (untracked, owned by the caller). */
export interface KernelProgram {
  readonly backendName: string;
  readonly backend: tf.KernelBackend;
  run(input: tf.TensorInfo): tf.TensorInfo[];
}

/**
 * Compiles `steps` into direct kernel calls on the backend active now. Throws if the backend
 * lacks a kernel. `what` names the program in errors (e.g. "the face detector").
 */
export function kernelProgram(input: string, steps: KernelStep[], outputs: string[], custom: CustomKernels = {}, what = 'the program'): KernelProgram {
  const backendName = tf.getBackend();
  const backend = tf.backend();
  const frees = releasePlan(input, steps, outputs);
  const made = new Map<string, tf.KernelFunc>();
  const compiled = steps.map((st): CompiledStep => {
    let fn = made.get(st.kernel);
    if (!fn) {
      const factory = Object.prototype.hasOwnProperty.call(custom, st.kernel) ? custom[st.kernel] : null;
      const k = factory ? null : tf.getKernel(st.kernel, backendName);
      if (!factory && !k) throw new Error(`backend ${backendName} has no ${st.kernel} kernel`);
      fn = factory ? factory(backendName, backend) : (k as tf.KernelConfig).kernelFunc;
      made.set(st.kernel, fn);
    }
    const list = Array.isArray(st.inputs);
    return { fn, list, keys: list ? [] : Object.keys(st.inputs), refs: refsOf(st), attrs: st.attrs as tf.NamedAttrMap };
  });
  const names = steps.map((st) => st.name);
  const run = (x: tf.TensorInfo): tf.TensorInfo[] => {
    if (tf.backend() !== backend) throw new Error(`${what} was compiled for the ${backendName} backend, which is no longer active`);
    const env = new Map<string, tf.TensorInfo>([[input, x]]);
    const get = (v: ValueRef) => (typeof v === 'string' ? (env.get(v) as tf.TensorInfo) : v);
    try {
      for (let i = 0; i < compiled.length; i++) {
        const st = compiled[i];
        let inputs: tf.NamedTensorInfoMap | tf.TensorInfo[];
        if (st.list) inputs = st.refs.map(get);
        else {
          inputs = {};
          for (let j = 0; j < st.keys.length; j++) inputs[st.keys[j]] = get(st.refs[j]);
        }
        const out = st.fn({ inputs: inputs as tf.NamedTensorInfoMap, attrs: st.attrs, backend });
        if (Array.isArray(out)) {
          for (let j = 1; j < out.length; j++) backend.disposeData(out[j].dataId);
          env.set(names[i], out[0]);
        } else env.set(names[i], out);
        for (const name of frees[i]) {
          const t = env.get(name);
          if (t) backend.disposeData(t.dataId);
          env.delete(name);
        }
      }
      return outputs.map((o) => env.get(o) as tf.TensorInfo);
    } catch (e) {
      for (const [name, t] of env) if (name !== input) backend.disposeData(t.dataId);
      throw e;
    }
  };
  return { backendName, backend, run };
}

/** Compiles `steps` into `engine.runKernel` calls (tracked tensors; the caller owns the outputs). */
export function opsProgram(input: string, steps: KernelStep[], outputs: string[]): (x: tf.Tensor) => tf.Tensor[] {
  const frees = releasePlan(input, steps, outputs);
  const engine = tf.engine();
  return (x: tf.Tensor) => {
    const env = new Map<string, tf.Tensor>([[input, x]]);
    const get = (v: ValueRef) => (typeof v === 'string' ? (env.get(v) as tf.Tensor) : (v as tf.Tensor));
    try {
      for (let i = 0; i < steps.length; i++) {
        const st = steps[i];
        const inputs = Array.isArray(st.inputs) ? st.inputs.map(get) : Object.fromEntries(Object.entries(st.inputs).map(([k, v]) => [k, get(v)]));
        const out = engine.runKernel(st.kernel, inputs as tf.NamedTensorMap, st.attrs as tf.NamedAttrMap);
        if (Array.isArray(out)) {
          out.slice(1).forEach((t) => t.dispose());
          env.set(st.name, out[0]);
        } else env.set(st.name, out as tf.Tensor);
        for (const name of frees[i]) {
          env.get(name)?.dispose();
          env.delete(name);
        }
      }
      return outputs.map((o) => env.get(o) as tf.Tensor);
    } catch (e) {
      for (const [name, t] of env) if (name !== input) t.dispose();
      throw e;
    }
  };
}

/** Runs a kernel program on tracked tensors: the outputs become tracked tensors. */
export function trackedRunner(p: KernelProgram): (x: tf.Tensor) => tf.Tensor[] {
  const engine = tf.engine();
  return (x: tf.Tensor) => p.run(x).map((info) => engine.makeTensorFromTensorInfo(info, p.backend));
}
