import { test } from 'node:test';
import assert from 'node:assert/strict';
import { from, lastValueFrom, Subject, toArray } from 'rxjs';
import { FlowControl, MAX_LATEST_SOURCES, overloadMap, OverloadError, QUEUE_SOURCES_IN_ALL, SourceDepths, StageQueue } from '../../src/overload';

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
/** After the `latest` start scheduled so far (setImmediate callbacks run in order). */
const turn = () => new Promise((r) => setImmediate(r));

test('StageQueue latest: keeps only the newest waiting item and counts drops', async () => {
  const seen: number[] = [];
  const dropped: number[] = [];
  let release!: () => void;
  const q = new StageQueue<number>(
    async (n) => {
      seen.push(n);
      if (n === 0) await new Promise<void>((r) => (release = r));
    },
    { policy: 'latest', onDrop: (n) => dropped.push(n) },
  );
  q.push(0);
  await turn(); // 0 starts on the next turn and blocks
  for (let i = 1; i < 5; i++) q.push(i);
  assert.equal(q.stats.busy, true);
  assert.equal(q.depth, 1);
  release();
  await q.idle();
  assert.deepEqual(seen, [0, 4]);
  assert.deepEqual(dropped, [1, 2, 3]);
  assert.equal(q.stats.dropped, 3);
  assert.equal(q.stats.processed, 2);
});

// Node-RED delivers each message in a turn of the event loop of its own (setImmediate), and a
// stage whose work is synchronous (wasm) finishes within that turn's microtasks. Started at once,
// such a stage never saw two items waiting and never dropped one: the backlog grew upstream,
// in the video pipe, without a count (3 sources x 25 fps fell 6 s behind in 35 s).
test('StageQueue latest: items delivered in separate turns of one loop iteration (as Node-RED does) coalesce to the newest, even with synchronous work', async () => {
  const seen: number[] = [];
  const dropped: number[] = [];
  const q = new StageQueue<number>(async (n) => void seen.push(n), { policy: 'latest', onDrop: (n) => dropped.push(n) });
  for (let i = 0; i < 4; i++) setImmediate(() => q.push(i));
  // After the four pushes (immediates run in order), so idle() waits for the start they scheduled.
  // A 5 ms timer here could fire first (a timer's clock starts at the loop iteration's cached time,
  // and a busy machine delays the next iteration): idle() ran before any push, with nothing seen.
  await turn();
  await q.idle();
  assert.deepEqual(seen, [3]);
  assert.deepEqual(dropped, [0, 1, 2]);
});

test('StageQueue latest with a key: one waiting item per source, in its place; sources take turns, none is starved', async () => {
  const seen: string[] = [];
  const dropped: string[] = [];
  let release!: () => void;
  const q = new StageQueue<string>(
    async (item) => {
      seen.push(item);
      if (item === 'a0') await new Promise<void>((r) => (release = r));
    },
    { policy: 'latest', key: (item) => item[0], onDrop: (item) => dropped.push(item) },
  );
  q.push('a0');
  await turn(); // a0 runs and blocks
  // a busy source a and a slower source b: without keys, a's frames superseded b's every time
  for (const item of ['b1', 'a1', 'a2', 'c1', 'a3', 'b2']) q.push(item);
  assert.equal(q.depth, 3);
  release();
  await q.idle();
  assert.deepEqual(seen, ['a0', 'b2', 'a3', 'c1']);
  assert.deepEqual(dropped, ['a1', 'a2', 'b1']);
});

test('StageQueue latest: at most MAX_LATEST_SOURCES sources wait; beyond that the oldest is dropped', async () => {
  let release!: () => void;
  const dropped: number[] = [];
  const q = new StageQueue<number>(() => new Promise<void>((r) => (release = r)), { policy: 'latest', key: (n) => `s${n}`, onDrop: (n) => dropped.push(n) });
  q.push(-1);
  await turn();
  for (let i = 0; i < MAX_LATEST_SOURCES + 2; i++) q.push(i);
  assert.equal(q.depth, MAX_LATEST_SOURCES);
  assert.deepEqual(dropped, [0, 1]);
  const closing = q.close();
  release();
  await closing;
});

test('StageQueue queue: lossless in order, bounded, full queue throws OverloadError', async () => {
  const seen: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const q = new StageQueue<number>(
    async (n) => {
      await gate;
      seen.push(n);
    },
    { policy: 'queue', capacity: 3 },
  );
  q.push(0); // running
  q.push(1);
  q.push(2);
  q.push(3);
  assert.throws(() => q.push(4), OverloadError);
  assert.equal(q.stats.rejected, 1);
  release();
  await q.idle();
  assert.deepEqual(seen, [0, 1, 2, 3]);
});

