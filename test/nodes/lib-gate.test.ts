/** @test {LoadGate} input gating while a model loads (nodes/lib/gate.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoadGate } from '../../nodes/lib/gate';

interface Item {
  n: number;
  done: (err?: Error) => void;
}

function items() {
  const completed: Array<{ n: number; err?: Error }> = [];
  const make = (n: number): Item => ({ n, done: (err?: Error) => completed.push({ n, err }) });
  return { completed, make };
}

test('held messages are worked in order, then the gate opens', async () => {
  const { make } = items();
  const gate = new LoadGate<Item>(4);
  for (let n = 0; n < 3; n++) assert.equal(gate.hold(make(n)), true);
  const worked: number[] = [];
  await gate.open(async (i) => void worked.push(i.n), () => assert.fail('nothing arrived during the drain'));
  assert.deepEqual(worked, [0, 1, 2]);
  assert.equal(gate.ready, true);
  assert.equal(gate.hold(make(9)), false);
});

// A worker-thread detector yields on every frame: input kept arriving during the drain, was held,
// and the drain went on for as long as the input did. The gate never opened, and every frame
// past the limit was completed without output and without a count in the node's status.
test('input faster than the work during the drain: the drain ends with the messages held at load time; later ones go to accept', async () => {
  const { completed, make } = items();
  const gate = new LoadGate<Item>(4);
  let next = 0;
  for (; next < 2; next++) gate.hold(make(next));
  const worked: number[] = [];
  const accepted: number[] = [];
  await gate.open(
    async (i) => {
      worked.push(i.n);
      if (worked.length > 10) throw new Error('the drain does not end');
      // Two new messages arrive while each one is worked on (slow, asynchronous work).
      for (let k = 0; k < 2; k++) if (!gate.hold(make(next++))) assert.fail('gate opened too early');
      await new Promise((r) => setImmediate(r));
    },
    (i) => accepted.push(i.n),
  );
  assert.deepEqual(worked, [0, 1]);
  assert.deepEqual(accepted, [2, 3, 4, 5], 'what arrived during the drain takes the normal path, in order');
  assert.equal(gate.ready, true);
  assert.deepEqual(completed, []);
  assert.equal(gate.dropped, 0);
});

test('the hold stays bounded during the drain; drops are counted for the report', async () => {
  const { completed, make } = items();
  const gate = new LoadGate<Item>(2);
  gate.hold(make(0));
  let next = 1;
  const accepted: number[] = [];
  let calls = 0;
  await gate.open(
    async () => {
      if (++calls > 10) throw new Error('the drain does not end');
      for (let k = 0; k < 5; k++) gate.hold(make(next++));
    },
    (i) => accepted.push(i.n),
  );
  assert.deepEqual(accepted, [4, 5]);
  assert.deepEqual(completed.map((c) => c.n), [1, 2, 3], 'the oldest were completed (dropped)');
  assert.equal(gate.dropped, 3);
});

test('closing during the drain completes the rest without work; a failed load rejects every held message', async () => {
  const { completed, make } = items();
  const gate = new LoadGate<Item>(4);
  for (let n = 0; n < 3; n++) gate.hold(make(n));
  const worked: number[] = [];
  await gate.open(
    async (i) => {
      worked.push(i.n);
      gate.close();
    },
    () => assert.fail('closed: nothing is accepted'),
  );
  assert.deepEqual(worked, [0]);
  assert.deepEqual(completed.map((c) => c.n), [1, 2]);

  const failed = items();
  const g2 = new LoadGate<Item>(4);
  g2.hold(failed.make(0));
  g2.hold(failed.make(1));
  const err = new Error('no model');
  g2.fail(err);
  assert.deepEqual(failed.completed, [{ n: 0, err }, { n: 1, err }]);
  assert.equal(g2.error, err);
});
