/**
 * Data-parallel gradient workers for {@link trainFer}: `worker_threads`, each with its own
 * TensorFlow.js backend (wasm by default), computing the gradients of one shard of every batch
 * while the main thread computes another. The main thread sends the current parameters and
 * moving statistics (~0.6 MB for Nano-B) with each shard, so workers hold no state between
 * steps and a checkpoint never depends on them.
 *
 * Use it when cores are free (e.g. `--workers 2` on a 2-core machine with nothing else
 * running); on a busy machine it only adds contention.
 */
import * as path from 'path';
import { Worker } from 'worker_threads';
import type { ArchSpec } from '../model/spec';
import type { NamedArrays } from '../model/io';
import type { BatchArrays, GradResult, HeadWeights } from './fer-trainer';

interface Pending {
  resolve: (r: GradResult) => void;
  reject: (e: Error) => void;
}

/** The worker entry next to this file (`.ts` under tsx, `.js` when compiled). */
export function workerEntry(): string {
  return path.join(__dirname, `fer-worker${path.extname(__filename) || '.js'}`);
}

export class GradientWorkers {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();

  private constructor(private readonly workers: Worker[]) {
    for (const w of workers) {
      w.on('message', (m: { id: number; ok: boolean; res?: GradResult; error?: string }) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.ok && m.res) p.resolve(m.res);
        else p.reject(new Error(`gradient worker: ${m.error ?? 'unknown error'}`));
      });
      w.on('error', (e) => this.failAll(e));
      w.on('exit', (code) => {
        if (code !== 0) this.failAll(new Error(`gradient worker exited with code ${code}`));
      });
    }
  }

  /** Number of shards per batch: the workers plus the main thread. */
  get size(): number {
    return this.workers.length + 1;
  }

  /** Starts `count` workers and waits until each has its backend ready. */
  static async start(count: number, spec: ArchSpec, backend: string): Promise<GradientWorkers> {
    const entry = workerEntry();
    // Under tsx (tests, `node --import tsx`) the TypeScript entry is loaded through tsx's
    // CommonJS hook (a worker's main script must otherwise be .js).
    const ws = Array.from({ length: count }, () =>
      entry.endsWith('.ts')
        ? new Worker(`require('tsx/cjs'); require(${JSON.stringify(entry)});`, { eval: true, workerData: { spec, backend } })
        : new Worker(entry, { workerData: { spec, backend } }),
    );
    try {
      await Promise.all(
        ws.map(
          (w) =>
            new Promise<void>((resolve, reject) => {
              const onMsg = (m: { ready?: boolean; error?: string }) => {
                if (m.ready) {
                  w.off('message', onMsg);
                  resolve();
                } else if (m.error) reject(new Error(`gradient worker failed to start: ${m.error}`));
              };
              w.on('message', onMsg);
              w.once('error', reject);
            }),
        ),
      );
    } catch (e) {
      await Promise.all(ws.map((w) => w.terminate()));
      throw e;
    }
    return new GradientWorkers(ws);
  }

  /**
   * Gradients of every shard: shards[0] on the main thread through `local`, the others on the
   * workers (sent first, so they run while the main thread computes).
   */
  async compute(weights: NamedArrays, shards: BatchArrays[], heads: HeadWeights, local: (b: BatchArrays) => Promise<GradResult>): Promise<GradResult[]> {
    const remote = shards.slice(1).map((b, i) => {
      const id = ++this.seq;
      return new Promise<GradResult>((resolve, reject) => {
        this.pending.set(id, { resolve, reject });
        this.workers[i % this.workers.length].postMessage({ id, weights, batch: b, heads });
      });
    });
    const mine = await local(shards[0]);
    return [mine, ...(await Promise.all(remote))];
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  async terminate(): Promise<void> {
    this.failAll(new Error('gradient workers terminated'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