test('StageQueue queue with a key: the capacity is per source (each pauses on its own depth), bounded in all', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const seen: string[] = [];
  const q = new StageQueue<string>(
    async (s) => {
      await gate;
      seen.push(s);
    },
    { policy: 'queue', capacity: 3, key: (s) => s[0] },
  );
  for (const s of ['a0', 'a1', 'a2', 'a3']) q.push(s); // a0 runs, 3 of source a wait
  assert.throws(() => q.push('a4'), OverloadError, "source a's share is full");
  // Source b paces itself on its own depth (FlowControl): its frames are not refused because of a's.
  for (const s of ['b1', 'b2', 'b3']) q.push(s);
  assert.throws(() => q.push('b4'), OverloadError);
  assert.equal(q.stats.rejected, 2);
  release();
  await q.idle();
  assert.deepEqual(seen, ['a0', 'a1', 'a2', 'a3', 'b1', 'b2', 'b3']);

  // However many source ids: at most QUEUE_SOURCES_IN_ALL x capacity wait (16 x 8 = 128 frames
  // by default: with 32 sources' worth, 512 frames of 640x480, about 450 MB, could wait).
  const held = new Promise<void>(() => undefined);
  const many = new StageQueue<string>(() => held, { policy: 'queue', capacity: 2, key: (s) => s[0] });
  many.push('running');
  for (let i = 0; i < QUEUE_SOURCES_IN_ALL; i++) for (const n of [1, 2]) many.push(`${String.fromCharCode(97 + i)}${n}`);
  assert.equal(many.depth, 2 * QUEUE_SOURCES_IN_ALL);
  assert.throws(() => many.push('z1'), (e: unknown) => e instanceof OverloadError && e.scope === 'all' && e.capacity === 2 * QUEUE_SOURCES_IN_ALL && /16 items waiting in all/.test(e.message));
  assert.throws(() => many.push('a3'), (e: unknown) => e instanceof OverloadError && e.scope === 'source' && e.capacity === 2);
});

test('StageQueue: a throwing worker does not stall the queue', async () => {
  const seen: number[] = [];
  const q = new StageQueue<number>(async (n) => {
    seen.push(n);
    if (n === 1) throw new Error('boom');
  }, { policy: 'queue' });
  [1, 2, 3].forEach((n) => q.push(n));
  await q.idle();
  assert.deepEqual(seen, [1, 2, 3]);
});

test('StageQueue: close discards waiting items through onDrop', async () => {
  const reasons: string[] = [];
  let release!: () => void;
  const q = new StageQueue<number>(() => new Promise<void>((r) => (release = r)), {
    policy: 'queue',
    onDrop: (_n, why) => reasons.push(why),
  });
  q.push(1);
  q.push(2);
  q.push(3);
  await tick();
  const closing = q.close();
  release();
  await closing;
  assert.deepEqual(reasons, ['closed', 'closed']);
  assert.throws(() => q.push(4), /closed/);
});

/** A worker whose items finish when the test says so. */
function gatedWorker<T>() {
  const running: T[] = [];
  const gates = new Map<T, () => void>();
  const order: T[] = [];
  const work = (v: T) =>
    new Promise<void>((r) => {
      running.push(v);
      order.push(v);
      gates.set(v, () => {
        running.splice(running.indexOf(v), 1);
        r();
      });
    });
  const finish = (v: T) => gates.get(v)!();
  return { running, order, work, finish };
}

test('StageQueue concurrency: items of different sources run at once, never two of one source', async () => {
  const w = gatedWorker<string>();
  const q = new StageQueue<string>(w.work, { policy: 'latest', concurrency: 2, key: (s) => s[0] });
  q.push('a1');
  await turn();
  q.push('a2');
  q.push('b1');
  q.push('c1');
  await turn();
  assert.deepEqual(w.running, ['a1', 'b1']); // a2 waits for a1 although a slot is free for it
  assert.equal(q.stats.running, 2);
  assert.equal(q.depth, 2);
  w.finish('b1');
  await turn();
  await turn();
  assert.deepEqual(w.running, ['a1', 'c1']); // a2 still waits for its own source
  w.finish('a1');
  await turn();
  await turn();
  assert.deepEqual(w.running, ['c1', 'a2']);
  w.finish('c1');
  w.finish('a2');
  await q.idle();
  assert.equal(q.stats.processed, 4);
  assert.equal(q.stats.dropped, 0);
  assert.equal(q.stats.busy, false);
});

test('StageQueue concurrency under latest: a source superseded while it runs keeps only its newest waiting item', async () => {
  const w = gatedWorker<string>();
  const dropped: string[] = [];
  const q = new StageQueue<string>(w.work, { policy: 'latest', concurrency: 3, key: (s) => s[0], onDrop: (s) => dropped.push(s) });
  q.push('a1');
  await turn();
  for (const s of ['a2', 'a3', 'a4']) q.push(s);
  await turn();
  assert.deepEqual(w.running, ['a1']); // free slots do not run a second item of source a
  w.finish('a1');
  await turn();
  await turn();
  assert.deepEqual(w.running, ['a4']);
  assert.deepEqual(dropped, ['a2', 'a3']);
  w.finish('a4');
  await q.idle();
});

