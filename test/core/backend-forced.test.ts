// Its own file (its own process): TensorFlow.js has one backend per process, and these tests
// need the first selection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../../src/backend';
import { Logger } from '../../src/log';

function capture(): Logger & { lines: Array<[string, string]> } {
  const lines: Array<[string, string]> = [];
  return {
    lines,
    debug: (m: string) => lines.push(['debug', m]),
    info: (m: string) => lines.push(['info', m]),
    warn: (m: string) => lines.push(['warn', m]),
    error: (m: string) => lines.push(['error', m]),
  };
}

test('an unknown EMOTIONNET_BACKEND is named in the error (the node setting says auto)', async () => {
  const saved = process.env.EMOTIONNET_BACKEND;
  process.env.EMOTIONNET_BACKEND = 'gpu';
  try {
    await assert.rejects(selectBackend({ backend: 'auto', logger: capture() }), /^TypeError: EMOTIONNET_BACKEND: Unknown TensorFlow.js backend "gpu"/);
  } finally {
    if (saved === undefined) delete process.env.EMOTIONNET_BACKEND;
    else process.env.EMOTIONNET_BACKEND = saved;
  }
});

test('a forced tfjs-node that does not load falls back with a warning, not an info line', async (t) => {
  if (process.env.EMOTIONNET_BACKEND) {
    t.skip('EMOTIONNET_BACKEND is set');
    return;
  }
  let installed = true;
  try {
    require.resolve('@tensorflow/tfjs-node');
  } catch {
    installed = false;
  }
  if (installed) {
    t.skip('@tensorflow/tfjs-node is installed here');
    return;
  }
  const log = capture();
  const info = await selectBackend({ backend: 'tfjs-node', logger: log });
  assert.equal(info.name, 'wasm');
  assert.equal(info.requested, 'tfjs-node');
  const line = log.lines.find(([, m]) => m.startsWith('TensorFlow.js backend'));
  assert.ok(line, 'the selection is logged');
  assert.equal(line[0], 'warn');
  assert.match(line[1], /^TensorFlow.js backend wasm: tfjs-node not usable \(.*\) \(tfjs-node was requested\)$/);
});
