/**
 * Worker-thread entry of {@link GradientWorkers}: sets up its own backend, then answers
 * `{ id, weights, batch, heads }` messages with the shard's gradients (see batchGradients).
 */
import { parentPort, workerData } from 'worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { selectBackend } from '../backend';
import { silentLogger } from '../log';
import { resolveSpec, ArchSpec } from '../model/spec';
import { isMovingStat, NamedArrays } from '../model/io';
import { registerWasmGradientKernels } from './kernels';
import { BatchArrays, batchGradients, HeadWeights, variableKeys } from './fer-trainer';


async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('fer-worker must run in a worker thread');
  const { spec, backend } = workerData as { spec: ArchSpec; backend: string };
  try {
    await selectBackend({ backend, logger: silentLogger });
    registerWasmGradientKernels();
  } catch (e) {
    port.postMessage({ error: e instanceof Error ? e.message : String(e) });
    return;
  }
  const r = resolveSpec(spec);
  let model: Record<string, tf.Variable> | null = null;
  let keyOf: Map<string, string> = new Map();
  port.on('message', async (m: { id: number; weights: NamedArrays; batch: BatchArrays; heads: HeadWeights }) => {
    try {
      if (!model) {
        model = {};
        for (const [n, a] of Object.entries(m.weights)) model[n] = tf.variable(tf.tensor(a.data, a.shape), !isMovingStat(n));
        const params: Record<string, tf.Variable> = {};
        for (const [n, v] of Object.entries(model)) if (!isMovingStat(n)) params[n] = v;
        keyOf = variableKeys(params);
      } else {
        for (const [n, a] of Object.entries(m.weights)) {
          const t = tf.tensor(a.data, a.shape);
          model[n].assign(t);
          t.dispose();
        }
      }
      const res = await batchGradients(r, model, keyOf, m.batch, m.heads);
      port.postMessage({ id: m.id, ok: true, res });
    } catch (e) {
      port.postMessage({ id: m.id, ok: false, error: e instanceof Error ? e.message : String(e) });
    }
  });
  port.postMessage({ ready: true });
}

void main();
