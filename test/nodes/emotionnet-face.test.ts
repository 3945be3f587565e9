/* eslint-disable @typescript-eslint/no-explicit-any -- node-red-node-test-helper messages and nodes are untyped */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { catchNode, collect, countTerminations, helper, load, ROOT, sleep, until, watchWorkerPosts } from './helpers';
import { watchStatus } from '../helpers/status';

const faceNode = load('nodes/emotionnet-face/emotionnet-face.js');
const image = load('src/image/index.js');
// The registry the node (loaded from dist) reports to.
const { FlowControl } = load('src/overload.js');

const photo = path.join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample1.jpg');
const noPhotos = fs.existsSync(photo) ? false : '@vladmandic/face-api (devDependency with the demo photos) is not installed';

const flow = (extra: Record<string, unknown> = {}) => [
  { id: 'tab', type: 'tab' },
  { id: 'f1', z: 'tab', x: 0, y: 0, type: 'emotionnet-face', wires: [['out']], ...extra },
  { id: 'out', z: 'tab', x: 0, y: 0, type: 'helper' },
  { id: 'k1', z: 'tab', x: 0, y: 0, type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
  { id: 'caught', z: 'tab', x: 0, y: 0, type: 'helper' },
];

/** A 640x480 rgb24 frame of the demo photo (three faces), letterboxed. */
function photoFrame() {
  const img = image.toRgb(image.decodeImage(fs.readFileSync(photo)));
  return image.frameFromImage(image.letterbox(img, 640, 480).image, { sourceId: 'cam', seq: 0, timestamp: 1000 });
}

/** Waits until the node reports ready (the detector loaded). */
async function ready(statuses: any[]): Promise<void> {
  await until(() => statuses.some((s) => s.fill === 'green'), 20000, 'detector ready');
}

describe('emotionnet-face node', () => {
  before(() => new Promise<void>((r) => helper.startServer(r)));
  after(() => new Promise<void>((r) => helper.stopServer(r)));
  afterEach(() => helper.unload());

  it('loads with defaults and becomes ready', async () => {
    await helper.load([faceNode, catchNode], [{ id: 'f1', type: 'emotionnet-face', name: 'faces' }]);
    const n = helper.getNode('f1');
    assert.equal(n.name, 'faces');
    await ready(watchStatus(n));
  });

  it('a JPEG Buffer → Face[] with 48x48 crops, msg.frame and timing.detect; status shows faces and ms', { skip: noPhotos }, async () => {
    await helper.load([faceNode, catchNode], flow({ jpeg: true }));
    const n = helper.getNode('f1');
    const statuses = watchStatus(n);
    const jpeg = fs.readFileSync(photo);
    const got = collect(helper.getNode('out'), 1, 20000);
    n.receive({ payload: jpeg, timing: { decode: 3 } });
    const [m] = await got;
    assert.equal(m.payload.length, 3);
    for (const f of m.payload) {
      assert.equal(typeof f.id, 'number');
      assert.ok(f.score > 0.45);
      assert.deepEqual(Object.keys(f.keypoints).sort(), ['leftEar', 'leftEye', 'mouth', 'nose', 'rightEar', 'rightEye']);
      assert.equal(f.crop.width, 48);
      assert.ok(Buffer.isBuffer(f.crop.data) && f.crop.data.length === 48 * 48);
      assert.ok(Buffer.isBuffer(f.jpeg) && f.jpeg[0] === 0xff);
      assert.ok(f.box.x >= 0 && f.box.x + f.box.width <= 1920);
    }
    assert.equal(m.frame.format, 'jpeg');
    assert.equal(m.frame.data, jpeg);
    assert.equal(m.frame.width, 1920);
    assert.ok(m.timing.decode > 0 && m.timing.decode !== 3, 'the node decoded the Buffer and timed it');
    assert.equal(typeof m.timing.detect, 'number');
    await until(() => statuses.some((s) => s.fill === 'blue' && /^3 faces \d/.test(s.text)), 3000, 'status with faces');
  });

  it("a JPEG payload with the video node's msg.frame keeps that frame's source, seq and times: two cameras are tracked apart", { skip: noPhotos }, async () => {
    await helper.load([faceNode, catchNode], flow());
    const n = helper.getNode('f1');
    const jpeg = fs.readFileSync(photo);
    // What the video node sends with Output = jpeg: the JPEG in msg.payload, its Frame in msg.frame.
    const frameOf = (sourceId: string, seq: number) => ({ width: 1920, height: 1280, format: 'jpeg', data: jpeg, timestamp: 5000 + seq, seq, sourceId, pts: 40 * seq });
    const got = collect(helper.getNode('out'), 3, 20000);
    n.receive({ payload: jpeg, frame: frameOf('cam-a', 7) });
    n.receive({ payload: Buffer.from(jpeg), frame: frameOf('cam-b', 3) }); // a copy, as after a fan-out
    n.receive({ payload: jpeg }); // a still image: one source per node, as before
    const [a, b, still] = await got;
    assert.deepEqual([a.frame.sourceId, a.frame.seq, a.frame.timestamp, a.frame.pts, a.frame.format], ['cam-a', 7, 5007, 280, 'jpeg']);
    assert.deepEqual([b.frame.sourceId, b.frame.seq, b.frame.timestamp, b.frame.pts], ['cam-b', 3, 5003, 120]);
    assert.equal(still.frame.sourceId, 'buffer:f1');
    assert.equal(a.payload.length, 3);
    assert.equal(b.payload.length, 3);
    const ids = (m: any) => m.payload.map((f: any) => f.id);
    // The same picture in two cameras is two sets of people, not the same tracks seen again.
    assert.equal(ids(a).filter((id: number) => ids(b).includes(id)).length, 0, `ids ${ids(a)} vs ${ids(b)}`);
  });

  it('a JPEG with msg.frame is tracked on the time base of the same raw frame (pts); a msg.frame of another size is not adopted', { skip: noPhotos }, async () => {
    const pipeline = load('src/face/pipeline.js');
    const times: Record<string, number> = {};
    const orig = pipeline.FacePipeline.prototype.processImage;
    pipeline.FacePipeline.prototype.processImage = function (img: unknown, time: number, sid: string) {
      times[sid] = time;
      return orig.call(this, img, time, sid);
    };
    try {
      await helper.load([faceNode, catchNode], flow());
      const n = helper.getNode('f1');
      const jpeg = fs.readFileSync(photo);
      const raw = image.frameFromImage(image.toRgb(image.decodeImage(jpeg)), { sourceId: 'raw', seq: 3, timestamp: 1_764_000_000_000 });
      const got = collect(helper.getNode('out'), 3, 20000);
      n.receive({ payload: { ...raw, pts: 120 } });
      n.receive({ payload: jpeg, frame: { ...raw, format: 'jpeg', data: jpeg, sourceId: 'jpg', pts: 120 } });
      // a msg.frame left over from an earlier image (e.g. before a file-in node): another size
      n.receive({ payload: jpeg, frame: { ...raw, width: 640, height: 480, sourceId: 'stale' } });
      const [, , stale] = await got;
      assert.equal(times.jpg, times.raw);
      assert.equal(times.raw, 120);
      assert.equal(stale.frame.sourceId, 'buffer:f1');
      assert.equal(times.stale, undefined);
    } finally {
      pipeline.FacePipeline.prototype.processImage = orig;
    }
  });

  it('a redeployed face node, or a second one, never reuses a track id (smooth and alert state downstream is keyed by it)', { skip: noPhotos }, async () => {
    const flows = (maxFaces: number) => [...flow({ maxFaces }), { id: 'f2', z: 'tab', x: 0, y: 0, type: 'emotionnet-face', wires: [['out']] }];
    await helper.load([faceNode, catchNode], flows(10));
    const idsOf = async (node: string) => {
      const got = collect(helper.getNode('out'), 1, 20000);
      helper.getNode(node).receive({ payload: photoFrame() });
      const [m] = await got;
      assert.equal(m.payload.length, 3);
      return m.payload.map((f: any) => f.id as number);
    };
    const first = await idsOf('f1');
    const second = await idsOf('f2'); // another face node, same source id
    await helper.setFlows(flows(9), 'nodes'); // "Modified nodes" deploy: a new f1
    const afterRedeploy = await idsOf('f1');
    const all = [...first, ...second, ...afterRedeploy];
    assert.equal(new Set(all).size, 9, `ids ${first} | ${second} | ${afterRedeploy}`);
  });

  it('a raw Frame payload (and msg.frame) → faces; a frame with no faces → []', { skip: noPhotos }, async () => {
    await helper.load([faceNode, catchNode], flow());
    const n = helper.getNode('f1');
    const frame = photoFrame();
    const got = collect(helper.getNode('out'), 4, 20000);
    const blank = Buffer.alloc(frame.data.length, 120);
    n.receive({ payload: frame });
    n.receive({ payload: 'ignored', frame: { ...frame, seq: 1, timestamp: 1033 } });
    n.receive({ payload: { ...frame, data: blank, seq: 2, timestamp: 1066 } });
    n.receive({ payload: { ...frame, data: blank, sourceId: 'other' } });
    const [a, b, c, d] = await got;
    assert.equal(a.payload.length, 3);
    assert.equal(a.frame, frame);
    const ids = a.payload.map((f: any) => f.id).sort();
    assert.deepEqual(b.payload.map((f: any) => f.id).sort(), ids, 'same faces keep their ids');
    // One missed detection: the faces are held (moved by the tracker), marked detected: false.
    assert.deepEqual(c.payload.map((f: any) => f.id).sort(), ids);
    assert.ok(c.payload.every((f: any) => f.detected === false && f.crop.data.length === 48 * 48));
    // A source without faces gives an empty array.
    assert.deepEqual(d.payload, []);
  });

  it('with defaults it crops with the fer2013 framing of the default in-the-wild classifier; ck48 stays selectable', { skip: noPhotos }, async () => {
    const node = (id: string, extra: Record<string, unknown>) => ({ id, z: 'tab', x: 0, y: 0, type: 'emotionnet-face', wires: [[`out-${id}`]], ...extra });
    const ids = ['dflt', 'fer', 'ck'];
    await helper.load([faceNode, catchNode], [
      { id: 'tab', type: 'tab' },
      node('dflt', {}), // a face node dropped in with its defaults (no framing saved)
      node('fer', { framing: 'fer2013' }),
      node('ck', { framing: 'ck48' }), // a flow saved with the CK+ framing keeps it
      ...ids.map((id) => ({ id: `out-${id}`, z: 'tab', x: 0, y: 0, type: 'helper' })),
    ]);
    const frame = photoFrame();
    const crops: Record<string, Buffer[]> = {};
    await Promise.all(ids.map(async (id) => {
      const got = collect(helper.getNode(`out-${id}`), 1, 30000);
      helper.getNode(id).receive({ payload: frame });
      const [m] = await got;
      crops[id] = [...m.payload].sort((a: any, b: any) => a.box.x - b.box.x).map((f: any) => f.crop.data);
    }));
    assert.equal(crops.dflt.length, 3);
    crops.dflt.forEach((c, i) => {
      assert.ok(c.equals(crops.fer[i]), `face ${i}: default crop = fer2013 crop`);
      assert.ok(!c.equals(crops.ck[i]), `face ${i}: default crop differs from the ck48 crop`);
    });
  });

  it('bad input → done(err) seen by a Catch node, never a crash', async () => {
    await helper.load([faceNode, catchNode], flow());
    const n = helper.getNode('f1');
    const jpeg = image.encodeJpeg({ width: 64, height: 48, channels: 3, data: new Uint8Array(64 * 48 * 3) });
    const huge = Buffer.from(jpeg);
    const sof = huge.indexOf(Buffer.from([0xff, 0xc0]));
    huge.writeUInt16BE(4320, sof + 5);
    huge.writeUInt16BE(7680, sof + 7);
    const cases: Array<[unknown, RegExp]> = [
      ['hello', /msg.payload must be a Frame/],
      [jpeg.subarray(0, 100), /Corrupt image: corrupt JPEG/],
      [{ width: 0, height: 0, format: 'rgb24', data: Buffer.alloc(0) }, /empty/i],
      [huge, /too large.*7680x4320/i],
      [Buffer.from('GIF89a not supported'), /not a JPEG, PNG or TIFF/],
      [{ width: 10, height: 10, format: 'rgb24', data: Buffer.alloc(5), timestamp: 0, seq: 0, sourceId: 'x' }, /expected 300/],
    ];
    for (const [payload, expected] of cases) {
      const caught = collect(helper.getNode('caught'), 1, 20000);
      n.receive({ payload });
      const [m] = await caught;
      assert.match(m.error.message, expected);
    }
    // Still alive: a good frame after all that is processed.
    const got = collect(helper.getNode('out'), 1, 20000);
    n.receive({ payload: { width: 32, height: 32, format: 'gray', data: Buffer.alloc(32 * 32, 128), timestamp: 0, seq: 0, sourceId: 'y' } });
    assert.deepEqual((await got)[0].payload, []);
  });

  it('policy latest: frames arriving while busy are replaced by the newest and counted', { skip: noPhotos }, async () => {
    await helper.load([faceNode, catchNode], flow({ policy: 'latest' }));
    const n = helper.getNode('f1');
    const statuses = watchStatus(n);
    await ready(statuses);
    const frame = photoFrame();
    const out: any[] = [];
    helper.getNode('out').on('input', (m: any) => out.push(m));
    n.receive({ payload: { ...frame, seq: 0, timestamp: 1000 }, i: 0 });
    await until(() => out.length === 1, 20000, 'the first output');
    // Frames that arrive together (Node-RED delivers each in its own turn): only the newest is processed.
    for (let i = 1; i < 5; i++) n.receive({ payload: { ...frame, seq: i, timestamp: 1000 + 33 * i }, i });
    await until(() => out.length === 2, 20000, 'two outputs');
    assert.deepEqual(out.map((m) => m.i), [0, 4]);
    await until(() => statuses.some((s) => / -3$/.test(s.text ?? '')), 3000, 'drops in status');
  });

  it('threads: two cameras detected in worker threads, each camera in order; the close stops the workers', { skip: noPhotos }, async () => {
    const stops = countTerminations();
    try {
      await helper.load([faceNode, catchNode], flow({ threads: 2, policy: 'queue' }));
      const n = helper.getNode('f1');
      const statuses = watchStatus(n);
      await until(() => statuses.some((s) => s.fill === 'green' && s.text === 'wasm x2 ready'), 30000, () => `ready with two worker threads (statuses: ${JSON.stringify(statuses)})`);
      const frame = photoFrame();
      const out: any[] = [];
      helper.getNode('out').on('input', (m: any) => out.push(m));
      const caught: any[] = [];
      helper.getNode('caught').on('input', (m: any) => caught.push(m));
      for (let seq = 0; seq < 3; seq++) {
        for (const cam of ['cam-a', 'cam-b']) n.receive({ payload: { ...frame, sourceId: cam, seq, timestamp: 1000 + 100 * seq } });
      }
      // A JPEG Buffer takes the same path (decoded in Node-RED's thread, detected in a worker).
      n.receive({ payload: fs.readFileSync(photo) });
      await until(() => out.length === 7, 30000, 'seven outputs');
      assert.deepEqual(caught, []);
      for (const cam of ['cam-a', 'cam-b']) {
        const mine = out.filter((m) => m.frame.sourceId === cam);
        assert.deepEqual(mine.map((m) => m.frame.seq), [0, 1, 2], `${cam} in order`);
        assert.deepEqual(mine.map((m) => m.payload.length), [3, 3, 3]);
        assert.deepEqual(new Set(mine[2].payload.map((f: any) => f.id)), new Set(mine[0].payload.map((f: any) => f.id)), `${cam}: ids kept`);
      }
      const a = new Set(out.filter((m) => m.frame.sourceId === 'cam-a').flatMap((m) => m.payload.map((f: any) => f.id)));
      assert.ok(out.filter((m) => m.frame.sourceId === 'cam-b').every((m) => m.payload.every((f: any) => !a.has(f.id))), 'the cameras share no id');
      assert.equal(out.find((m) => m.frame.format === 'jpeg').payload.length, 3);
      await helper.unload();
      assert.equal(stops.count, 2, 'both worker threads stopped on close');
    } finally {
      stops.restore();
    }
  });

  // Frames faster than detection from the moment of deploy: the frames held while loading were
  // drained until nothing was held, which with a worker-thread detector (it yields on every frame)
  // never happened: the loading gate stayed shut and most frames were completed without output and
  // without a count.
  it('threads, frames faster than detection from deploy on: the gate opens and every frame is output or counted', { skip: noPhotos }, async () => {
    await helper.load([faceNode, catchNode], flow({ threads: 1, policy: 'latest' }));
    const n = helper.getNode('f1');
    const statuses = watchStatus(n);
    const frame = photoFrame();
    const out: any[] = [];
    helper.getNode('out').on('input', (m: any) => out.push(m));
    let sent = 0;
    let sentAtReady = -1;
    // The frames held at load time have been processed (the drain logs its drops at its end).
    const drained = () => n.log.args.some((a: any[]) => /dropped while the detector was loading/.test(String(a[0])));
    let sentAtDrainEnd = -1;
    // Frames keep coming until the drain has ended and 1 s more has passed (the worker's load
    // takes longer on a loaded machine: a fixed 2.5 s run with the drain due in its first half
    // failed there with 474 of 933 frames sent before it).
    const t0 = Date.now();
    let drainedAt = Infinity;
    while (Date.now() - t0 < 20_000 && Date.now() - drainedAt < 1000) {
      if (sentAtReady < 0 && statuses.some((s) => s.fill === 'green')) sentAtReady = sent;
      if (sentAtDrainEnd < 0 && drained()) {
        sentAtDrainEnd = sent;
        drainedAt = Date.now();
      }
      for (const cam of ['cam-a', 'cam-b', 'cam-c']) n.receive({ payload: { ...frame, sourceId: cam, seq: sent, timestamp: Date.now() } });
      sent += 3;
      await new Promise((r) => setTimeout(r, 4));
    }
    assert.ok(sentAtReady >= 0 && sentAtReady <= sentAtDrainEnd, `the detector loaded (${sentAtReady} of ${sent} frames before)`);
    assert.ok(sentAtDrainEnd >= 0 && sent - sentAtDrainEnd >= 30, `the held frames were processed while frames kept coming (${sentAtDrainEnd} of ${sent} frames before)`);
    await sleep(1500); // the last frames finish
    const text = () => String([...statuses].reverse().find((s) => s.fill === 'blue')?.text ?? '');
    await until(() => / faces? /.test(text()), 3000, () => `a running status (${JSON.stringify(statuses.slice(-3))})`);
    const dropped = Number(/ -(\d+)$/.exec(text())?.[1] ?? 0);
    const loadingLine = n.log.args.map((a: any[]) => String(a[0])).find((l: string) => /dropped while the detector was loading/.test(l));
    const droppedLoading = Number(/(\d+) message/.exec(loadingLine ?? '')?.[1] ?? 0);
    assert.ok(out.length > 10, `frames went through (${out.length} of ${sent})`);
    assert.equal(out.length + dropped + droppedLoading, sent, `${out.length} output + ${dropped} dropped + ${droppedLoading} dropped while loading`);
    // Frames after the load and the short drain of the few held while loading go through the
    // overload policy, counted in the status, not through the loading hold (how many arrive
    // during the drain depends on the machine's load: the bound is the frames sent until it ended).
    assert.ok(droppedLoading <= sentAtDrainEnd, `${droppedLoading} dropped as "while loading", ${sentAtDrainEnd} frames arrived before the drain ended (${sentAtReady} before the detector was ready)`);
  });

  it('threads: closed while its workers load their detector, they are stopped at once', async () => {
    const stops = countTerminations();
    try {
      await helper.load([faceNode, catchNode], flow({ threads: 2 }));
      const n = helper.getNode('f1');
      const errored: string[] = [];
      n.error = (m: unknown) => errored.push(String(m));
      await helper.unload(); // at once: the detectors are still loading
      assert.equal(stops.count, 2, 'both loading workers stopped by the close');
      await sleep(1500);
      assert.equal(stops.count, 2, 'nothing loaded afterwards to stop');
      assert.deepEqual(errored, [], 'a close is not a load failure');
    } finally {
      stops.restore();
    }
  });

  it('threads: when every worker has died and none can be replaced, one error to Catch per interval, the rest counted in a red status', { skip: noPhotos }, async () => {
    const posts = watchWorkerPosts();
    try {
      await helper.load([faceNode, catchNode], flow({ threads: 1, policy: 'queue' }));
      const n = helper.getNode('f1');
      const statuses = watchStatus(n);
      await until(() => statuses.some((s) => s.fill === 'green'), 30000, 'ready');
      const caught: any[] = [];
      helper.getNode('caught').on('input', (m: any) => caught.push(m));
      const frame = photoFrame();
      // The worker and its 3 replacements die, each while detecting a frame: each is stopped as the
      // frame is sent to it (stopped once the test saw the frame sent, a worker that got ~50 ms of
      // CPU first had detected it, and no error came).
      for (let k = 0; k < 4; k++) {
        posts.stopped = null;
        posts.stopNext = true;
        n.receive({ payload: { ...frame, seq: k } });
        await until(() => posts.stopped !== null, 30000, `frame ${k} sent to a worker`);
        await posts.stopped;
        await until(() => caught.length === k + 1, 5000, `frame ${k} failed`);
      }
      assert.ok(caught.every((m) => /face detection failed/.test(m.error.message)), JSON.stringify(caught.map((m) => m.error.message)));
      for (let i = 0; i < 12; i++) n.receive({ payload: { ...frame, seq: 10 + i } }); // within the queue's 16
      await until(() => statuses.some((s) => s.fill === 'red' && /^detector stopped \(12\)$/.test(s.text)), 5000, () => `red status (${JSON.stringify(statuses.slice(-2))})`);
      await sleep(100);
      assert.equal(caught.length, 5, 'one more error for the 12 frames, not 12');
      assert.match(caught[4].error.message, /Face detection stopped: .*every worker thread stopped.*Redeploy/);
    } finally {
      posts.restore();
    }
  });

  it('Region and Ignore: only the faces whose centre counts; a bad zone is a configuration error', { skip: noPhotos }, async () => {
    const frame = photoFrame();
    const zonesSeen: unknown[] = [];
    const run = async (extra: Record<string, unknown>) => {
      await helper.load([faceNode, catchNode], flow(extra));
      const got = collect(helper.getNode('out'), 1, 20000);
      // A msg.zones from further up (another face node) is replaced, or removed without zones.
      helper.getNode('f1').receive({ payload: frame, zones: { roi: { x: 0.9, y: 0.9, width: 0.1, height: 0.1 }, ignore: [] } });
      const [m] = await got;
      await helper.unload();
      zonesSeen.push(m.zones);
      return m.payload.map((f: any) => f.box.x + f.box.width / 2) as number[];
    };
    const all = await run({});
    assert.equal(all.length, 3);
    const leftHalf = await run({ roi: '0,0,50,100' });
    assert.deepEqual(leftHalf.length, all.filter((c) => c < 320).length);
    assert.ok(leftHalf.every((c) => c < 320));
    const notLeft = await run({ ignore: '0,0,50,100; 0,0,1,1' });
    assert.deepEqual(notLeft.length, all.filter((c) => c >= 320).length);
    assert.deepEqual(await run({ ignore: '0,0,100,100' }), []);
    // msg.zones (for the preview): absent without zones, in fractions of the frame with them.
    assert.deepEqual(zonesSeen.slice(0, 3), [
      undefined,
      { roi: { x: 0, y: 0, width: 0.5, height: 1 }, ignore: [] },
      { roi: null, ignore: [{ x: 0, y: 0, width: 0.5, height: 1 }, { x: 0, y: 0, width: 0.01, height: 0.01 }] },
    ]);

    await helper.load([faceNode, catchNode], flow({ roi: '60,0,50,100' }));
    const caught = collect(helper.getNode('caught'), 1, 20000);
    helper.getNode('f1').receive({ payload: frame });
    assert.match((await caught)[0].error.message, /Invalid configuration.*`roi\[0\]`/);
  });

  for (const [name, extra, error] of [
    ['rejects an invalid configuration: every message refused and counted, one error per 5 s (not one per frame)', { inputSize: 20 }, /Invalid configuration.*inputSize/],
    ['threads outside 0..8: a configuration error, every message refused, no crash', { threads: 20 }, /Invalid configuration.*threads/],
    ['a crop framing named like an Object member ("toString") is a configuration error', { framing: 'toString' }, /Invalid configuration.*Unknown crop framing "toString"/],
  ] as const) {
    it(name, async () => {
      await helper.load([faceNode, catchNode], flow(extra));
      const f1 = helper.getNode('f1');
      await until(() => f1.status.args.some((a: any[]) => a[0].fill === 'red'), 5000, 'red status');
      const statuses = watchStatus(f1);
      const caught: any[] = [];
      helper.getNode('caught').on('input', (m: any) => caught.push(m));
      for (let i = 0; i < 10; i++) f1.receive({ payload: Buffer.from([1, 2, 3]) });
      await until(() => statuses.some((st) => st.fill === 'red' && st.text === 'config error (10)'), 3000, () => `every message counted (${JSON.stringify(statuses.slice(-2))})`);
      await sleep(50);
      assert.equal(caught.length, 1, 'one error per 5 s, not one per message');
      assert.match(caught[0].error.message, error);
    });
  }

  it('queue policy: each source reports its own depth to FlowControl, a 33rd source of the deploy too', async () => {
    // Detection stands still while `held` is set, so frames wait in the queue.
    const pipeline = load('src/face/pipeline.js');
    const orig = pipeline.FacePipeline.prototype.process;
    let held: Promise<void> | null = null;
    let release = () => {};
    pipeline.FacePipeline.prototype.process = async () => {
      if (held) await held;
      return [];
    };
    try {
      await helper.load([faceNode, catchNode], flow({ policy: 'queue' }));
      const n = helper.getNode('f1');
      await ready(watchStatus(n));
      const gray = (sourceId: string, seq: number) => ({ payload: { width: 32, height: 32, format: 'gray', data: Buffer.alloc(32 * 32, 128), timestamp: 0, seq, sourceId } });
      // 32 sources have sent a frame this deploy (and been processed; 16 at a time, what the queue holds)…
      let got: Promise<unknown[]>;
      for (let i = 0; i < 32; i += 16) {
        got = collect(helper.getNode('out'), 16);
        for (let j = i; j < i + 16; j++) n.receive(gray(`fc-src-${j}`, 0));
        await got;
      }
      // …then a 33rd sends a burst while another source's frame is being detected.
      held = new Promise<void>((r) => (release = r));
      got = collect(helper.getNode('out'), 11);
      n.receive(gray('fc-busy', 0));
      for (let seq = 0; seq < 10; seq++) n.receive(gray('fc-src-32', seq));
      const depth = (sid: string) => FlowControl.for(sid).maxDepth;
      await until(() => depth('fc-src-32') === 10, 2000, () => `fc-src-32 at depth 10 (depth ${depth('fc-src-32')})`);
      // Its own depth only: not the other sources' (nothing of theirs waits).
      assert.equal(depth('fc-src-0'), 0, 'an earlier source with nothing queued');
      assert.equal(depth('fc-busy'), 0, 'the source of the running frame');
      release();
      await got;
      await until(() => depth('fc-src-32') === 0, 2000, () => `fc-src-32 back to 0 (depth ${depth('fc-src-32')})`);
      await helper.unload();
      assert.equal(depth('fc-src-32'), 0, 'after close');
    } finally {
      release();
      // FlowControl.for() above registered these (no stage holds them any more).
      for (const sid of ['fc-src-0', 'fc-busy', 'fc-src-32']) FlowControl.release(sid);
      pipeline.FacePipeline.prototype.process = orig;
    }
  });

  it('queue policy, two sources paced by flow control: each pauses on its own depth, so neither is refused', async () => {
    // What two video nodes playing files "as fast as the flow takes them" send: up to Pause above
    // (8) waiting frames each, and one more before the pause takes effect.
    const pipeline = load('src/face/pipeline.js');
    const orig = pipeline.FacePipeline.prototype.process;
    let release = () => {};
    const held = new Promise<void>((r) => (release = r));
    pipeline.FacePipeline.prototype.process = async () => {
      await held;
      return [];
    };
    try {
      await helper.load([faceNode, catchNode], flow({ policy: 'queue' }));
      const n = helper.getNode('f1');
      await ready(watchStatus(n));
      const caught: any[] = [];
      helper.getNode('caught').on('input', (m: any) => caught.push(m.error.message));
      const gray = (sourceId: string, seq: number) => ({ payload: { width: 32, height: 32, format: 'gray', data: Buffer.alloc(32 * 32, 128), timestamp: seq, seq, sourceId } });
      const got = collect(helper.getNode('out'), 20, 10000);
      for (let seq = 0; seq < 10; seq++) n.receive(gray('file-a', seq)); // 1 detecting, 9 waiting
      for (let seq = 0; seq < 10; seq++) n.receive(gray('file-b', seq));
      await sleep(100);
      assert.deepEqual(caught, [], 'no frame of file-b refused because file-a filled the queue');
      assert.deepEqual([FlowControl.for('file-a').maxDepth, FlowControl.for('file-b').maxDepth], [9, 10], 'each source sees its own depth (and pauses on it)');
      release();
      const out = await got;
      assert.deepEqual(out.map((m) => `${m.frame.sourceId}:${m.frame.seq}`).filter((s) => s.startsWith('file-b')), Array.from({ length: 10 }, (_, i) => `file-b:${i}`));
    } finally {
      release();
      for (const sid of ['file-a', 'file-b']) FlowControl.release(sid);
      pipeline.FacePipeline.prototype.process = orig;
    }
  });

  it('closes cleanly (status cleared)', async () => {
    await helper.load([faceNode, catchNode], flow());
    const n = helper.getNode('f1');
    const statuses = watchStatus(n);
    await ready(statuses);
    await helper.unload();
    assert.deepEqual(statuses[statuses.length - 1], {});
  });
});
