/* eslint-disable @typescript-eslint/no-explicit-any */
/** emotionnet-smooth node (compiled, from dist/) under node-red-node-test-helper. Run `npm run build` first. */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { catchNode, completeNode, helper, load, sleep as wait, until } from './helpers';
import { watchStatus } from '../helpers/status';

const smoothNode = load('nodes/emotionnet-smooth/emotionnet-smooth.js');

const face = (id: number, label: string, p = 0.9) => ({
  id,
  box: { x: 0, y: 0, width: 10, height: 10 },
  emotion: { label, confidence: p, probabilities: { happy: label === 'happy' ? p : 1 - p, sadness: label === 'sadness' ? p : 1 - p } },
});

const flow = (cfg: Record<string, unknown> = {}) => [
  { id: 'tab', type: 'tab' },
  { id: 's1', z: 'tab', type: 'emotionnet-smooth', method: 'ema', halfLife: 500, window: 1000, minDwell: 300, margin: 0.1, trackTimeout: 2000, wires: [['out']], ...cfg },
  { id: 'out', z: 'tab', type: 'helper' },
  { id: 'k1', z: 'tab', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
  { id: 'caught', z: 'tab', type: 'helper' },
];

/** The next message a helper node receives. */
const next = (id: string, ms = 2000): Promise<any> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message at ${id} within ${ms} ms`)), ms);
    helper.getNode(id).once('input', (m: unknown) => {
      clearTimeout(timer);
      resolve(m);
    });
  });
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('emotionnet-smooth node', () => {
  before(() => new Promise<void>((r) => helper.startServer(r)));
  after(() => new Promise<void>((r) => helper.stopServer(r)));
  afterEach(() => helper.unload());

  it('is loaded with the editor defaults', async () => {
    await helper.load(smoothNode, [{ id: 's1', type: 'emotionnet-smooth', name: 'calm', method: 'ema', halfLife: 500, window: 1000, minDwell: 300, margin: 0.1, trackTimeout: 2000 }]);
    const n = helper.getNode('s1');
    assert.equal(n.name, 'calm');
    assert.equal(n.type, 'emotionnet-smooth');
  });

  it('adds face.smoothed, msg.smoothing and timing.smooth; uses frame.timestamp; passes other properties', async () => {
    await helper.load([smoothNode, catchNode], flow());
    const s1 = helper.getNode('s1');
    const frame = { sourceId: 'cam', timestamp: 1_000_000 };
    let got = next('out');
    s1.receive({ payload: [face(1, 'happy'), face(2, 'sadness')], frame, timing: { classify: 3 }, topic: 'x' });
    let m = await got;
    assert.deepEqual(m.payload.map((f: any) => [f.id, f.smoothed.label, f.smoothed.since]), [[1, 'happy', 1_000_000], [2, 'sadness', 1_000_000]]);
    assert.deepEqual(m.payload[0].box, { x: 0, y: 0, width: 10, height: 10 });
    assert.equal(m.topic, 'x');
    assert.equal(m.frame.sourceId, 'cam');
    assert.equal(m.timing.classify, 3);
    assert.equal(typeof m.timing.smooth, 'number');
    assert.deepEqual(m.smoothing, { tracks: 2, labels: { happy: 1, sadness: 1 }, lost: [] });
    // one half-life later the first frame weighs 1/2, the new one 1: (0.9 / 2 + 0.1) / 1.5 for face 1
    got = next('out');
    s1.receive({ payload: [face(1, 'sadness')], frame: { ...frame, timestamp: 1_000_500 } });
    m = await got;
    assert.ok(Math.abs(m.payload[0].smoothed.probabilities.happy - (0.9 / 2 + 0.1) / 1.5) < 1e-9);
    assert.equal(m.payload[0].smoothed.label, 'sadness', 'within the warm-up (2 half-lives) the label follows the top score');
    // after the warm-up the hysteresis holds: a sadness frame does not flip a settled happy track
    for (let i = 0; i < 10; i++) {
      got = next('out');
      s1.receive({ payload: [face(1, 'happy')], frame: { ...frame, timestamp: 1_001_000 + 100 * i } });
      await got;
    }
    got = next('out');
    s1.receive({ payload: [face(1, 'sadness')], frame: { ...frame, timestamp: 1_002_000 } });
    assert.equal((await got).payload[0].smoothed.label, 'happy');
  });

  it('routes bad input to a Catch node with a clear message, once, and sends nothing', async () => {
    await helper.load([smoothNode, catchNode], flow());
    const sent: unknown[] = [];
    helper.getNode('out').on('input', (m: unknown) => sent.push(m));
    const caught: any[] = [];
    helper.getNode('caught').on('input', (m: unknown) => caught.push(m));
    const bad: Array<[unknown, RegExp]> = [
      ['not faces', /msg.payload must be an array of faces/],
      [[{ id: 1 }], /has no emotion: wire the classifier/],
      [[{ ...face(1, 'happy'), id: -2 }], /invalid track id -2/],
      [[{ id: 1, emotion: { label: 'happy', confidence: 0.5, probabilities: { happy: NaN } } }], /got NaN/],
    ];
    for (const [payload] of bad) helper.getNode('s1').receive({ payload });
    await wait(100);
    assert.equal(caught.length, bad.length);
    bad.forEach(([, re], i) => {
      assert.match(caught[i].error.message, re);
      assert.equal(caught[i].error.source.id, 's1');
    });
    assert.equal(sent.length, 0);
    // the node keeps working after bad input
    const got = next('out');
    helper.getNode('s1').receive({ payload: [face(3, 'happy')] });
    assert.equal((await got).payload[0].smoothed.label, 'happy');
  });

  it('labels named like Object.prototype members (a custom model) smooth correctly; status and msg.smoothing count them', async () => {
    await helper.load([smoothNode, catchNode], flow());
    const s1 = helper.getNode('s1');
    const statuses = watchStatus(s1);
    const caught: any[] = [];
    helper.getNode('caught').on('input', (m: unknown) => caught.push(m));
    const names = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__'];
    // as parsed from JSON (an MQTT or HTTP input): `__proto__` is an own key
    const payload = () => JSON.parse(`[${names.map((x, i) => `{"id": ${i + 1}, "emotion": {"label": "${x}", "confidence": 0.9, "probabilities": {"${x}": 0.9, "neutral": 0.1}}}`).join(', ')}]`);
    let m: any;
    for (let i = 0; i < 3; i++) {
      const got = next('out');
      s1.receive({ payload: payload(), frame: { timestamp: 1_000_000 + 100 * i } });
      m = await got;
    }
    assert.deepEqual(m.payload.map((f: any) => f.smoothed.label), names);
    m.payload.forEach((f: any, i: number) => {
      assert.ok(Math.abs(f.smoothed.confidence - 0.9) < 1e-9, `${names[i]}: confidence ${f.smoothed.confidence}`);
      const probs = Object.entries(f.smoothed.probabilities).map(([k, v]) => [k, Math.round((v as number) * 1e9) / 1e9]);
      assert.deepEqual(probs.sort(), [[names[i], 0.9], ['neutral', 0.1]].sort());
    });
    assert.deepEqual(Object.entries(m.smoothing.labels).sort(), names.map((x) => [x, 1]).sort());
    assert.equal(m.smoothing.tracks, 5);
    // status updates are throttled to 2/s: wait for the latest one
    const re = /^5 tracks: (constructor|toString|valueOf|hasOwnProperty|__proto__) 1$/;
    await until(() => statuses.some((st) => re.test(st.text)), 2000, () => statuses.map((st) => st.text).join(' | '));
    assert.equal(caught.length, 0);
  });

  it('a malformed face.smoothed on the input goes to Catch naming the face and field, once, and nothing is sent', async () => {
    const nodes = [...flow(), { id: 'done1', z: 'tab', type: 'complete', scope: ['s1'], uncaught: false, wires: [['completed']] }, { id: 'completed', z: 'tab', type: 'helper' }];
    await helper.load([smoothNode, catchNode, completeNode], nodes);
    const sent: unknown[] = [];
    const caught: any[] = [];
    const completed: unknown[] = [];
    helper.getNode('out').on('input', (m: unknown) => sent.push(m));
    helper.getNode('caught').on('input', (m: unknown) => caught.push(m));
    helper.getNode('completed').on('input', (m: unknown) => completed.push(m));
    helper.getNode('s1').receive({ payload: [{ ...face(2, 'happy'), smoothed: 'garbage' }] });
    await wait(100);
    assert.equal(caught.length, 1);
    assert.equal(caught[0].error.message, 'InputError: face 0 (track 2): smoothed is "garbage", expected {label, confidence, probabilities}');
    assert.equal(completed.length, 0);
    assert.equal(sent.length, 0);
  });

  it('reports an invalid configuration once at start and rejects input with it', async () => {
    await helper.load([smoothNode, catchNode], flow({ halfLife: 0 }));
    const logged = helper.log().args.filter((a: any[]) => a[0]?.level === helper.log().ERROR && /halfLifeMs/.test(a[0].msg));
    assert.equal(logged.length, 1);
    const caught = next('caught');
    helper.getNode('s1').receive({ payload: [] });
    assert.match((await caught).error.message, /(Invalid smoothing configuration|errors\.config): Expected `halfLifeMs`/);
  });

  it('an invalid configuration: the refusal count pending in the throttled status is not shown after close', async () => {
    await helper.load([smoothNode, catchNode], flow({ halfLife: 0 }));
    const s1 = helper.getNode('s1');
    s1.receive({ payload: [] });
    await until(() => s1.status.args.some((a: any[]) => a[0]?.text === 'config error (1)'), 2000, 'the first refusal counted');
    // Within 500 ms of that status, the next counts wait in the status throttle's timer.
    s1.receive({ payload: [] });
    s1.receive({ payload: [] });
    const late: unknown[] = [];
    let closed = false;
    const status = s1.status;
    s1.status = function (this: unknown, ...args: unknown[]) {
      if (closed) late.push(args[0]);
      return status.apply(this, args);
    };
    await helper.unload();
    closed = true;
    await wait(700);
    // A redeployed node has the same id: a late red "config error (3)" would cover its status.
    assert.deepEqual(late, [], 'no status set after close');
  });

  it('forgets tracks on a timer when frames stop and reports them lost on the next message', async () => {
    await helper.load([smoothNode, catchNode], flow({ trackTimeout: 100 }));
    const s1 = helper.getNode('s1');
    let got = next('out');
    s1.receive({ payload: [face(4, 'happy')] });
    await got;
    await wait(700); // the sweep runs at 100 ms; status updates are throttled to 2/s
    const last = s1.status.lastCall.args[0];
    assert.equal(last.fill, 'blue');
    assert.equal(last.text, '0 tracks', 'no labels left: "N tracks" without labels');
    got = next('out');
    s1.receive({ payload: [] });
    const m = await got;
    assert.deepEqual(m.smoothing.lost.map((l: any) => [l.id, l.label, l.reason]), [[4, 'happy', 'timeout']]);
  });

  it('status: singular for one track ("1 track: happy 1"), plural otherwise ("2 tracks: happy 2")', async () => {
    await helper.load([smoothNode, catchNode], flow());
    const s1 = helper.getNode('s1');
    const statuses = watchStatus(s1);
    const texts = () => statuses.map((st) => st.text).join(' | ');
    let got = next('out');
    s1.receive({ payload: [face(1, 'happy')] });
    await got;
    // status updates are throttled to 2/s: wait for the latest one
    await until(() => statuses.some((st) => st.text === '1 track: happy 1'), 2000, texts);
    got = next('out');
    s1.receive({ payload: [face(1, 'happy'), face(2, 'happy')] });
    await got;
    await until(() => statuses.some((st) => st.text === '2 tracks: happy 2'), 2000, texts);
    assert.ok(!statuses.some((st) => /\b1 tracks\b/.test(st.text)), texts());
  });

  it('clears its timers and status on close', async () => {
    const before = timers();
    await helper.load([smoothNode, catchNode], flow({ trackTimeout: 60_000 }));
    const s1 = helper.getNode('s1');
    const statuses = watchStatus(s1);
    const got = next('out');
    s1.receive({ payload: [face(1, 'happy')] });
    await got;
    assert.ok(timers() > before, 'a sweep timer is armed while a track is remembered');
    await helper.unload();
    await wait(600); // let the throttled status timer (if any) run out
    assert.ok(timers() <= before, `timers left after close: ${timers() - before}`);
    assert.deepEqual(statuses[statuses.length - 1], {});
  });

  it('calls done exactly once per message: Complete sees each good one, Catch each bad one', async () => {
    const nodes = [...flow(), { id: 'done1', z: 'tab', type: 'complete', scope: ['s1'], uncaught: false, wires: [['completed']] }, { id: 'completed', z: 'tab', type: 'helper' }];
    await helper.load([smoothNode, catchNode, completeNode], nodes);
    const completed: unknown[] = [];
    const caught: unknown[] = [];
    helper.getNode('completed').on('input', (m: unknown) => completed.push(m));
    helper.getNode('caught').on('input', (m: unknown) => caught.push(m));
    const n = helper.getNode('s1');
    for (let i = 0; i < 3; i++) n.receive({ payload: [face(1, 'happy')] });
    n.receive({ payload: 42 });
    await wait(150);
    assert.equal(completed.length, 3);
    assert.equal(caught.length, 1);
  });
});
