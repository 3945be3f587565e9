/** @test {sourceQueue} the face and classify nodes' queue (nodes/lib/source-queue.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sourceQueue, SourceItem } from '../../nodes/lib/source-queue';

interface Item extends SourceItem {
  n: number;
}

// A redeploy: Node-RED closes the nodes while the video node upstream still sends. A frame that
// reached the face node after its close began got done(Error "stage queue is closed"), logged as
// an error at the node (9 in a 300-redeploy soak) and seen by Catch nodes.
test('an item offered after the close began completes with done() and is not worked on', async () => {
  const completed: Array<{ n: number; err?: Error }> = [];
  const worked: number[] = [];
  let release!: () => void;
  const running = new Promise<void>((r) => (release = r));
  const q = sourceQueue<Item>(
    'stage-1',
    async (item) => {
      worked.push(item.n);
      await running;
      item.done();
    },
    { policy: 'queue', threads: 0, onSuperseded: () => assert.fail('not superseded'), queueFull: () => new Error('full') },
  );
  const make = (n: number): Item => ({ n, sourceId: 'cam', done: (err?: Error) => void completed.push({ n, err }) });
  q.enqueue(make(1)); // in flight
  q.enqueue(make(2)); // waiting: discarded by the close
  await new Promise((r) => setImmediate(r));
  const closing = q.close();
  q.enqueue(make(3)); // arrives while closing
  release();
  assert.equal(await closing, true);
  assert.deepEqual(worked, [1]);
  assert.deepEqual(completed.map((c) => [c.n, c.err?.message]).sort(), [[1, undefined], [2, undefined], [3, undefined]]);
  q.enqueue(make(4)); // and after it
  assert.deepEqual(completed.at(-1), { n: 4, err: undefined });
});

test('before the close, a full queue still completes the refused item with the queueFull error', () => {
  const completed: Array<{ n: number; err?: Error }> = [];
  const q = sourceQueue<Item>('stage-2', () => new Promise<void>(() => undefined), {
    policy: 'queue',
    threads: 0,
    onSuperseded: () => undefined,
    queueFull: () => new Error('queue full'),
  });
  for (let n = 0; n < 200; n++) q.enqueue({ n, done: (err?: Error) => void completed.push({ n, err }) });
  assert.ok(completed.length > 0, 'some items refused');
  for (const c of completed) assert.equal(c.err?.message, 'queue full');
});
