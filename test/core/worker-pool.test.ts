import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import { Logger } from '../../src/log';
import { WorkerPool } from '../../src/worker-pool';

type Req = { v?: unknown; fn?: boolean; crash?: boolean; wait?: number };
const echoPool = (logger: Logger) =>
  WorkerPool.create<Record<string, never>, { ok: true }, Req, unknown>({ script: path.join(__dirname, '../helpers/echo-worker'), threads: 1, maxThreads: 8, init: {}, logger, what: 'echo', task: 'echo' });
const recording = (into: string[]): Logger => ({ debug: () => undefined, info: () => undefined, warn: (m) => into.push(m), error: (m) => into.push(m) });
/** `p`, or a rejection if it has not settled within `ms` (a job that waits for ever fails the test instead of hanging it). */
const within = <T>(p: Promise<T>, ms = 10000): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
};

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

test('a waiting job holds what run() was given: the caller changing its buffer meanwhile does not change the job', async () => {
  const pool = await echoPool(recording([]));
  try {
    const busy = pool.run({ wait: 200, v: 0 }); // the one worker is busy: the next job waits
    const bytes = Uint8Array.of(1, 2, 3);
    const copied = pool.run({ v: bytes });
    bytes.fill(0); // the caller reuses its buffer while the job waits
    assert.deepEqual(await within(busy), { v: 0 });
    assert.deepEqual(await within(copied), { v: Uint8Array.of(1, 2, 3) }, 'copied when run() was called');
  } finally {
    pool.dispose();
  }
});

test('a buffer moved by two waiting jobs: the second fails at once with an error saying so (postMessage would drop it silently: a job waiting for ever)', async () => {
  const warnings: string[] = [];
  const pool = await echoPool(recording(warnings));
  try {
    const busy = pool.run({ wait: 200, v: 0 });
    const buf = Uint8Array.of(4, 5, 6).buffer;
    const view = new Uint8Array(buf);
    const first = pool.run({ v: view }, [buf]);
    const second = within(pool.run({ v: view }, [buf])).then(() => 'answered', (e: Error) => String(e));
    assert.deepEqual(await within(busy), { v: 0 });
    assert.deepEqual(await within(first), { v: Uint8Array.of(4, 5, 6) });
    assert.match(await second, /^Error: echo failed: a buffer to transfer was already moved to another thread/);
    assert.deepEqual(await within(pool.run({ v: 7 })), { v: 7 }, 'the worker takes the next job');
    assert.deepEqual(warnings, []);
  } finally {
    pool.dispose();
  }
});
