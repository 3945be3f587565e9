import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import { Logger } from '../../src/log';
import { WorkerPool } from '../../src/worker-pool';

type Req = { v?: number; fn?: boolean; crash?: boolean };
const echoPool = (logger: Logger) =>
  WorkerPool.create<Record<string, never>, { ok: true }, Req, unknown>({ script: path.join(__dirname, '../helpers/echo-worker'), threads: 1, maxThreads: 8, init: {}, logger, what: 'echo', task: 'echo' });
const recording = (into: string[]): Logger => ({ debug: () => undefined, info: () => undefined, warn: (m) => into.push(m), error: (m) => into.push(m) });

test('a result the worker cannot send back fails its job; the worker stays alive and takes the next', async () => {
  const warnings: string[] = [];
  const pool = await echoPool(recording(warnings));
  try {
    assert.deepEqual(await pool.run({ v: 1 }), { v: 1 });
    await assert.rejects(pool.run({ fn: true }), (e: Error) => /could not be cloned/.test(e.message) && !/worker stopped/.test(e.message));
    assert.deepEqual(await pool.run({ v: 2 }), { v: 2 });
    assert.deepEqual(warnings, [], 'no worker died');
    assert.equal(pool.liveThreads, 1);
  } finally {
    pool.dispose();
  }
});

test('a worker that dies of a value that is no Error: its job and the warning say so (not "undefined"), and it is replaced', async () => {
  const warnings: string[] = [];
  const pool = await echoPool(recording(warnings));
  try {
    await assert.rejects(pool.run({ crash: true }), (e: Error) => /^echo failed: uncaught \{"reason":"crash"\}$/.test(e.message));
    assert.ok(warnings.length === 1 && /echo worker thread died \(uncaught/.test(warnings[0]), JSON.stringify(warnings));
    assert.deepEqual(await pool.run({ v: 3 }), { v: 3 }, 'the replacement answers');
  } finally {
    pool.dispose();
  }
});
