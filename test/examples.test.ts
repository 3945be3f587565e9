/* eslint-disable @typescript-eslint/no-explicit-any -- node-red-node-test-helper and Node-RED objects are untyped */
/**
 * Every flow in examples/ (Import › Examples) must reference only our registered node types and
 * Node-RED core nodes, be self-explanatory (a comment node with `info`), carry no credentials or
 * absolute paths, and load into a running Node-RED (node-red-node-test-helper).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { helper, ROOT, sleep } from './nodes/helpers';

const CORE_DIR = path.join(path.dirname(require.resolve('node-red/package.json')), '..', '@node-red', 'nodes', 'core');
const CORE: Record<string, string> = {
  comment: 'common/90-comment.js',
  inject: 'common/20-inject.js',
  debug: 'common/21-debug.js',
  catch: 'common/25-catch.js',
  function: 'function/10-function.js',
  change: 'function/15-change.js',
  switch: 'function/10-switch.js',
  file: 'storage/10-file.js',
  'mqtt out': 'network/10-mqtt.js',
  'mqtt in': 'network/10-mqtt.js',
  'mqtt-broker': 'network/10-mqtt.js',
};
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const OURS: Record<string, string> = pkg['node-red'].nodes;
const exampleDir = path.join(ROOT, 'examples');
const files = fs.readdirSync(exampleDir).filter((f) => f.endsWith('.json')).sort();

describe('examples/', () => {
  before(() => new Promise<void>((r) => helper.startServer(r)));
  after(() => new Promise<void>((r) => helper.stopServer(r)));

  it('has numbered examples for the full pipeline, the classifier and the preview', () => {
    for (const f of files) assert.match(f, /^\d\d - [^/]+\.json$/);
    for (const want of ['01 - Full pipeline camera to MQTT.json', '02 - Classifier.json', '05 - Live preview.json']) assert.ok(files.includes(want), want);
    const used = new Set(files.flatMap((f) => JSON.parse(fs.readFileSync(path.join(exampleDir, f), 'utf8')).map((n: { type: string }) => n.type)));
    for (const type of Object.keys(OURS)) assert.ok(used.has(type), `node type ${type} appears in no example`);
  });

  for (const file of files) {
    it(`${file}: valid, documented and loads into Node-RED`, async () => {
      const flow = JSON.parse(fs.readFileSync(path.join(exampleDir, file), 'utf8')) as Array<Record<string, any>>;
      assert.ok(Array.isArray(flow) && flow.length > 0);
      const ids = new Set(flow.map((n) => n.id));
      assert.equal(ids.size, flow.length, 'unique ids');
      const comment = flow.find((n) => n.type === 'comment');
      assert.ok(comment && comment.name && String(comment.info).length > 80, 'a comment node with an explanation');
      const text = JSON.stringify(flow);
      assert.doesNotMatch(text, /"(password|passphrase|token)"\s*:\s*"[^"]+"/i, 'no credentials');
      assert.doesNotMatch(text, /"(\/home|\/Users|\/work|[A-Z]:\\\\)/, 'no absolute paths');
      for (const n of flow) {
        assert.ok(n.type in OURS || n.type in CORE, `${file}: unknown node type "${n.type}"`);
        for (const port of n.wires ?? []) for (const target of port) assert.ok(ids.has(target), `${n.id} wires to missing ${target}`);
      }
      const modules = [...new Set(flow.map((n) => (n.type in OURS ? path.join(ROOT, OURS[n.type]) : path.join(CORE_DIR, CORE[n.type]))))]
                .map((f) => require(f));
      // Do not contact a real broker or start ffmpeg from this test: point MQTT at a closed port
      // and keep sources stopped (the integration tests run them for real).
      const tab = { id: 'ex.tab', type: 'tab', label: file };
      const nodes = flow.map((n) => {
        const c: Record<string, any> = { ...n };
        if (c.type === 'mqtt-broker') Object.assign(c, { broker: '127.0.0.1', port: '9', autoConnect: false });
        if (c.type === 'emotionnet-video') c.autostart = false;
        if (c.type === 'inject') c.once = false;
        if (c.type === 'inject') c.repeat = '';
        if ('x' in c) c.z = tab.id;
        return c;
      });
      await helper.load(modules, [tab, ...nodes]);
      try {
        for (const n of nodes) if ('x' in n) assert.ok(helper.getNode(n.id), `${file}: node ${n.id} (${n.type}) was not created`);
        await sleep(50);
      } finally {
        await helper.unload();
      }
    });
  }
});
