import { test } from 'node:test';
import assert from 'node:assert/strict';
import { from, lastValueFrom, Subject, toArray } from 'rxjs';
import { FlowControl, overloadMap, OverloadError, StageQueue } from '../../src/overload';

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

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
  for (let i = 0; i < 5; i++) q.push(i);
  await tick();
  assert.equal(q.stats.busy, true);
  assert.equal(q.depth, 1);
  release();
  await q.idle();
  assert.deepEqual(seen, [0, 4]);
  assert.deepEqual(dropped, [1, 2, 3]);
  assert.equal(q.stats.dropped, 3);
  assert.equal(q.stats.processed, 2);
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

test('StageQueue rejects a bad policy or capacity with a TypeError', () => {
  assert.throws(() => new StageQueue(async () => {}, { policy: 'fast' as never }), TypeError);
  assert.throws(() => new StageQueue(async () => {}, { policy: 'queue', capacity: 0 }), TypeError);
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

test('overloadMap latest: a burst while busy yields first and last only', async () => {
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
  assert.deepEqual(got, [0, 9]);
});

test('overloadMap: a failing project errors the stream', async () => {
  await assert.rejects(
    lastValueFrom(from([1, 2]).pipe(overloadMap(async () => { throw new Error('bad'); }))),
    /bad/,
  );
});

test('FlowControl reports the deepest stage per source and forgets on release', () => {
  const fc = FlowControl.for('src-a');
  const seen: number[] = [];
  fc.pressure$.subscribe((d) => seen.push(d));
  fc.report('detect', 3);
  fc.report('classify', 5);
  fc.report('classify', 0);
  fc.forget('detect');
  assert.deepEqual(seen, [3, 5, 3, 0]);
  assert.equal(FlowControl.for('src-a'), fc);
  FlowControl.release('src-a');
  assert.notEqual(FlowControl.for('src-a'), fc);
  FlowControl.release('src-a');
});
