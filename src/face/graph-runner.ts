/**
 * A lean executor for the BlazeFace graph: the converted graph's ~130 nodes mapped once to
 * calls of the active backend's registered kernels, with intermediate buffers released after
 * their last use. It produces exactly the GraphModel's outputs (checked in test/face).
 *
 * Two modes: `kernel` (default) calls each kernel function directly on the backend with plain
 * tensor infos, so per node there is no op wrapper, no gradient bookkeeping and no engine
 * tracking; only the outputs become tracked tensors; each residual Add→Relu pair runs as
 * one kernel (a single SIMD pass on wasm, see wasm-add-relu.ts), and on wasm the 3x3
 * depthwise convolutions run as our own SIMD pass (wasm-depthwise.ts; bit-identical outputs). `ops` goes through
 * `engine.runKernel` (tracked tensors throughout). Measured on wasm at 192x144 in one process,
 * interleaved (p10 of 200 runs, machine under load): `ops` 10.9 ms, `kernel` without the fusion
 * 10.5 ms, `kernel` 9.75 ms; tf op calls (the previous runner) cost about 0.4 ms more than
 * `ops`, the GraphModel executor about 0.7 ms more again. Graphs with other ops, or backends
 * missing a kernel, are refused (the detector then uses the GraphModel). This file only
 * translates graph nodes into kernel steps; running them is src/kernel-program.ts (shared with
 * the classifier's direct executor).
 */
import type { GraphModel } from '@tensorflow/tfjs-converter';
import { tf } from '../backend';
import { KernelStep, kernelProgram, opsProgram, trackedRunner } from '../kernel-program';
import { addReluKernel } from './wasm-add-relu';
import { depthwiseKernel } from './wasm-depthwise';

interface AttrValue {
  s?: string;
  i?: string;
  list?: { s?: string[]; i?: string[] };
}

export interface GraphNodeDef {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, AttrValue>;
}

type NamedTensorsMap = GraphModel['weights'];

export type DirectRunnerMode = 'kernel' | 'ops';

const str = (v?: string) => (v ? Buffer.from(v, 'base64').toString() : '');
const baseName = (input: string) => input.replace(/^\^/, '').split(':')[0];

function strides(n: GraphNodeDef): [number, number] {
  const s = (n.attr?.strides?.list?.i ?? ['1', '1', '1', '1']).map(Number);
  return [s[1], s[2]];
}

function padding(n: GraphNodeDef): 'same' | 'valid' {
  const p = str(n.attr?.padding?.s).toLowerCase();
  if (p !== 'same' && p !== 'valid') throw new Error(`${n.name}: unsupported padding "${p}"`);
  return p;
}

function checkNhwc(n: GraphNodeDef): void {
  const f = str(n.attr?.data_format?.s);
  if (f && f !== 'NHWC') throw new Error(`${n.name}: unsupported data format ${f}`);
  const d = (n.attr?.dilations?.list?.i ?? []).map(Number);
  if (d.some((x) => x !== 1)) throw new Error(`${n.name}: dilations are not supported`);
}

/**
 * Compiles the nodes needed for `outputs` into a function `input → outputs` on the backend
 * active now. In `kernel` mode with `fuse`, each Add→Relu pair runs as one kernel (one SIMD
 * pass on wasm; see wasm-add-relu.ts) and the depthwise convolutions go through
 * wasm-depthwise.ts. The graph's constants are taken from `weights` (the loaded GraphModel's tensors,
 * not copied). Throws for any op it does not implement (or, in `kernel` mode, any kernel the
 * backend lacks).
 */
export function compileDirectRunner(
  nodes: GraphNodeDef[],
  weights: NamedTensorsMap,
  outputs: string[],
  mode: DirectRunnerMode = 'kernel',
  fuse = true,
): (x: tf.Tensor) => tf.Tensor[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const order: GraphNodeDef[] = [];
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const n = byName.get(name);
    if (!n) throw new Error(`graph has no node ${name}`);
    (n.input ?? []).forEach((i) => visit(baseName(i)));
    order.push(n);
  };
  outputs.forEach(visit);
  const constant = (name: string): tf.Tensor => {
    const t = weights[name]?.[0];
    if (!t) throw new Error(`graph constant ${name} is missing`);
    return t;
  };
  const placeholders = order.filter((n) => n.op === 'Placeholder');
  if (placeholders.length !== 1) throw new Error(`expected one graph input, found ${placeholders.length}`);
  const inputName = placeholders[0].name;
  let compute = order.filter((n) => n.op !== 'Const' && n.op !== 'Placeholder');
  if (mode === 'kernel' && fuse) compute = fuseAddRelu(compute, outputs);
  let steps = compute.map((n): KernelStep => ({ name: n.name, ...kernelCall(n, constant) }));
  if (mode === 'ops') return opsProgram(inputName, steps, outputs);
  // depthwise convolutions through the SIMD 3x3 pass where it applies (see wasm-depthwise.ts)
  if (fuse) steps = steps.map((st) => (st.kernel === tf.DepthwiseConv2dNative ? { ...st, kernel: DEPTHWISE } : st));
  const custom = {
    // the pseudo-kernel of fused Add→Relu pairs (see fuseAddRelu)
    [ADD_RELU]: (backendName: string, backend: tf.KernelBackend): tf.KernelFunc => {
      const fn = addReluKernel(backendName, backend).fn;
      return ({ inputs }) => fn(inputs.a as tf.TensorInfo, inputs.b as tf.TensorInfo);
    },
    [DEPTHWISE]: (backendName: string, backend: tf.KernelBackend): tf.KernelFunc => {
      const fn = depthwiseKernel(backendName, backend).fn;
      return ({ inputs, attrs }) => fn(inputs.x as tf.TensorInfo, inputs.filter as tf.TensorInfo, attrs ?? {});
    },
  };
  return trackedRunner(kernelProgram(inputName, steps, outputs, custom, 'the face detector'));
}

