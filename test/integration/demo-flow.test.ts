/** `npm start`'s flow: the full-pipeline example on a tab, alerts logged, MQTT only with a broker. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { demo } from './support';

describe('demo flow', () => {
  it('without a broker drops the MQTT nodes and every wire to them', () => {
    const flow = demo.demoFlow({ mqtt: null });
    assert.equal(flow[0].type, 'tab');
    assert.ok(!flow.some((n) => n.type === 'mqtt out' || n.type === 'mqtt-broker'));
    const ids = new Set(flow.map((n) => n.id));
    for (const n of flow) for (const port of n.wires ?? []) for (const t of port) assert.ok(ids.has(t), `${n.id} → ${t}`);
    for (const n of flow) if ('x' in n) assert.equal(n.z, flow[0].id);
    const debug = flow.find((n) => n.type === 'debug');
    assert.equal(debug?.console, true, 'alerts also go to the log');
    const types = flow.map((n) => n.type);
    for (const t of ['emotionnet-video', 'emotionnet-face', 'emotionnet-classify', 'emotionnet-smooth', 'emotionnet-alert', 'emotionnet-preview']) assert.ok(types.includes(t), t);
    const video = flow.find((n) => n.type === 'emotionnet-video');
    assert.equal(video?.sourceType, 'default', 'runs on the embedded default video');
  });

  it('with a broker points the mqtt-broker config at it', () => {
    const flow = demo.demoFlow({ mqtt: { host: '127.0.0.1', port: 18830 } });
    const broker = flow.find((n) => n.type === 'mqtt-broker');
    assert.equal(broker?.broker, '127.0.0.1');
    assert.equal(broker?.port, '18830');
    const alert = flow.find((n) => n.type === 'emotionnet-alert');
    assert.ok(alert?.wires[0].includes(flow.find((n) => n.type === 'mqtt out')?.id));
  });
});