test('StageQueue concurrency under queue: lossless, each source in order, sources overlap', async () => {
  const w = gatedWorker<string>();
  const q = new StageQueue<string>(w.work, { policy: 'queue', capacity: 8, concurrency: 2, key: (s) => s[0] });
  for (const s of ['a1', 'a2', 'b1', 'b2']) q.push(s);
  assert.equal(q.stats.running, 2); // queue starts at once (the worker is called in a microtask)
  await tick();
  assert.deepEqual(w.running, ['a1', 'b1']);
  w.finish('a1');
  await tick();
  assert.deepEqual(w.running, ['b1', 'a2']);
  w.finish('b1');
  await tick();
  w.finish('a2');
  await tick();
  w.finish('b2');
  await q.idle();
  assert.deepEqual(w.order, ['a1', 'b1', 'a2', 'b2']);
  assert.equal(q.stats.processed, 4);
});

test('StageQueue concurrency: close waits for every running item', async () => {
  const w = gatedWorker<string>();
  const closedDrops: string[] = [];
  const q = new StageQueue<string>(w.work, { policy: 'queue', concurrency: 2, key: (s) => s[0], onDrop: (s, why) => closedDrops.push(`${s}:${why}`) });
  for (const s of ['a1', 'b1', 'a2']) q.push(s);
  let closed = false;
  const c = q.close().then(() => (closed = true));
  await tick();
  assert.deepEqual(closedDrops, ['a2:closed']);
  w.finish('a1');
  await tick();
  assert.equal(closed, false, 'b1 still runs');
  w.finish('b1');
  await c;
  assert.equal(closed, true);
});

test('StageQueue rejects a bad policy or capacity with a TypeError', () => {
  assert.throws(() => new StageQueue(async () => {}, { policy: 'fast' as never }), TypeError);
  assert.throws(() => new StageQueue(async () => {}, { policy: 'queue', capacity: 0 }), TypeError);
  assert.throws(() => new StageQueue(async () => {}, { concurrency: 0 }), /concurrency/);
  assert.throws(() => new StageQueue(async () => {}, { concurrency: 1.5 }), /concurrency/);
  assert.throws(() => new StageQueue(async () => {}, { concurrency: 17 }), /concurrency/);
});

test('overloadMap queue: every value, in order, then completes', async () => {
  const out = await lastValueFrom(
    from([1, 2, 3, 4]).pipe(
      overloadMap(async (n) => {
        await tick(1);
        return n * 10;
      }, { policy: 'queue', capacity: 8 }),
      toArray(),
    ),
  );
  assert.deepEqual(out, [10, 20, 30, 40]);
});

test('overloadMap latest: a burst yields the last only (work starts on the next turn)', async () => {
  const src = new Subject<number>();
  const got: number[] = [];
  const done = new Promise<void>((resolve) =>
    src.pipe(overloadMap(async (n) => { await tick(5); return n; }, { policy: 'latest' })).subscribe({
      next: (v) => got.push(v),
      complete: resolve,
    }),
  );
  for (let i = 0; i < 10; i++) src.next(i);
  src.complete();
  await done;
  assert.deepEqual(got, [9]);
});

test('overloadMap: a failing project errors the stream', async () => {
  await assert.rejects(
    lastValueFrom(from([1, 2]).pipe(overloadMap(async () => { throw new Error('bad'); }))),
    /bad/,
  );
});

test('FlowControl reports what the stages hold together per source and forgets on release', () => {
  const fc = FlowControl.for('src-a');
  const seen: number[] = [];
  fc.pressure$.subscribe((d) => seen.push(d));
  fc.report('detect', 3);
  fc.report('classify', 5);
  // Together: the frames waiting at `detect` all reach `classify` after the source paused.
  assert.deepEqual([fc.depth, fc.maxDepth], [8, 5]);
  fc.report('classify', 0);
  fc.forget('detect');
  assert.deepEqual(seen, [3, 8, 3, 0]);
  assert.equal(FlowControl.for('src-a'), fc);
  FlowControl.release('src-a');
  assert.notEqual(FlowControl.for('src-a'), fc);
  FlowControl.release('src-a');
});