/** One graph node as a kernel call: kernel name, inputs by kernel input name, attributes. */
function kernelCall(n: GraphNodeDef, constant: (name: string) => tf.Tensor): Omit<KernelStep, 'name'> {
  const ins = (n.input ?? []).filter((i) => !i.startsWith('^')).map(baseName);
  switch (n.op) {
    case '_FusedConv2D': {
      checkNhwc(n);
      const fused = (n.attr?.fused_ops?.list?.s ?? []).map(str);
      if (fused[0] !== 'BiasAdd' || fused.length > 2 || (fused[1] && fused[1] !== 'Relu') || ins.length !== 3) {
        throw new Error(`${n.name}: unsupported fused ops ${fused.join('+')}`);
      }
      const activation = fused[1] === 'Relu' ? 'relu' : 'linear';
      return {
        kernel: tf.FusedConv2D,
        inputs: { x: ins[0], filter: constant(ins[1]), bias: constant(ins[2]) },
        // the attributes tf.fused.conv2d passes
        attrs: { strides: strides(n), pad: padding(n), dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined, activation, leakyreluAlpha: undefined },
      };
    }
    case 'DepthwiseConv2dNative':
      checkNhwc(n);
      return {
        kernel: tf.DepthwiseConv2dNative,
        inputs: { x: ins[0], filter: constant(ins[1]) },
        attrs: { strides: strides(n), pad: padding(n), dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined },
      };
    case 'AddV2':
    case 'Add':
      return { kernel: tf.Add, inputs: { a: ins[0], b: ins[1] }, attrs: {} };
    case 'Relu':
      return { kernel: tf.Relu, inputs: { x: ins[0] }, attrs: {} };
    case ADD_RELU:
      return { kernel: ADD_RELU, inputs: { a: ins[0], b: ins[1] }, attrs: {} };
    case 'MaxPool': {
      const k = (n.attr?.ksize?.list?.i ?? []).map(Number);
      return { kernel: tf.MaxPool, inputs: { x: ins[0] }, attrs: { filterSize: [k[1], k[2]], strides: strides(n), pad: padding(n), dimRoundingMode: undefined } };
    }
    case 'Pad': {
      const paddings = constant(ins[1]).arraySync() as Array<[number, number]>;
      return { kernel: tf.PadV2, inputs: { x: ins[0] }, attrs: { paddings, constantValue: 0 } };
    }
    case 'Identity':
      return { kernel: tf.Identity, inputs: { x: ins[0] }, attrs: {} };
    default:
      throw new Error(`unsupported op ${n.op} (${n.name})`);
  }
}

/** Pseudo-op of an Add whose only consumer is a Relu (see {@link fuseAddRelu}). */
const ADD_RELU = '_AddRelu';
/** Pseudo-kernel of depthwise convolutions: the SIMD 3x3 pass where it applies, else the backend's kernel. */
const DEPTHWISE = '_Depthwise';

/**
 * Merges every `Add → Relu` pair whose sum feeds nothing else into one `_AddRelu` node named
 * after the Relu (the residual-block ending of BlazeFace).
 */
function fuseAddRelu(compute: GraphNodeDef[], outputs: string[]): GraphNodeDef[] {
  const consumers = new Map<string, GraphNodeDef[]>();
  for (const n of compute) for (const i of n.input ?? []) consumers.set(baseName(i), [...(consumers.get(baseName(i)) ?? []), n]);
  const merged = new Map<GraphNodeDef, GraphNodeDef>();
  const dropped = new Set<GraphNodeDef>();
  for (const n of compute) {
    if ((n.op !== 'Add' && n.op !== 'AddV2') || outputs.includes(n.name)) continue;
    const users = consumers.get(n.name) ?? [];
    const ins = (n.input ?? []).filter((i) => !i.startsWith('^'));
    if (users.length !== 1 || users[0].op !== 'Relu' || ins.length !== 2) continue;
    merged.set(users[0], { name: users[0].name, op: ADD_RELU, input: ins });
    dropped.add(n);
  }
  return compute.filter((n) => !dropped.has(n)).map((n) => merged.get(n) ?? n);
}
