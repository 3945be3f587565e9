/** @test {Status} the throttled node status helper (nodes/lib/status.ts), on mocked timers and Date. */
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, NodeStatus } from 'node-red';
import { Status } from '../../nodes/lib/status';

const T0 = 1_764_000_000_000;

function recorder(): { node: Node; texts: string[] } {
  const texts: string[] = [];
  return { node: { status: (s: NodeStatus) => texts.push(String(s.text ?? '')) } as unknown as Node, texts };
}

describe('Status', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 }));
  afterEach(() => mock.timers.reset());

  test('running updates are throttled to one per interval; the latest one wins', () => {
    const { node, texts } = recorder();
    const status = new Status(node, 500);
    status.set('running', 'a');
    mock.timers.tick(100);
    status.set('running', 'b');
    status.set('running', 'c');
    assert.deepEqual(texts, ['a']);
    mock.timers.tick(399);
    assert.deepEqual(texts, ['a']);
    mock.timers.tick(1);
    assert.deepEqual(texts, ['a', 'c']);
  });

  test('a failure status that counts refused messages can be throttled too; plain state changes apply at once', () => {
    const { node, texts } = recorder();
    const status = new Status(node, 500);
    // A dead detector refusing a 25 fps stream: 26 counts in one second, not 26 websocket updates.
    for (let i = 1; i <= 26; i++) {
      status.set('failed', `stopped (${i})`, { throttle: true });
      mock.timers.tick(40);
    }
    assert.deepEqual(texts, ['stopped (1)', 'stopped (13)', 'stopped (26)']);
    mock.timers.tick(500);
    assert.deepEqual(texts.at(-1), 'stopped (26)');
    status.set('failed', 'load failed');
    status.set('failed', 'config error');
    assert.deepEqual(texts.slice(-2), ['load failed', 'config error']);
  });

  test('after the clock steps back (NTP), a throttled update waits one interval, not the size of the step', () => {
    const { node, texts } = recorder();
    const status = new Status(node, 500);
    status.set('running', 'a');
    mock.timers.setTime(T0 - 3_600_000); // the wall clock steps back an hour
    status.set('running', 'b');
    mock.timers.tick(500);
    assert.deepEqual(texts, ['a', 'b']);
    mock.timers.tick(500);
    status.set('running', 'c'); // and the throttle goes on from there
    assert.deepEqual(texts, ['a', 'b', 'c']);
  });
});
