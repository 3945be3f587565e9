import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { tf } from '../../src/backend';
import { ClassifierPool, EmotionClassifier, GrayImage, loadClassifier, loadClassifierPool, setClassifierLoader } from '../../src/classify';
import { silentLogger } from '../../src/log';
import { kWorkers } from '../../src/worker-pool';

const ROOT = path.resolve(__dirname, '../..');
const noModel = fs.existsSync(path.join(ROOT, 'models', 'nano-b-wild', 'model.json')) ? false : 'shipped weights not installed: nano-b-wild';

/** Gray 48x48 faces that differ from each other (so do their classifications). */
const faces = (n: number, offset = 0): GrayImage[] =>
  Array.from({ length: n }, (_, k) => ({ width: 48, height: 48, data: Uint8Array.from({ length: 48 * 48 }, (_, i) => (i * (k + offset + 3) + (i >> 4) * (k + offset)) % 256) }));

const until = async (cond: () => boolean, what: string, ms = 30000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) assert.fail(what);
    await new Promise((r) => setTimeout(r, 5));
  }
};

let pool: ClassifierPool;
let here: EmotionClassifier;

before(async () => {
  if (noModel) return;
  pool = await loadClassifierPool({ model: 'nano-b-wild', threads: 2, logger: silentLogger });
  here = await loadClassifier({ model: 'nano-b-wild', logger: silentLogger });
});
after(() => {
  pool?.dispose();
  here?.dispose();
});

test('two worker threads: the model of this thread, its description, and its results for batches run at once', { skip: noModel }, async () => {
  for (const k of ['name', 'classes', 'tta', 'executor', 'cost', 'inputSize', 'framing'] as const) assert.deepEqual(pool[k], here[k], k);
  assert.equal(pool.threads, 2);
  assert.equal(pool.liveThreads, 2);
  assert.equal(pool.backend.name, 'wasm');
  assert.match(pool.backend.reason, /in 2 worker threads/);
  const tensors = tf.memory().numTensors;
  const batches = [faces(5), faces(1, 7), faces(33, 2), faces(3, 9)];
  const got = await Promise.all(batches.map((b) => pool.classify(b)));
  for (let i = 0; i < batches.length; i++) {
    const want = await here.classify(batches[i]);
    assert.equal(got[i].length, batches[i].length);
    got[i].forEach((r, j) => {
      assert.equal(r.label, want[j].label);
      for (const c of here.classes) assert.ok(Math.abs(r.probabilities[c] - want[j].probabilities[c]) <= 1e-6, `${i}/${j} ${c}`);
    });
  }
  assert.ok(new Set(got.flat().map((r) => r.label)).size >= 2, 'the faces are told apart');
  assert.equal(tf.memory().numTensors, tensors, 'no tensor in this thread');
  // The caller's images are copied, not moved: they stay usable.
  assert.equal(batches[0][0].data.length, 48 * 48);
});

test('mirror averaging in the workers: the results of mirror averaging here', { skip: noModel }, async () => {
  const flip = await loadClassifier({ model: 'nano-b-wild', tta: 'flip', threads: 1, logger: silentLogger });
  const flipHere = await loadClassifier({ model: 'nano-b-wild', tta: 'flip', logger: silentLogger });
  try {
    assert.ok(flip instanceof ClassifierPool);
    assert.equal(flip.tta, 'flip');
    const [a, b] = [await flip.classify(faces(4)), await flipHere.classify(faces(4))];
    a.forEach((r, j) => assert.ok(Math.abs(r.confidence - b[j].confidence) <= 1e-6));
  } finally {
    flip.dispose();
    flipHere.dispose();
  }
});

test('bad input: the TypeError of the model in this thread, and the pool keeps working', { skip: noModel }, async () => {
  const cases: unknown[] = [[], [{ width: 48, height: 48, data: new Uint8Array(10) }], 'faces', [{ width: 48, height: 48, data: [1, 2, 3] }]];
  for (const bad of cases) {
    const inHere = await here.classify(bad as GrayImage[]).then(() => null, (e: Error) => e);
    assert.ok(inHere instanceof TypeError, `the model here rejects ${JSON.stringify(bad)}`);
    await assert.rejects(pool.classify(bad as GrayImage[]), (e: unknown) => e instanceof TypeError && e.message === inHere.message);
  }
  // A value that cannot be sent to a thread (a function): an error for that batch, the worker stays free.
  const odd = [{ width: 48, height: 48, data: Array.from({ length: 48 * 48 }, () => 0), note: () => 'x' }];
  await assert.rejects(pool.classify(odd as never), /classification failed: .*could not be cloned/);
  assert.equal((await Promise.all([pool.classify(faces(2)), pool.classify(faces(1)), pool.classify(faces(3))])).map((r) => r.length).join(), '2,1,3');
});

test('a batch that waits for a worker is copied when classify() is called: faces given as number arrays and changed afterwards are classified as given', { skip: noModel }, async () => {
  const [face] = faces(1, 5);
  const asNumbers = { width: 48, height: 48, data: Array.from(face.data) };
  const busy = [pool.classify(faces(4)), pool.classify(faces(4))]; // both workers: the next batch waits
  const waiting = pool.classify([asNumbers]);
  asNumbers.data.fill(0); // the caller reuses its array
  await Promise.all(busy);
  const [got] = await waiting;
  const [want] = await here.classify([face]);
  assert.equal(got.label, want.label);
  for (const c of here.classes) assert.ok(Math.abs(got.probabilities[c] - want.probabilities[c]) <= 1e-6, c);
});

