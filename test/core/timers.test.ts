import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { longTimeout, MAX_TIMER_DELAY_MS } from '../../src/timers';

test('longTimeout waits a delay above 2^31 - 1 ms in steps, restarts it on refresh, never runs Infinity or after cancel', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const fired: string[] = [];
    const long = longTimeout(() => fired.push('long'), MAX_TIMER_DELAY_MS + 5000);
    longTimeout(() => fired.push('never'), Infinity);
    const cancelled = longTimeout(() => fired.push('cancelled'), 10);
    cancelled.cancel();
    longTimeout(() => fired.push('short'), 1000);
    mock.timers.tick(999);
    assert.deepEqual(fired, []);
    mock.timers.tick(1);
    assert.deepEqual(fired, ['short']);
    mock.timers.tick(MAX_TIMER_DELAY_MS - 2000);
    long.refresh(); // the whole delay again from now
    mock.timers.tick(MAX_TIMER_DELAY_MS);
    assert.deepEqual(fired, ['short']);
    mock.timers.tick(4999);
    assert.deepEqual(fired, ['short']);
    mock.timers.tick(1);
    assert.deepEqual(fired, ['short', 'long']);
    mock.timers.tick(MAX_TIMER_DELAY_MS * 3);
    assert.deepEqual(fired, ['short', 'long']);
  } finally {
    mock.timers.reset();
  }
});
