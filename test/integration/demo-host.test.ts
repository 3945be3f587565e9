/**
 * The demo's editor has no login, so by default it listens on this machine only; HOST (or the
 * `host` option) opens it to the network on purpose.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressInfo } from 'net';
import { demo, tmpDir } from './support';

let running: Awaited<ReturnType<typeof demo.startDemo>> & { server?: { address(): AddressInfo }; loopback?: boolean } | null = null;
after(async () => running?.stop());

test('npm start listens on 127.0.0.1 unless HOST says otherwise', async () => {
  const was = process.env.HOST;
  delete process.env.HOST;
  try {
    running = await demo.startDemo({ port: 0, userDir: tmpDir('emotionnet-host-demo-'), flow: [], mqtt: null, logLevel: 'warn' });
  } finally {
    if (was !== undefined) process.env.HOST = was;
  }
  assert.equal(running.server!.address().address, '127.0.0.1');
  assert.equal(running.loopback, true);
  assert.match(running.url, /^http:\/\/localhost:\d+\/$/);
  const res = await fetch(running.url);
  assert.equal(res.status, 200, 'the editor answers on localhost');
});