test('options: threads are checked before any worker starts; a bad model or tta rejects, naming it', async () => {
  for (const threads of [9, 1.5, -1]) await assert.rejects(loadClassifierPool({ threads }), /`threads` to be an integer in 0..8/);
  await assert.rejects(loadClassifierPool({ threads: 0 }), /in 1..8 for a pool, got `0` \(0 means no worker threads/);
  await assert.rejects(loadClassifier({ model: 'nano-x', threads: 1, logger: silentLogger }), /nano-x/);
  await assert.rejects(loadClassifier({ model: 'nano-b-wild', tta: 'sideways' as never, threads: 1, logger: silentLogger }), (e: unknown) => e instanceof TypeError && /tta/.test((e as Error).message));
});

test('loadClassifier({ threads }) loads the model in the workers, not through a loader set in this thread', { skip: noModel }, async () => {
  let calls = 0;
  setClassifierLoader(async () => {
    calls++;
    return here;
  });
  try {
    const p = await loadClassifier({ model: 'nano-b-wild', threads: 1, logger: silentLogger });
    p.dispose();
    assert.ok(p instanceof ClassifierPool);
    assert.equal(await loadClassifier({ model: 'nano-b-wild', threads: 0 }), here, 'threads 0: the loader');
    assert.equal(calls, 1);
  } finally {
    setClassifierLoader(null);
  }
});

test('a bounded backlog: with one worker busy, 64 batches wait and the next is refused', { skip: noModel }, async () => {
  const p = await loadClassifierPool({ model: 'nano-b-wild', threads: 1, logger: silentLogger });
  try {
    const jobs = Array.from({ length: 65 }, (_, i) => p.classify(faces(1, i)));
    await assert.rejects(p.classify(faces(1)), /emotion classifier backlog is full \(64 batches wait for 1 worker thread\)/);
    assert.equal((await Promise.all(jobs)).length, 65, 'the 65 accepted batches are classified');
  } finally {
    p.dispose();
  }
});

test('a worker that dies fails its batch and is replaced; after 3 replacements the pool reports its failure', { skip: noModel }, async () => {
  const warnings: string[] = [];
  const p = await loadClassifierPool({ model: 'nano-b-wild', threads: 1, logger: { ...silentLogger, warn: (m) => warnings.push(m) } });
  try {
    for (let k = 0; k < 4; k++) {
      await until(() => p.liveThreads === 1, `worker ${k} loaded`);
      // The worker is stopped before the batch is sent to it, in the same synchronous run: it can
      // never answer, so the batch fails whatever the timing. (Stopping it after the batch was
      // sent let a worker that got a few ms of CPU first classify the 2 faces and answer: the
      // batch resolved, and the waiting one went to the dying worker.) The pool still sees a
      // loaded worker until its 'exit' event, so it sends the batch to it, as to a worker that
      // dies mid-batch.
      const stopped = p[kWorkers]()[0].terminate();
      const pending = p.classify(faces(2));
      const waiting = p.classify(faces(1));
      await stopped;
      await assert.rejects(pending, /classification failed: emotion classifier worker stopped/);
      if (k < 3) assert.equal((await waiting).length, 1, 'a waiting batch runs on the replacement');
      else await assert.rejects(waiting, /classification is not available: every worker thread stopped/);
    }
    assert.match(p.failure?.message ?? '', /every worker thread stopped/);
    await assert.rejects(p.classify(faces(1)), /classification is not available/);
    assert.equal(warnings.filter((w) => /emotion classifier worker thread died/.test(w)).length, 4);
  } finally {
    p.dispose();
  }
});

test('aborted while the workers load: they are stopped at once and the load rejects with the reason', { skip: noModel }, async () => {
  const { Worker } = require('worker_threads');
  const terminate = Worker.prototype.terminate;
  const started = new Set<unknown>();
  let terminated = 0;
  Worker.prototype.terminate = function (this: unknown) {
    terminated++;
    return terminate.call(this);
  };
  const on = Worker.prototype.on;
  Worker.prototype.on = function (this: unknown, ev: string, fn: (...a: unknown[]) => void) {
    if (ev === 'exit') started.add(this);
    return on.call(this, ev, fn);
  };
  try {
    const why = new Error('node closed');
    const ac = new AbortController();
    const loading = loadClassifier({ model: 'nano-b-wild', threads: 2, signal: ac.signal, logger: silentLogger });
    ac.abort(why);
    await assert.rejects(loading, (e: unknown) => e === why, 'the reason itself, not a load failure');
    assert.equal(started.size, 2);
    assert.equal(terminated, 2, 'both workers stopped before they finished loading');
    // Aborted before the call: no worker starts.
    await assert.rejects(loadClassifierPool({ model: 'nano-b-wild', threads: 1, signal: AbortSignal.abort(why) }), (e: unknown) => e === why);
    assert.equal(started.size, 2);
  } finally {
    Worker.prototype.terminate = terminate;
    Worker.prototype.on = on;
  }
});

test('dispose rejects waiting and running batches and stops every worker', { skip: noModel }, async () => {
  const p = await loadClassifierPool({ model: 'nano-b-wild', threads: 1, logger: silentLogger });
  const exited = p[kWorkers]().map((w) => new Promise((r) => w.once('exit', r)));
  const jobs = [p.classify(faces(8)), p.classify(faces(8)), p.classify(faces(8))];
  p.dispose();
  p.dispose(); // idempotent
  for (const j of jobs) await assert.rejects(j, /disposed/);
  await Promise.all(exited);
  await assert.rejects(p.classify(faces(1)), /disposed/);
});
