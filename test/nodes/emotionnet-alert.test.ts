/* eslint-disable @typescript-eslint/no-explicit-any */
/** emotionnet-alert node (compiled, from dist/) under node-red-node-test-helper. Run `npm run build` first. */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as vm from 'vm';
import { catchNode, completeNode, helper, load, ROOT, sleep as wait, until } from './helpers';
import { watchStatus } from '../helpers/status';

const alertNode = load('nodes/emotionnet-alert/emotionnet-alert.js');
const classify = load('src/classify/index.js');

const face = (id: number, label: string, confidence = 0.9, smoothed = true) => ({
  id,
  score: 0.97,
  emotion: { label, confidence, probabilities: { [label]: confidence } },
  ...(smoothed ? { smoothed: { label, confidence, probabilities: { [label]: confidence }, since: 0 } } : {}),
});

const SAD = { name: 'sad', type: 'emotion', labels: 'sad, anger', threshold: 0.6, duration: 0, cooldown: 0, scope: 'face', source: 'auto' };
const flow = (cfg: Record<string, unknown> = {}) => [
  { id: 'tab', type: 'tab' },
  { id: 'a1', z: 'tab', type: 'emotionnet-alert', rules: [SAD], topic: 'emotionnet/alert', updateInterval: 5, faceTimeout: 2, wires: [['out']], ...cfg },
  { id: 'out', z: 'tab', type: 'helper' },
  { id: 'k1', z: 'tab', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
  { id: 'caught', z: 'tab', type: 'helper' },
];

/** The last status node `id` set (the test helper's status spy is shared by all nodes). */
function lastStatus(id: string): any {
  return helper.getNode(id).status.getCalls().filter((c: any) => c.thisValue.id === id).pop()?.args[0];
}

/** Everything a helper node receives from now on. */
function record(id: string): any[] {
  const got: any[] = [];
  helper.getNode(id).on('input', (m: unknown) => got.push(m));
  return got;
}

/** The alert editor's rules validator, run from emotionnet-alert.html's script as the editor runs it. */
function editorRulesValidator(): (rules: any[]) => true | string {
  const html = fs.readFileSync(path.join(ROOT, 'nodes', 'emotionnet-alert', 'emotionnet-alert.html'), 'utf8');
  const script = /<script type="text\/javascript">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(script, 'the editor script in emotionnet-alert.html');
  let def: any;
  const RED = { nodes: { registerType: (_t: string, d: unknown) => (def = d) }, validators: { regex: () => () => true }, _: (k: string) => k };
  vm.runInNewContext(script[1], { RED, $: () => undefined });
  return (rules) => def.defaults.rules.validate.call({}, rules, {});
}

describe('emotionnet-alert node', () => {
  before(() => new Promise<void>((r) => helper.startServer(r)));
  after(() => new Promise<void>((r) => helper.stopServer(r)));
  afterEach(async () => {
    await helper.unload();
    // A stop with alerts active leaves their `end`s (reason closed) for the node's next instance,
    // as a redeploy does: start the ids once, unwired, so the next test does not receive them.
    await helper.load(alertNode, ['a1', 'a2'].map((id) => ({ id, type: 'emotionnet-alert', rules: [SAD] })));
    await helper.unload();
  });

  it('a redeploy ends the active alerts: the next instance sends end (reason closed) on the topic they started on, once; a removed node sends none', async () => {
    await helper.load([alertNode, catchNode], flow({ updateInterval: 0 }));
    const out = record('out');
    helper.getNode('a1').receive({ payload: [face(3, 'sadness', 0.8)], frame: { sourceId: 'cam1' } });
    await until(() => out.length === 1, 2000, 'start');
    const start = out[0].payload;
    // "Modified nodes" deploy with another topic base: a new a1 instance.
    await helper.setFlows(flow({ updateInterval: 0, topic: 'home/alerts' }), 'nodes');
    const out2 = record('out');
    await until(() => out2.length >= 1, 2000, 'the end of the alert the old instance had active');
    await wait(100);
    assert.equal(out2.length, 1, 'exactly one end');
    const end = out2[0];
    assert.equal(end.topic, 'emotionnet/alert/sad/end', 'on the topic the alert started on');
    assert.deepEqual(
      { event: end.payload.event, reason: end.payload.reason, rule: end.payload.rule, trackId: end.payload.trackId, sourceId: end.payload.sourceId, since: end.payload.since },
      { event: 'end', reason: 'closed', rule: 'sad', trackId: 3, sourceId: 'cam1', since: start.since },
    );
    assert.ok(end.payload.duration >= 0 && end.payload.timestamp >= start.timestamp);
    // The new instance starts afresh: the face is seen again → a new start on the new topic.
    helper.getNode('a1').receive({ payload: [face(3, 'sadness', 0.8)], frame: { sourceId: 'cam1' } });
    await until(() => out2.length === 2, 2000, 'a new start');
    assert.equal(out2[1].topic, 'home/alerts/sad/start');
    // Removed while active, then added again with the same id: no end from the removed one.
    const without = flow().filter((n) => n.id !== 'a1');
    await helper.setFlows(without, 'full');
    await helper.setFlows(flow({ updateInterval: 0 }), 'full');
    const out3 = record('out');
    await wait(200);
    assert.deepEqual(out3, [], 'a removed node leaves no end behind');
  });

  it('a redeploy into an invalid configuration still sends the end (reason closed) at once, not stale at the deploy that fixes it', async () => {
    await helper.load([alertNode, catchNode], flow({ updateInterval: 0 }));
    const out = record('out');
    helper.getNode('a1').receive({ payload: [face(3, 'sadness', 0.8)] });
    await until(() => out.length === 1, 2000, 'start');
    // An edit with a typo in a label, deployed anyway: the new instance has a config error.
    await helper.setFlows(flow({ updateInterval: 0, rules: [{ ...SAD, labels: 'sadd' }] }), 'nodes');
    const out2 = record('out');
    await until(() => out2.length >= 1, 2000, 'the end of the alert the old instance had active');
    await wait(100);
    assert.deepEqual(out2.map((m) => [m.topic, m.payload.event, m.payload.reason]), [['emotionnet/alert/sad/end', 'end', 'closed']]);
    assert.deepEqual(lastStatus('a1'), { fill: 'red', shape: 'ring', text: 'config error' }, 'the status stays the config error');
    // The typo is fixed: nothing stale comes out of the new instance.
    await helper.setFlows(flow({ updateInterval: 0 }), 'nodes');
    const out3 = record('out');
    await wait(200);
    assert.deepEqual(out3, [], 'no end left over');
  });

  it('inside a subflow: a redeploy sends the end; a deleted subflow instance (its nodes close as not removed) leaves none behind', async () => {
    // x/y: nodes without a position are config nodes to Node-RED, and a subflow instance must be a flow node.
    const sf = (withInstance: boolean) => [
      { id: 'tab', type: 'tab' },
      { id: 'sf1', type: 'subflow', name: 'sf', in: [{ wires: [{ id: 'sa' }] }], out: [{ wires: [{ id: 'sa', port: 0 }] }] },
      { id: 'sa', z: 'sf1', type: 'emotionnet-alert', rules: [SAD], topic: 'sf', updateInterval: 0, faceTimeout: 2, x: 0, y: 0, wires: [[]] },
      ...(withInstance ? [{ id: 'si', z: 'tab', type: 'subflow:sf1', x: 0, y: 0, wires: [['out']] }] : []),
      { id: 'out', z: 'tab', type: 'helper', x: 0, y: 0 },
    ];
    await helper.load(alertNode, sf(true));
    const out = record('out');
    helper.getNode('si').receive({ payload: [face(3, 'sadness', 0.8)] });
    await until(() => out.length === 1, 2000, 'start');
    await helper.setFlows(sf(true), 'full');
    const out2 = record('out');
    await until(() => out2.length >= 1, 2000, 'the end after a redeploy');
    assert.deepEqual(out2.map((m) => [m.topic, m.payload.reason]), [['sf/sad/end', 'closed']]);
    helper.getNode('si').receive({ payload: [face(3, 'sadness', 0.8)] });
    await until(() => out2.length === 2, 2000, 'a new start');
    // The instance is deleted while its alert is active, then an instance with the same id is added again.
    await helper.setFlows(sf(false), 'full');
    await helper.setFlows(sf(true), 'full');
    const out3 = record('out');
    await wait(200);
    assert.deepEqual(out3, [], 'a deleted subflow instance leaves no end behind');
  });

  it('is loaded with the editor defaults', async () => {
    const defaults = { name: 'alerts', rules: [{ ...SAD, labels: 'sadness', duration: 3, cooldown: 30 }], topic: 'emotionnet/alert', updateInterval: 5, faceTimeout: 2 };
    await helper.load(alertNode, [{ id: 'a1', type: 'emotionnet-alert', ...defaults }]);
    const n = helper.getNode('a1');
    assert.equal(n.name, 'alerts');
    assert.equal(n.type, 'emotionnet-alert');
  });

  it('sends start with the documented topic and payload, then end when the label changes', async () => {
    await helper.load([alertNode, catchNode], flow());
    const out = record('out');
    const a1 = helper.getNode('a1');
    const t0 = Date.now();
    a1.receive({ payload: [face(3, 'sadness', 0.8)], frame: { sourceId: 'cam1' } });
    a1.receive({ payload: [face(3, 'sadness', 0.85)], frame: { sourceId: 'cam1' } }); // duplicate: no second start
    a1.receive({ payload: [face(3, 'happy', 0.9)], frame: { sourceId: 'cam1' } });
    await until(() => out.length >= 2, 3000, 'start and end');
    await wait(50);
    assert.deepEqual(out.map((m) => m.topic), ['emotionnet/alert/sad/start', 'emotionnet/alert/sad/end']);
    const start = out[0].payload;
    assert.deepEqual(Object.keys(start).sort(), ['duration', 'event', 'label', 'rule', 'score', 'since', 'sourceId', 'timestamp', 'trackId', 'type']);
    assert.equal(start.event, 'start');
    assert.equal(start.rule, 'sad');
    assert.equal(start.type, 'emotion');
    assert.equal(start.trackId, 3);
    assert.equal(start.label, 'sadness');
    assert.equal(start.score, 0.8);
    assert.equal(start.sourceId, 'cam1');
    assert.ok(start.timestamp >= t0 && start.since === start.timestamp && start.duration === 0);
    assert.equal(out[1].payload.reason, 'cleared');
    assert.equal(out[1].payload.duration, out[1].payload.timestamp - start.since);
  });

  it('"no face for N s" fires on a timer with no input at all, and ends when a face appears', async () => {
    const nobody = { name: 'nobody', type: 'absence', duration: 0.15 };
    await helper.load([alertNode, catchNode], flow({ rules: [nobody], topic: 'home/room1/' }));
    const out = record('out');
    await until(() => out.length === 1, 3000, 'absence start');
    assert.equal(out[0].topic, 'home/room1/nobody/start');
    assert.equal(out[0].payload.trackId, null);
    assert.ok(out[0].payload.duration >= 150);
    helper.getNode('a1').receive({ payload: [face(1, 'neutral', 0.9, false)] });
    await until(() => out.length === 2, 3000, 'absence end');
    assert.equal(out[1].topic, 'home/room1/nobody/end');
  });

  it('a month of "no face" or of cooldown (past Node\'s 24.8-day timer limit) does not wake the node every millisecond', async () => {
    // Node runs a timer longer than 2^31 - 1 ms after 1 ms, with a TimeoutOverflowWarning each time.
    const overflows: string[] = [];
    const onWarning = (w: Error) => {
      if (w.name === 'TimeoutOverflowWarning') overflows.push(w.message);
    };
    process.on('warning', onWarning);
    try {
      const away = { name: 'away', type: 'absence', duration: 30 * 86_400 };
      const visitor = { name: 'visitor', type: 'presence', duration: 0, cooldown: 40 * 86_400, scope: 'face' };
      await helper.load([alertNode, catchNode], flow({ rules: [away, visitor], faceTimeout: 0.05, updateInterval: 0 }));
      const out = record('out');
      helper.getNode('a1').receive({ payload: [{ id: 4, score: 0.9 }] }); // start, end 50 ms later, then the cooldown
      await wait(300);
      assert.deepEqual(out.map((m) => m.topic), ['emotionnet/alert/visitor/start', 'emotionnet/alert/visitor/end']);
      assert.deepEqual(lastStatus('a1'), { fill: 'green', shape: 'ring', text: '0 active (end)' });
    } finally {
      process.removeListener('warning', onWarning);
    }
    assert.deepEqual(overflows, []);
  });

  it('face appeared / left: start on the first frame, end (lost) when it is not seen for faceTimeout', async () => {
    await helper.load([alertNode, catchNode], flow({ rules: [{ name: 'visitor', type: 'presence', duration: 0, scope: 'face' }], faceTimeout: 0.1 }));
    const out = record('out');
    helper.getNode('a1').receive({ payload: [{ id: 9, score: 0.9 }] });
    await until(() => out.length === 2, 3000, () => `appeared and left; got ${JSON.stringify(out.map((m) => m.payload))}`);
    assert.deepEqual(out.map((m) => [m.payload.event, m.payload.trackId, m.payload.reason]), [['start', 9, undefined], ['end', 9, 'lost']]);
  });

  it('routes bad input to a Catch node with a clear message and keeps working', async () => {
    await helper.load([alertNode, catchNode], flow());
    const caught = record('caught');
    const out = record('out');
    const a1 = helper.getNode('a1');
    a1.receive({ payload: { faces: [] } });
    a1.receive({ payload: [{ id: 'x' }] });
    a1.receive({ payload: [{ id: 1, emotion: { label: 'sad', confidence: NaN, probabilities: {} } }] });
    await until(() => caught.length === 3, 3000, 'three errors');
    assert.match(caught[0].error.message, /msg.payload must be an array of faces/);
    assert.match(caught[1].error.message, /invalid track id "x"/);
    assert.match(caught[2].error.message, /confidence must be a number in \[0, 1\], got NaN/);
    assert.equal(caught[0].error.source.id, 'a1');
    a1.receive({ payload: [face(1, 'anger', 0.7)] });
    await until(() => out.length === 1, 3000, 'a start after bad input');
    assert.equal(out[0].payload.label, 'anger');
  });

  it('a malformed face.smoothed goes to Catch naming the face and field (done once, no alert) even with a valid emotion', async () => {
    const nodes = [...flow(), { id: 'done1', z: 'tab', type: 'complete', scope: ['a1'], uncaught: false, wires: [['completed']] }, { id: 'completed', z: 'tab', type: 'helper' }];
    await helper.load([alertNode, catchNode, completeNode], nodes);
    const caught = record('caught');
    const completed = record('completed');
    const out = record('out');
    const a1 = helper.getNode('a1');
    const raw = { label: 'sadness', confidence: 0.99, probabilities: { sadness: 0.99, neutral: 0.01 } };
    const bad: Array<[unknown, string]> = [
      ['garbage', 'smoothed is "garbage", expected {label, confidence, probabilities}'],
      [42, 'smoothed is 42, expected {label, confidence, probabilities}'],
      [{ label: null, confidence: NaN }, 'smoothed.label must be a non-empty string, got null'],
      [{ label: 'sadness', confidence: '0.9' }, 'smoothed.confidence must be a number in [0, 1], got "0.9"'],
      [{ confidence: 7 }, 'smoothed.label must be a non-empty string, got undefined'],
    ];
    for (const [smoothed] of bad) a1.receive({ payload: [{ id: 5, emotion: raw, smoothed }] });
    await until(() => caught.length === bad.length, 3000, 'one error per bad message');
    await wait(100);
    assert.equal(caught.length, bad.length, 'done(err) once per message');
    bad.forEach(([, text], i) => {
      assert.equal(caught[i].error.message, `InputError: face 0 (track 5): ${text}`);
      assert.equal(caught[i].error.source.id, 'a1');
    });
    assert.equal(completed.length, 0);
    assert.equal(out.length, 0, 'no alert from a malformed smoothed');
    // a valid smoothed is preferred over the raw emotion; an absent one falls back to it
    a1.receive({ payload: [{ id: 6, emotion: raw, smoothed: { label: 'happy', confidence: 0.9, probabilities: { happy: 0.9 }, since: 0 } }] });
    a1.receive({ payload: [{ id: 7, emotion: raw, smoothed: { label: 'sadness', confidence: 0.7, probabilities: { sadness: 0.7 }, since: 0 } }] });
    a1.receive({ payload: [{ id: 8, emotion: raw }] });
    await until(() => out.length === 2 && completed.length === 3, 3000, 'two starts');
    await wait(50);
    assert.deepEqual(out.map((m) => [m.payload.event, m.payload.trackId, m.payload.label, m.payload.score]), [['start', 7, 'sadness', 0.7], ['start', 8, 'sadness', 0.99]]);
    assert.equal(caught.length, bad.length);
  });

  it('reports an invalid rule once at start and rejects input with it', async () => {
    await helper.load([alertNode, catchNode], flow({ rules: [{ ...SAD, name: 'bad/name' }] }));
    const errors = helper.log().args.filter((a: any[]) => a[0]?.level === helper.log().ERROR);
    assert.equal(errors.length, 1);
    assert.match(String(errors[0][0].msg), /rule 1 \(bad\/name\): `name` must be/);
    const caught = record('caught');
    helper.getNode('a1').receive({ payload: [] });
    await until(() => caught.length === 1, 3000, 'config error on input');
    assert.match(caught[0].error.message, /`name` must be/);
  });

  it('an unknown label is a config error naming it and the valid labels (red ring, no "1 rule" status); synonyms load', async () => {
    await helper.load([alertNode, catchNode], [
      ...flow({ rules: [{ ...SAD, name: 'smile', labels: 'happy, joyful' }] }),
      { id: 'a2', z: 'tab', type: 'emotionnet-alert', rules: [{ ...SAD, labels: 'Happiness, SAD, joy' }], wires: [[]] },
    ]);
    const a1 = helper.getNode('a1');
    const errors = helper.log().args.filter((a: any[]) => a[0]?.level === helper.log().ERROR);
    assert.equal(errors.length, 1);
    const expected = 'Invalid alert configuration: rule 1 (smile): unknown label `joyful`; use one of anger, contempt, disgust, fear, happy, neutral, sadness, surprise (the labels the models emit) or a synonym: angry, mad, contemptuous, disgusted, fearful, scared, afraid, happiness, joy, smile, calm, sad, surprised';
    assert.equal(String(errors[0][0].msg), expected);
    assert.deepEqual(lastStatus('a1'), { fill: 'red', shape: 'ring', text: 'config error' });
    const caught = record('caught');
    a1.receive({ payload: [face(1, 'happy')] });
    await until(() => caught.length === 1, 3000, 'config error on input');
    assert.equal(caught[0].error.message, `ConfigError: ${expected}`); // Node-RED prefixes the error name
    assert.deepEqual(lastStatus('a2'), { fill: 'green', shape: 'ring', text: '1 rule' });
  });

  it("the editor's label table (ruleProblem) is the runtime's: src/classify LABEL_SYNONYMS", () => {
    const html = fs.readFileSync(path.join(ROOT, 'nodes', 'emotionnet-alert', 'emotionnet-alert.html'), 'utf8');
    const m = /var LABELS = (\{[^\n]*\});/.exec(html);
    assert.ok(m, 'var LABELS = {...}; in emotionnet-alert.html');
    assert.deepEqual(JSON.parse(m[1]), { ...classify.LABEL_SYNONYMS });
  });

  it('the editor accepts rule names the runtime accepts, also those of Object.prototype members (constructor, toString, __proto__)', async () => {
    const validate = editorRulesValidator();
    const names = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__'];
    // The runtime loads them…
    await helper.load(alertNode, names.map((name, i) => ({ id: `n${i}`, type: 'emotionnet-alert', rules: [{ ...SAD, name }] })));
    for (let i = 0; i < names.length; i++) assert.deepEqual(lastStatus(`n${i}`), { fill: 'green', shape: 'ring', text: '1 rule' }, names[i]);
    // …so the editor must not call them "used twice".
    for (const name of names) assert.equal(validate([{ ...SAD, name }]), true, name);
    assert.match(validate([SAD, { ...SAD }]), /emotionnet-alert\.validation\.duplicate$/, 'a real duplicate is still one');
  });

  it('the editor refuses the rule types, scopes and sources the runtime refuses (a hand-written or imported flow)', async () => {
    const validate = editorRulesValidator();
    const cases: Array<[string, Record<string, unknown>, string | true]> = [
      ['Emotion', { type: 'Emotion' }, 'type'],
      ['scope', { scope: 'all' }, 'scope'],
      ['source', { source: 'smooth' }, 'source'],
      ['presence source', { type: 'presence', source: 'x' }, 'source'],
      // An absence rule is always scope "any": its stored scope is not used.
      ['absence scope', { type: 'absence', duration: 10, scope: 'all' }, true],
    ];
    await helper.load(alertNode, cases.map(([, rule], i) => ({ id: `n${i}`, type: 'emotionnet-alert', rules: [{ ...SAD, ...rule }] })));
    cases.forEach(([what, rule, want], i) => {
      const got = validate([{ ...SAD, ...rule }]);
      if (want === true) assert.equal(got, true, what);
      else assert.match(got, new RegExp(`emotionnet-alert\\.validation\\.${want}$`), what);
      const status = lastStatus(`n${i}`);
      assert.equal(status.text, want === true ? '1 rule' : 'config error', `runtime: ${what}`);
    });
  });

  it('status: "1 rule" for one rule, "2 rules" for two', async () => {
    await helper.load([alertNode, catchNode], [
      ...flow(),
      { id: 'a2', z: 'tab', type: 'emotionnet-alert', rules: [SAD, { name: 'visitor', type: 'presence', duration: 1 }], wires: [[]] },
    ]);
    assert.deepEqual(lastStatus('a1'), { fill: 'green', shape: 'ring', text: '1 rule' });
    assert.deepEqual(lastStatus('a2'), { fill: 'green', shape: 'ring', text: '2 rules' });
  });

  it('clears every timer on close: no event after a redeploy, status cleared', async () => {
    await helper.load([alertNode, catchNode], flow({ rules: [{ name: 'nobody', type: 'absence', duration: 0.2 }, SAD], updateInterval: 0.05 }));
    const a1 = helper.getNode('a1');
    const statuses = watchStatus(a1);
    const out = record('out');
    a1.receive({ payload: [face(1, 'sadness')] }); // start + updates every 50 ms while active
    await wait(30);
    await helper.unload();
    const n = out.length;
    await wait(400);
    assert.equal(out.length, n, 'no event after close');
    assert.deepEqual(statuses[statuses.length - 1], {});
  });

  it('calls done exactly once per message: Complete sees each good one, Catch each bad one', async () => {
    const nodes = [...flow(), { id: 'done1', z: 'tab', type: 'complete', scope: ['a1'], uncaught: false, wires: [['completed']] }, { id: 'completed', z: 'tab', type: 'helper' }];
    await helper.load([alertNode, catchNode, completeNode], nodes);
    const completed: unknown[] = [];
    const caught: unknown[] = [];
    helper.getNode('completed').on('input', (m: unknown) => completed.push(m));
    helper.getNode('caught').on('input', (m: unknown) => caught.push(m));
    const n = helper.getNode('a1');
    for (let i = 0; i < 3; i++) n.receive({ payload: [face(1, 'sadness')] });
    n.receive({ payload: 42 });
    await wait(150);
    assert.equal(completed.length, 3);
    assert.equal(caught.length, 1);
  });
});
