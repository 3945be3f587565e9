/**
 * EmotionNet Nano architecture as data: the one definition shared by training and inference.
 *
 * The reference topology is the public reconstruction of the paper's figure
 * (see models/README.md): three blocks of 3x3 convolutions with "selective long-range"
 * merges, two strided 1x1 projections, global average pooling and one dense layer.
 *
 * Decisions the paper leaves open (measured and explained in the model card):
 * - every conv/proj is followed by batch normalisation during training; for inference BN is
 *   folded into the convolution weights and bias, so it costs nothing at run time;
 * - pixels are standardised per image inside the graph (mean 0, std 1), so brightness and
 *   contrast of the crop do not matter and training and inference cannot disagree;
 * - both variants run the graph with a stride-2 first convolution, so the blocks work at
 *   24/12/6 instead of 48/24/12: the full-resolution reference (44 M MACs) was ~4x slower on
 *   wasm and scored no better on the same CK+ folds (models/cv-experiments);
 * - Nano-B merges by element-wise ADDITION (three of four reconstructions): 141 k parameters,
 *   11 M MACs. Nano-A merges by channel CONCATENATION (the fourth reconstruction): every layer
 *   keeps its published width but sees all merged maps, 243 k parameters, 18 M MACs: the larger,
 *   costlier point on the accuracy/cost curve, still within the 250 k parameter budget.
 */

export type MergeOp = 'add' | 'concat';

export interface ConvNode {
  /** Unique id, also the weight name prefix. */
  id: string;
  /** `conv` = 3x3 + BN + ReLU; `proj` = 1x1 + BN, no activation. */
  kind: 'conv' | 'proj';
  /** Ids of the tensors merged to form this node's input (`input` = the image). */
  inputs: string[];
  /** Output channels (before the variant's width multiplier). */
  width: number;
  stride: 1 | 2;
}

export interface ArchSpec {
  /** Spec format version (bumped if the meaning of fields changes). */
  version: 1;
  /** Human name of the topology. */
  name: string;
  inputSize: number;
  merge: MergeOp;
  /** Multiplier applied to every width (rounded to nearest integer, min 4). */
  widthMultiplier: number;
  nodes: ConvNode[];
  /** Ids merged then globally average-pooled before the dense classifier. */
  head: string[];
}

const c = (id: string, inputs: string[], width: number, stride: 1 | 2 = 1): ConvNode => ({ id, kind: 'conv', inputs, width, stride });
const p = (id: string, inputs: string[], width: number): ConvNode => ({ id, kind: 'proj', inputs, width, stride: 2 });

/** The reference topology (reconstruction of the paper's Figure), widths as published. */
export const REFERENCE_NODES: readonly ConvNode[] = Object.freeze([
  // Block 1, 48x48, merged width 11
  c('c1', ['input'], 11),
  c('c2', ['c1'], 9),
  c('c3', ['c2'], 11),
  c('c4', ['c1', 'c3'], 8),
  c('c5', ['c4'], 11),
  c('c6', ['c1', 'c3', 'c5'], 7),
  c('c7', ['c6'], 11),
  c('c8', ['c1', 'c5', 'c7'], 27, 2),
  p('p1', ['c1', 'c3', 'c5'], 27),
  // Block 2, 24x24, merged width 27
  c('d1', ['c8'], 27),
  c('d2', ['d1', 'p1'], 19),
  c('d3', ['d2'], 27),
  c('d4', ['d1', 'd3'], 26),
  c('d5', ['d4'], 27),
  c('d6', ['d1', 'd3', 'd5', 'p1'], 36, 2),
  p('p2', ['c8', 'd3', 'd5', 'p1'], 64),
  // Block 3, 12x12, merged width 64
  c('e1', ['d6'], 64),
  c('e2', ['e1', 'p2'], 39),
  c('e3', ['e2'], 64),
  c('e4', ['e1', 'e3', 'p2'], 24),
  c('e5', ['e4'], 64),
]);

export const REFERENCE_HEAD: readonly string[] = Object.freeze(['e1', 'e3', 'e5', 'p2']);

export type VariantName = 'nano-a' | 'nano-b';

/**
 * The reference topology at full resolution with additions (block 1 at 48x48, ~44 M MACs):
 * the first Nano-A, kept for the experiments in models/cv-experiments and for tests.
 */
export const REFERENCE_FULL_RES: ArchSpec = { version: 1, name: 'EmotionNet Nano reference (full resolution)', inputSize: 48, merge: 'add', widthMultiplier: 1, nodes: [...REFERENCE_NODES], head: [...REFERENCE_HEAD] };

const STRIDE2_NODES = REFERENCE_NODES.map((n) => (n.id === 'c1' ? { ...n, stride: 2 as const } : { ...n }));

/** Nano-A: stride-2 stem, concatenating merges. Nano-B: stride-2 stem, adding merges. */
export const VARIANTS: Record<VariantName, ArchSpec> = {
  'nano-a': { version: 1, name: 'EmotionNet Nano-A', inputSize: 48, merge: 'concat', widthMultiplier: 1, nodes: STRIDE2_NODES.map((n) => ({ ...n })), head: [...REFERENCE_HEAD] },
  'nano-b': {
    version: 1,
    name: 'EmotionNet Nano-B',
    inputSize: 48,
    merge: 'add',
    widthMultiplier: 1,
    nodes: STRIDE2_NODES.map((n) => ({ ...n })),
    head: [...REFERENCE_HEAD],
  },
};

export function variantSpec(name: string): ArchSpec {
  const base = name.replace(/-8$/, '') as VariantName;
  const s = VARIANTS[base];
  if (!s) throw new Error(`Unknown EmotionNet Nano variant "${name}" (expected nano-a or nano-b)`);
  return JSON.parse(JSON.stringify(s)) as ArchSpec;
}

