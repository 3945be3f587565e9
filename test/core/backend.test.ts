import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBackendPreference, selectBackend, tf } from '../../src/backend';
import { silentLogger } from '../../src/log';

test('parseBackendPreference accepts the documented names and aliases', () => {
  assert.equal(parseBackendPreference(undefined), 'auto');
  assert.equal(parseBackendPreference(''), 'auto');
  assert.equal(parseBackendPreference('WASM'), 'wasm');
  assert.equal(parseBackendPreference('tensorflow'), 'tfjs-node');
  assert.throws(() => parseBackendPreference('gpu'), /Unknown TensorFlow.js backend "gpu"/);
});

test('selectBackend picks a working backend once per process and explains why', async () => {
  const info = await selectBackend({ backend: 'auto', logger: silentLogger });
  assert.ok(['tensorflow', 'wasm', 'cpu'].includes(info.name));
  assert.equal(tf.getBackend(), info.name);
  assert.match(info.reason, new RegExp(`^${info.label}:`));
  // A second, different request keeps the active backend and says so.
  const other = info.name === 'cpu' ? 'wasm' : 'cpu';
  const again = await selectBackend({ backend: other, logger: silentLogger });
  assert.equal(again.name, info.name);
  assert.match(again.reason, /already active/);
  const y = tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(2)));
  assert.equal((await y.data())[0], 3);
  y.dispose();
});
