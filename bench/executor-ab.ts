#!/usr/bin/env node
/**
 * Direct vs graph executor of the classifier, interleaved in one process (A/B/A/B), so that the
 * machine's load hits both alike: the ratio is the figure, not the absolute times.
 *
 *   node --import tsx bench/executor-ab.ts [--rounds 400] [--models nano-a,nano-b] [--tta flip] [--json]
 *   (or, after npm run build: node dist/bench/executor-ab.js ...)
 *
 * For each model (shipped weights, else random ones of the same architecture) and batch size
 * (1 and 16 faces), both executors are loaded on the wasm backend, warmed up, then called in
 * alternating pairs (the order flips every pair) through the public classify(): per executor the
 * median and p10 ms per call and faces/s, `speedup` = graph median / direct median, and
 * `pairedSpeedup` = the median of graph/direct over the pairs (robust to slow drifts of load).
 * `maxDiff` is the largest probability difference between the two executors on the batch.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { selectBackend } from '../src/backend';
import { UsageError } from '../src/cli/args';
import { silentLogger } from '../src/log';
import { EmotionClassifier, listModels, load, resolveTta } from '../src/model';
import { faces, randomModel } from './stages/classify';
import { median, percentile, round } from './harness';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] && !process.argv[i + 1].startsWith('--') ? process.argv[i + 1] : fallback;
}

async function timed(clf: EmotionClassifier, batch: ReturnType<typeof faces>): Promise<number> {
  const t0 = performance.now();
  await clf.classify(batch);
  return performance.now() - t0;
}

async function compare(direct: EmotionClassifier, graph: EmotionClassifier, n: number, rounds: number) {
  const batch = faces(n);
  const [a, b] = [await direct.classify(batch), await graph.classify(batch)];
  let maxDiff = 0;
  a.forEach((r, i) => Object.entries(r.probabilities).forEach(([c, p]) => (maxDiff = Math.max(maxDiff, Math.abs(p - b[i].probabilities[c])))));
  for (let i = 0; i < 10; i++) {
    await direct.classify(batch);
    await graph.classify(batch);
  }
  const d: number[] = [];
  const g: number[] = [];
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      d.push(await timed(direct, batch));
      g.push(await timed(graph, batch));
    } else {
      g.push(await timed(graph, batch));
      d.push(await timed(direct, batch));
    }
  }
  const row = (xs: number[]) => ({ medianMs: round(median(xs), 3), p10Ms: round(percentile(xs, 10), 3), facesPerSec: round((1000 * n) / median(xs), 1) });
  return {
    faces: n,
    pairs: rounds,
    direct: row(d),
    graph: row(g),
    speedup: round(median(g) / median(d), 3),
    pairedSpeedup: round(median(g.map((x, i) => x / d[i])), 3),
    maxDiff,
  };
}

async function main(): Promise<void> {
  const rounds = Number(arg('rounds', '400'));
  // As the other benches' whole-number options: "abc" ran no rounds and printed NaN figures.
  if (!Number.isInteger(rounds) || rounds < 1) throw new UsageError(`--rounds must be a whole number >= 1 (got "${arg('rounds', '')}")`);
  const tta = resolveTta(arg('tta', 'none'));
  const models = arg('models', 'nano-a,nano-b').split(',');
  const backend = await selectBackend({ backend: 'wasm', logger: silentLogger });
  if (backend.name !== 'wasm') throw new Error(`needs the wasm backend (active: ${backend.label})`);
  const shipped = new Map(listModels().map((m) => [m.id, m.available]));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'executor-ab-'));
  const out: Record<string, unknown> = { backend: backend.label, threads: 1, tta, loadBefore: os.loadavg().map((l) => round(l, 2)) };
  try {
    for (const m of models) {
      const src = shipped.get(m) ? m : await randomModel(m, tmp);
      const direct = await load({ model: src, backend: 'wasm', tta, logger: silentLogger });
      const graph = await load({ model: src, backend: 'wasm', tta, executor: 'graph', logger: silentLogger });
      try {
        if (direct.executor !== 'direct') throw new Error(`${m}: the direct executor is not available here (${direct.executor})`);
        const rows = [];
        for (const n of [1, 16]) {
          process.stderr.write(`[executor-ab] ${m} batch ${n}\n`);
          rows.push(await compare(direct, graph, n, n === 1 ? rounds : Math.max(10, Math.round(rounds / 5))));
        }
        out[m] = { weights: shipped.get(m) ? 'shipped' : 'random', rows };
      } finally {
        direct.dispose();
        graph.dispose();
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  out.loadAfter = os.loadavg().map((l) => round(l, 2));
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(out, null, 1));
    return;
  }
  console.log(`classifier executors, wasm, one thread, tta ${tta}; load ${JSON.stringify(out.loadBefore)} → ${JSON.stringify(out.loadAfter)}`);
  for (const m of models) {
    for (const r of (out[m] as { rows: Awaited<ReturnType<typeof compare>>[] }).rows) {
      console.log(
        `${m.padEnd(8)} ${String(r.faces).padStart(2)} face(s): direct ${r.direct.medianMs} ms (${r.direct.facesPerSec} faces/s), graph ${r.graph.medianMs} ms (${r.graph.facesPerSec} faces/s); ` +
          `speedup ${r.speedup}x (paired ${r.pairedSpeedup}x, ${r.pairs} pairs), max diff ${r.maxDiff.toExponential(1)}`,
      );
    }
  }
}

main().catch((e) => {
  if (e instanceof UsageError) {
    process.stderr.write(`executor-ab: ${e.message}\n`);
    process.exit(2);
  }
  console.error(e);
  process.exit(1);
});
