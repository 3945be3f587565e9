/**
 * A tiny model for WorkerPool tests (test/core/worker-pool.test.ts): answers `{ v }` with `{ v }`,
 * `{ fn: true }` with a result that cannot be sent back (it holds a function), and `{ crash: true }`
 * by throwing a value that is no Error outside the job (the worker dies); with `wait`, it answers
 * after that many milliseconds (so that later jobs wait for it).
 */
import { serveWorker } from '../../src/worker-pool';

serveWorker<Record<string, never>, { ok: true }, { v?: unknown; fn?: boolean; crash?: boolean; wait?: number }, unknown>(async () => ({
  info: { ok: true },
  handle: async (req) => {
    if (req.wait) await new Promise((r) => setTimeout(r, req.wait));
    if (req.crash)
      setImmediate(() => {
        throw { reason: 'crash' };
      });
    return req.crash ? new Promise(() => undefined) : req.fn ? { f: () => 1 } : { v: req.v };
  },
}));
