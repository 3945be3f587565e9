/* eslint-disable @typescript-eslint/no-explicit-any -- node-red-node-test-helper and Node-RED objects are untyped */
/**
 * Alerts leave the gateway over MQTT: a real Mosquitto broker on loopback, the full pipeline
 * flow (examples/01) running in embedded Node-RED on the default video, and an `mqtt` client
 * that checks the alert events arrive with the documented topic and payload.
 * Skips (with the reason) when mosquitto is not installed: `apt-get install mosquitto`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { demo, exampleModel, flowWithModel, pipelineModel, tmpDir, which } from './support';

const mosquitto = which('mosquitto', ['/usr/sbin/mosquitto']);
const skip = mosquitto ? false : 'mosquitto is not installed (Debian package `mosquitto`; .ci/run installs it)';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function waitForPort(port: number, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

describe('MQTT integration: pipeline flow → Mosquitto', { skip, timeout: 120_000 }, () => {
  let broker: ChildProcess | null = null;
  let port = 0;
  let running: { stop(): Promise<void> } | null = null;
  let shipped = false;
  const events: Array<{ topic: string; payload: any }> = [];
  let client: any = null;

  before(async () => {
    port = await freePort();
    const dir = tmpDir('emotionnet-mosquitto-');
    const conf = path.join(dir, 'mosquitto.conf');
    fs.writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
    broker = spawn(mosquitto as string, ['-c', conf], { stdio: 'ignore' });
    await waitForPort(port);
        const mqtt = require('mqtt');
    client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`);
    await client.subscribeAsync('emotionnet/alert/#', { qos: 1 });
    client.on('message', (topic: string, buf: Buffer) => events.push({ topic, payload: JSON.parse(buf.toString()) }));
    const m = await pipelineModel();
    shipped = m.shipped;
    running = await demo.startDemo({
      port: 0,
      host: '127.0.0.1',
      userDir: tmpDir('emotionnet-mqtt-demo-'),
      flow: flowWithModel(m.model, { host: '127.0.0.1', port }),
      logLevel: 'warn',
    });
  });

  after(async () => {
    await running?.stop();
    await client?.endAsync();
    broker?.kill('SIGTERM');
  });

  it('publishes alert events with the documented topic and payload', async () => {
    const end = Date.now() + 60_000;
    while (Date.now() < end && !events.some((e) => e.payload.event === 'start')) await new Promise((r) => setTimeout(r, 200));
    assert.ok(events.length > 0, 'no alert event arrived over MQTT within 60 s');
    for (const e of events) {
      const p = e.payload;
      assert.match(e.topic, /^emotionnet\/alert\/[A-Za-z0-9_.-]+\/(start|update|end)$/);
      assert.equal(e.topic, `emotionnet/alert/${p.rule}/${p.event}`);
      assert.ok(['start', 'update', 'end'].includes(p.event));
      assert.ok(['smile', 'visitor'].includes(p.rule), p.rule);
      for (const k of ['trackId', 'label', 'score', 'since', 'duration', 'timestamp']) assert.ok(k in p, `payload has ${k}`);
      assert.equal(typeof p.since, 'number');
      assert.equal(typeof p.timestamp, 'number');
      assert.ok(p.duration >= 0 && p.timestamp >= p.since);
    }
    const visitor = events.find((e) => e.payload.rule === 'visitor' && e.payload.event === 'start');
    assert.ok(visitor, 'a face appeared in the default video: "visitor" start');
    assert.equal(typeof visitor.payload.trackId, 'number');
  });

  it('with the shipped model, the demo video raises the "smile" alert (happy faces)', async (t) => {
    if (!shipped) {
      t.skip(`the example's model (${exampleModel()}) is not installed; ran with a random model`);
      return;
    }
    const end = Date.now() + 60_000;
    while (Date.now() < end && !events.some((e) => e.payload.rule === 'smile')) await new Promise((r) => setTimeout(r, 250));
    const smile = events.find((e) => e.payload.rule === 'smile' && e.payload.event === 'start');
    assert.ok(smile, 'no smile alert within 60 s');
    assert.equal(smile.payload.label, 'happy');
    assert.ok(smile.payload.score >= 0.5);
  });
});