/**
 * `spec` with the stem convolution (`c1`) at stride `stride`. Stride 1 runs block 1 at the full
 * 48x48 (the paper's reference resolution): the same weights and parameter count, about 4x the
 * MACs. The name says so, so exported models and checkpoints record it.
 */
export function withStemStride(spec: ArchSpec, stride: 1 | 2): ArchSpec {
  const out = JSON.parse(JSON.stringify(spec)) as ArchSpec;
  const stem = out.nodes.find((n) => n.id === 'c1');
  if (!stem) throw new Error(`${spec.name} has no stem convolution c1`);
  if (stem.stride === stride) return out;
  stem.stride = stride;
  const suffix = ' (full-resolution stem)';
  out.name = stride === 1 ? `${out.name}${suffix}` : out.name.replace(suffix, '');
  return out;
}

/**
 * `spec` with every width multiplied by `multiplier` (its `widthMultiplier` set to it): a wider
 * network of the same topology, for teachers and experiments (the shipped variants use 1; 2
 * gives about 4x the parameters and MACs). The name says so, so exported models and
 * checkpoints record it.
 */
/** A usable width multiplier: a finite number in (0, 8]. */
export const isWidthMultiplier = (v: number): boolean => Number.isFinite(v) && v > 0 && v <= 8;

export function withWidth(spec: ArchSpec, multiplier: number): ArchSpec {
  if (!isWidthMultiplier(multiplier)) throw new Error(`Width multiplier must be a number in (0, 8] (got ${multiplier})`);
  const out = JSON.parse(JSON.stringify(spec)) as ArchSpec;
  const base = out.name.replace(/ \(width x[0-9.]+\)/, '');
  out.widthMultiplier = multiplier;
  out.name = multiplier === 1 ? base : `${base} (width x${multiplier})`;
  return out;
}

/**
 * The part of a spec that decides the weights' names and shapes (everything but the name and the
 * strides): two specs with the same layout can load each other's weights.
 */
export function weightLayout(spec: ArchSpec): string {
  return JSON.stringify({ ...spec, name: '', nodes: spec.nodes.map((n) => ({ ...n, stride: 0 })) });
}

export interface ResolvedNode extends ConvNode {
  /** Channels actually used (after the width multiplier). */
  outChannels: number;
  inChannels: number;
  kernel: 1 | 3;
  /** Spatial size of the output (square). */
  outSize: number;
  inSize: number;
}

export interface ResolvedSpec {
  spec: ArchSpec;
  nodes: ResolvedNode[];
  /** Channels of the head merge (= dense input). */
  headChannels: number;
  headSize: number;
}

/** Computes channels and sizes of every node; validates the merges. */
export function resolveSpec(spec: ArchSpec): ResolvedSpec {
  if (spec.version !== 1) throw new Error(`Unsupported architecture spec version ${String(spec.version)}`);
  // A size the input faces can have (a string "48" would refuse every 48x48 face as "not 48x48").
  if (!Number.isInteger(spec.inputSize) || spec.inputSize < 1) throw new Error(`Architecture spec: inputSize must be a whole number >= 1, got ${JSON.stringify(spec.inputSize)}`);
  const mult = spec.widthMultiplier;
  const info = new Map<string, { ch: number; size: number }>();
  info.set('input', { ch: 1, size: spec.inputSize });
  const merged = (ids: string[], where: string): { ch: number; size: number } => {
    const parts = ids.map((id) => {
      const v = info.get(id);
      if (!v) throw new Error(`Architecture spec: ${where} uses "${id}" before it is defined`);
      return v;
    });
    const size = parts[0].size;
    if (parts.some((q) => q.size !== size)) throw new Error(`Architecture spec: ${where} merges tensors of different sizes`);
    if (spec.merge === 'add') {
      if (parts.some((q) => q.ch !== parts[0].ch)) throw new Error(`Architecture spec: ${where} adds tensors of different widths (${parts.map((q) => q.ch).join(', ')})`);
      return { ch: parts[0].ch, size };
    }
    return { ch: parts.reduce((s, q) => s + q.ch, 0), size };
  };
  const nodes: ResolvedNode[] = [];
  for (const n of spec.nodes) {
    if (info.has(n.id)) throw new Error(`Architecture spec: duplicate node id "${n.id}"`);
    const inp = merged(n.inputs, n.id);
    const out = Math.max(4, Math.round(n.width * mult));
    const outSize = Math.ceil(inp.size / n.stride);
    nodes.push({ ...n, outChannels: out, inChannels: inp.ch, kernel: n.kind === 'conv' ? 3 : 1, outSize, inSize: inp.size });
    info.set(n.id, { ch: out, size: outSize });
  }
  const head = merged(spec.head, 'head');
  return { spec, nodes, headChannels: head.ch, headSize: head.size };
}

export interface CostReport {
  /** Trainable parameters of the inference graph (folded convs with bias + dense). */
  params: number;
  /** Multiply-accumulates per face (convs + dense; merges and pooling not counted). */
  macs: number;
}

export function countCost(spec: ArchSpec, numClasses: number): CostReport {
  const r = resolveSpec(spec);
  let params = 0;
  let macs = 0;
  for (const n of r.nodes) {
    const w = n.kernel * n.kernel * n.inChannels * n.outChannels;
    params += w + n.outChannels;
    macs += w * n.outSize * n.outSize;
  }
  params += r.headChannels * numClasses + numClasses;
  macs += r.headChannels * numClasses;
  return { params, macs };
}