test('FlowControl drops an entry when every reporter is back at 0 and nobody listens (bounded registry)', () => {
  const before = FlowControl.size;
  for (let i = 0; i < 5000; i++) {
    const id = `burst-${i}`;
    FlowControl.for(id).report('stage-a', 3);
    FlowControl.for(id).report('stage-b', 1);
    FlowControl.for(id).report('stage-a', 0);
    FlowControl.for(id).forget('stage-b');
  }
  assert.equal(FlowControl.size, before);
  assert.equal(FlowControl.has('burst-0'), false);
  // An entry is kept while a stage still holds items of its source.
  FlowControl.for('held').report('stage-a', 2);
  assert.equal(FlowControl.has('held'), true);
  assert.equal(FlowControl.for('held').maxDepth, 2);
  FlowControl.for('held').report('stage-a', 0);
  assert.equal(FlowControl.has('held'), false);
});

test('FlowControl keeps a subscribed entry at depth 0 (a watching source sees the next burst), drops it on unsubscribe', () => {
  const fc = FlowControl.for('watched');
  const seen: number[] = [];
  const sub = fc.pressure$.subscribe((d) => seen.push(d));
  fc.report('stage', 9);
  fc.report('stage', 0);
  assert.equal(FlowControl.has('watched'), true);
  assert.equal(FlowControl.for('watched'), fc);
  // A stage that looks the entry up again reaches the same subscriber.
  FlowControl.for('watched').report('stage', 4);
  FlowControl.for('watched').forget('stage');
  assert.deepEqual(seen, [9, 0, 4, 0]);
  sub.unsubscribe();
  assert.equal(FlowControl.has('watched'), false);
  // Subscribing to an entry kept across a drop re-registers it (its id is free).
  const sub2 = fc.pressure$.subscribe((d) => seen.push(d));
  assert.equal(FlowControl.for('watched'), fc);
  FlowControl.for('watched').report('stage', 1);
  assert.deepEqual(seen.slice(-1), [1]);
  sub2.unsubscribe();
  assert.equal(FlowControl.has('watched'), true, 'still held by a stage');
  FlowControl.for('watched').report('stage', 0);
  assert.equal(FlowControl.has('watched'), false);
});

test('FlowControl: release completes subscribers and a released entry does not come back', () => {
  const fc = FlowControl.for('released');
  let completed = false;
  fc.pressure$.subscribe({ complete: () => (completed = true) });
  FlowControl.release('released');
  assert.equal(completed, true);
  assert.equal(FlowControl.has('released'), false);
  fc.report('stage', 5);
  assert.equal(FlowControl.has('released'), false);
});

// A stage (or a test, or a library user) that keeps its entry while the registry drops it and a
// source then registers a new one: the kept entry's reports must still reach that source. (Before
// forwarding, the kept entry's reports went nowhere and a fast source never paused.)
test('FlowControl: a kept entry that was dropped forwards reports and subscriptions to the entry registered since', () => {
  const stage = FlowControl.for('kept');
  stage.report('s', 0); // nobody listens and nothing is held: dropped
  assert.equal(FlowControl.has('kept'), false);
  const seen: number[] = [];
  const sub = FlowControl.for('kept').pressure$.subscribe((d) => seen.push(d)); // the source, later
  stage.report('s', 5);
  assert.deepEqual(seen, [5]);
  assert.equal(FlowControl.for('kept').maxDepth, 5);
  assert.equal(stage.maxDepth, 5);
  // and the other way round: a source subscribing through a kept, dropped entry
  const kept = FlowControl.for('kept2');
  kept.report('a', 0);
  FlowControl.for('kept2').report('b', 3); // a stage registers a new entry meanwhile
  const seen2: number[] = [];
  const sub2 = kept.pressure$.subscribe((d) => seen2.push(d));
  FlowControl.for('kept2').report('b', 4);
  stage.forget('s');
  assert.deepEqual([seen, seen2], [[5, 0], [4]]);
  sub.unsubscribe();
  sub2.unsubscribe();
  FlowControl.for('kept2').report('b', 0);
  assert.equal(FlowControl.has('kept'), false);
  assert.equal(FlowControl.has('kept2'), false);
});

test('SourceDepths: each source sees only its own waiting items; refusals are not reported; forgetAll withdraws the stage', () => {
  const d = new SourceDepths('stage-sd');
  d.add('sd-a');
  d.add('sd-a');
  d.report('sd-a');
  d.add('sd-b');
  d.report('sd-b');
  d.add(undefined); // an item without a source: not counted
  d.report(undefined);
  assert.deepEqual([FlowControl.for('sd-a').maxDepth, FlowControl.for('sd-b').maxDepth], [2, 1]);
  d.remove('sd-a'); // one started
  assert.equal(FlowControl.for('sd-a').maxDepth, 1);
  d.add('sd-b');
  d.remove('sd-b', false); // refused by a full queue: the depth already reported stays
  assert.equal(FlowControl.for('sd-b').maxDepth, 1);
  d.remove('sd-b'); // its last item left: depth 0 removes the stage, and the idle entry goes
  assert.equal(FlowControl.has('sd-b'), false);
  d.forgetAll(); // on close
  assert.equal(FlowControl.has('sd-a'), false);
});
