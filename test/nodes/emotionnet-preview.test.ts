/* eslint-disable @typescript-eslint/no-explicit-any -- node-red-node-test-helper and Node-RED objects are untyped */
import { after, afterEach, before, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import * as vm from 'vm';
import * as jpeg from 'jpeg-js';
import { catchNode, collect, completeNode, helper, load, ROOT, sleep, until } from './helpers';
import { watchStatus } from '../helpers/status';

const previewNode = load('nodes/emotionnet-preview/emotionnet-preview.js');
const { splitMjpeg, PreviewRenderer } = load('src/preview/index.js');

const frame = (v = 60) => ({ width: 160, height: 120, format: 'rgb24', data: Buffer.alloc(160 * 120 * 3, v), timestamp: Date.now(), seq: 0, sourceId: 'cam' });
const faces = [{ id: 3, box: { x: 40, y: 30, width: 50, height: 50 }, emotion: { label: 'happy', confidence: 0.8, probabilities: { happy: 0.8, sadness: 0.2 } } }];

/** A sound JPEG and broken ones that the node must reject before the message completes. */
const goodJpeg = () => load('src/preview/index.js').annotateFrame(frame(), []) as Buffer;
/** SOI + SOF0 (height, width, 3 components) + EOI: a header only. */
// A frame header, an empty scan (no Huffman tables: only decoding fails) and the end marker.
const headerOnly = (w: number, h: number) => Buffer.from([
  0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, h >> 8, h & 0xff, w >> 8, w & 0xff, 0x03,
  0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01,
  0xff, 0xda, 0x00, 0x0c, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0x11, 0x00, 0x3f, 0x00, 0x00,
  0xff, 0xd9,
]);
const badJpegs = () => {
  const good = goodJpeg();
  return [
    { what: 'no SOF', data: Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0xff, 0xd9]), error: /Invalid frame: corrupt JPEG: no frame header \(SOF\) found$/ },
    { what: 'truncated', data: good.subarray(0, good.length >> 1), error: /Invalid frame: corrupt JPEG: truncated \(no end-of-image marker\)$/ },
    { what: 'header-only 20000x20000', data: headerOnly(20000, 20000), error: /Invalid frame: JPEG image is 20000x20000 \(400\.0 MP\), above the limit of 16\.8 MP$/ },
  ];
};

const flow = (extra: Record<string, unknown> = {}, wired = true) => [
  { id: 'tab', type: 'tab' },
  { id: 'p1', z: 'tab', x: 0, y: 0, type: 'emotionnet-preview', maxFps: 0, quality: 80, maxWidth: 0, bars: true, caption: true, stream: true, wires: wired ? [['out']] : [[]], ...extra },
  { id: 'out', z: 'tab', x: 0, y: 0, type: 'helper' },
  { id: 'k1', z: 'tab', x: 0, y: 0, type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
  { id: 'caught', z: 'tab', x: 0, y: 0, type: 'helper' },
];

describe('emotionnet-preview node', () => {
  let server: http.Server | null = null;
  let base = '';
  /** The test helper makes a fresh admin app per load: serve the current one. */
  async function serveAdmin() {
    server = http.createServer(helper._httpAdmin);
    await new Promise<void>((r) => (server as http.Server).listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  }
  before(() => new Promise<void>((r) => helper.startServer(r)));
  after(() => new Promise<void>((r) => helper.stopServer(r)));
  afterEach(async () => {
    await helper.unload();
    if (server) {
      server.closeAllConnections();
      await new Promise((r) => (server as http.Server).close(r));
      server = null;
    }
  });

  it('is loaded with the documented defaults', async () => {
    await helper.load([previewNode], [{ id: 'p1', type: 'emotionnet-preview', name: 'pv', maxFps: 10, quality: 70, maxWidth: 640 }]);
    assert.equal(helper.getNode('p1').name, 'pv');
  });

  it('the editor takes whole pixels for Max width (0.4 px left every frame unrenderable) and a whole JPEG quality; any rate', () => {
    const html = fs.readFileSync(path.join(ROOT, 'nodes', 'emotionnet-preview', 'emotionnet-preview.html'), 'utf8');
    const script = /<script type="text\/javascript">([\s\S]*?)<\/script>/.exec(html);
    assert.ok(script, 'the editor script in emotionnet-preview.html');
    let def: any;
    vm.runInNewContext(script[1], { RED: { nodes: { registerType: (_t: string, d: unknown) => (def = d) } }, $: () => undefined });
    const valid = (p: string, v: unknown) => def.defaults[p].validate.call({}, v);
    assert.deepEqual(['0', '640', '4096', 0.4, '100.5', '4097', '-1', ''].map((v) => valid('maxWidth', v)), [true, true, true, false, false, false, false, false]);
    assert.deepEqual(['10', '100', '70.5', '9'].map((v) => valid('quality', v)), [true, true, false, false]);
    assert.deepEqual(['0', '0.5', '60', '61', ''].map((v) => valid('maxFps', v)), [true, true, true, false, false]);
  });

  it('sends an annotated JPEG in msg.payload with the faces in msg.faces', async () => {
    await helper.load([previewNode, catchNode], flow());
    const got = collect(helper.getNode('out'), 1, 5000);
    helper.getNode('p1').receive({ payload: faces, frame: frame(), topic: 'cam1' });
    const [m] = await got;
    assert.ok(Buffer.isBuffer(m.payload));
    const img = jpeg.decode(m.payload, { useTArray: true });
    assert.deepEqual([img.width, img.height], [160, 120]);
    assert.deepEqual(m.faces, faces);
    assert.equal(m.topic, 'cam1');
  });

  it("draws the face node's msg.zones: outside the region dimmed, ignore zones red", async () => {
    await helper.load([previewNode, catchNode], flow({ quality: 95, caption: false }));
    const got = collect(helper.getNode('out'), 1, 5000);
    const zones = { roi: { x: 0.5, y: 0, width: 0.5, height: 1 }, ignore: [{ x: 0.9, y: 0.9, width: 0.1, height: 0.1 }] };
    helper.getNode('p1').receive({ payload: [], frame: frame(120), zones });
    const [m] = await got;
    const img = jpeg.decode(m.payload, { useTArray: true, formatAsRGBA: false });
    const at = (x: number, y: number) => Array.from(img.data.subarray((y * 160 + x) * 3, (y * 160 + x) * 3 + 3));
    assert.ok(at(20, 60)[0] < 80, `left half dimmed (${at(20, 60)})`);
    assert.ok(Math.abs(at(100, 60)[0] - 120) < 10, `region unchanged (${at(100, 60)})`);
    const red = at(155, 115);
    assert.ok(red[0] > red[1] + 20, `ignore zone tinted red (${red})`);
  });

  it('draws a JPEG Buffer or Frame given in msg.payload (no faces)', async () => {
    await helper.load([previewNode, catchNode], flow());
    const got = collect(helper.getNode('out'), 1, 5000);
    const { annotateFrame } = load('src/preview/index.js');
    helper.getNode('p1').receive({ payload: annotateFrame(frame(), []) });
    const [m] = await got;
    assert.equal(jpeg.decode(m.payload).width, 160);
  });

  it('throttles to the max rate: extra frames complete without output', async () => {
    await helper.load([previewNode, catchNode], flow({ maxFps: 2 }));
    const out: unknown[] = [];
    helper.getNode('out').on('input', (m: unknown) => out.push(m));
    for (let i = 0; i < 10; i++) {
      helper.getNode('p1').receive({ payload: faces, frame: frame(i * 20) });
      await sleep(20);
    }
    await until(() => out.length > 0, 5000, 'first preview');
    await sleep(200);
    assert.equal(out.length, 1);
  });

  it('rejects messages without a frame, and corrupt frames, with errors a Catch node sees', async () => {
    await helper.load([previewNode, catchNode], flow());
    const caught = collect(helper.getNode('caught'), 3, 5000);
    const p1 = helper.getNode('p1');
    p1.receive({ payload: faces });
    p1.receive({ payload: faces, frame: { ...frame(), data: Buffer.alloc(5) } });
    p1.receive({ payload: { width: 10, height: 10, format: 'jpeg', data: Buffer.from([0xff, 0xd8, 0, 0, 0]) } });
    const errs = (await caught).map((m) => m.error.message);
    assert.match(errs[0], /No frame to draw on/);
    assert.match(errs[1], /Invalid frame: frame data has 5 bytes/);
    assert.match(errs[2], /Invalid frame: not a JPEG/);
  });

  /** Loads the flow plus a Complete node for p1; returns what the output, Catch and Complete nodes receive. */
  async function loadWithComplete(wired: boolean, extra: Record<string, unknown> = {}) {
    await helper.load([previewNode, catchNode, completeNode], [
      ...flow(extra, wired),
      { id: 'done1', z: 'tab', type: 'complete', scope: ['p1'], uncaught: false, wires: [['completed']] },
      { id: 'completed', z: 'tab', type: 'helper' },
    ]);
    const got = { out: [] as any[], caught: [] as any[], completed: [] as any[] };
    for (const id of ['out', 'caught', 'completed'] as const) helper.getNode(id).on('input', (m: unknown) => got[id].push(m));
    return got;
  }
  /** node.error calls of `node` so far: with a msg (Catch nodes see them) and without (log only). */
  const errorCalls = (node: any) => {
    const calls = node.error.getCalls().filter((c: any) => c.thisValue === node);
    return { withMsg: calls.filter((c: any) => c.args[1] !== undefined), logOnly: calls.filter((c: any) => c.args[1] === undefined) };
  };

  for (const wired of [true, false]) {
    it(`a corrupt, truncated or oversized JPEG is rejected once with done(err), never completed (output ${wired ? 'wired' : 'unwired, nobody watching'})`, async () => {
      const got = await loadWithComplete(wired);
      const p1 = helper.getNode('p1');
      const bad = badJpegs();
      for (const b of bad) p1.receive({ payload: b.data, _what: b.what });
      p1.receive({ payload: faces, frame: { ...frame(), format: 'jpeg', data: bad[0].data } }); // as msg.frame too
      await until(() => got.caught.length >= bad.length + 1, 5000, () => `errors: got ${got.caught.length}`);
      await sleep(300); // a late second report (after a render) would arrive here
      assert.equal(got.caught.length, bad.length + 1, got.caught.map((m) => m.error.message).join(' | '));
      bad.forEach((b, i) => assert.match(got.caught[i].error.message, b.error, b.what));
      assert.match(got.caught[bad.length].error.message, bad[0].error);
      assert.equal(got.completed.length, 0, 'no Complete for a rejected message');
      assert.equal(got.out.length, 0);
      assert.equal(errorCalls(p1).logOnly.length, 0);
    });
  }

  it('a JPEG that passes the checks but fails to render completes once and is logged without msg, at most once per 10 s', async () => {
    const got = await loadWithComplete(true);
    const p1 = helper.getNode('p1');
    // A frame header, an empty scan and EOI but no Huffman tables: only decoding finds out.
    const undecodable = headerOnly(16, 16);
    for (let i = 0; i < 3; i++) {
      p1.receive({ payload: undecodable });
      await sleep(100);
    }
    await until(() => errorCalls(p1).logOnly.length > 0, 5000, 'the logged render failure');
    await sleep(300);
    const { withMsg, logOnly } = errorCalls(p1);
    assert.equal(got.completed.length, 3, 'each message completes once');
    assert.equal(got.caught.length, 0, 'a completed message is not reported to Catch nodes');
    assert.equal(withMsg.length, 0);
    assert.equal(logOnly.length, 1, 'throttled');
    assert.match(String(logOnly[0].args[0]), /^Preview render failed: corrupt JPEG/);
    // a sound frame still renders afterwards
    p1.receive({ payload: goodJpeg() });
    await until(() => got.out.length === 1, 5000, 'output');
  });

  /**
   * Sends `n` JPEGs that pass the checks but fail to render, one at a time (a render waiting
   * behind another would be superseded, not fail); resolves once the node has handled each failure.
   */
  async function failRenders(p1: any, n: number): Promise<void> {
    const proto = PreviewRenderer.prototype;
    const orig = proto.render;
    let rendering: Promise<unknown> | null = null;
    proto.render = function (this: unknown, ...args: any[]) {
      return (rendering = orig.apply(this, args));
    };
    try {
      for (let i = 0; i < n; i++) {
        rendering = null;
        p1.receive({ payload: headerOnly(16, 16) });
        await until(() => rendering !== null, 5000, 'the render');
        // The node's own handler of the failure ran first (it awaited the render before this).
        await (rendering as unknown as Promise<unknown>).then(() => assert.fail('rendered'), () => undefined);
      }
    } finally {
      proto.render = orig;
    }
  }
  /** The failures that log lines account for: each line's own, plus the "(and N more …)" it counts. */
  const accounted = (calls: any[]) => calls.reduce((sum, c) => sum + 1 + Number(/\(and (\d+) more since the last one logged\)$/.exec(String(c.args[0]))?.[1] ?? 0), 0);

  it('render failures that stop: the ones not logged yet are logged, with their count, at the end of the 10 s interval', async () => {
    await loadWithComplete(true);
    const p1 = helper.getNode('p1');
    // The first failure is logged as if 9.5 s ago, so the interval ends soon after the next ones.
    const now = Date.now;
    const clock = mock.method(Date, 'now', () => now() - 9_500);
    try {
      await failRenders(p1, 1);
    } finally {
      clock.mock.restore();
    }
    assert.equal(errorCalls(p1).logOnly.length, 1);
    await failRenders(p1, 2);
    // No new failure: a timer logs the pending ones.
    await until(() => accounted(errorCalls(p1).logOnly) === 3, 15_000, () => `3 failures logged (${errorCalls(p1).logOnly.map((c: any) => c.args[0]).join(' | ')})`);
    const { logOnly } = errorCalls(p1);
    assert.ok(logOnly.length <= 3);
    assert.match(String(logOnly[logOnly.length - 1].args[0]), /^Preview render failed: corrupt JPEG/);
  });

  it('render failures not logged yet when the node closes are logged on close, with their count', async () => {
    await loadWithComplete(true);
    const p1 = helper.getNode('p1');
    await failRenders(p1, 3);
    assert.equal(errorCalls(p1).logOnly.length, 1, 'throttled');
    await p1.close();
    const { logOnly } = errorCalls(p1);
    assert.equal(accounted(logOnly), 3, logOnly.map((c: any) => c.args[0]).join(' | '));
    assert.equal(logOnly.length, 2);
    assert.match(String(logOnly[1].args[0]), /^Preview render failed: corrupt JPEG.* \(and 1 more since the last one logged\)$/);
  });

  it('serves a live MJPEG stream and a snapshot on the admin server; 404 for unknown ids', async () => {
    await helper.load([previewNode, catchNode], flow({}, false));
    await serveAdmin();
    const p1 = helper.getNode('p1');
    const body = new Promise<{ type: string; data: Buffer }>((resolve, reject) => {
      http.get(`${base}/emotionnet/preview/p1/stream`, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ type: String(res.headers['content-type']), data: Buffer.concat(chunks) }));
      }).on('error', reject);
    });
    await sleep(100);
    let lastSnap = Buffer.alloc(0);
    for (let i = 0; i < 3; i++) {
      p1.receive({ payload: faces, frame: frame(40 + i * 60) });
      // Wait until this frame's render reached the stream before offering the next one.
      const end = Date.now() + 5000;
      while (Date.now() < end) {
        const r = await fetch(`${base}/emotionnet/preview/p1/latest.jpg`);
        const b = Buffer.from(await r.arrayBuffer());
        if (r.status === 200 && !b.equals(lastSnap)) {
          lastSnap = b;
          break;
        }
        await sleep(30);
      }
    }
    const snap = await fetch(`${base}/emotionnet/preview/p1/latest.jpg`);
    assert.equal(snap.status, 200);
    assert.equal(snap.headers.get('content-type'), 'image/jpeg');
    await p1.close();
    const { type, data } = await body;
    assert.match(type, /multipart\/x-mixed-replace/);
    const frames = splitMjpeg(data);
    assert.equal(frames.length, 3);
    assert.notDeepEqual(frames[0], frames[2]);
    assert.equal((await fetch(`${base}/emotionnet/preview/nope/stream`)).status, 404);
  });

  /** Counts the renders of every PreviewRenderer (the node's one included) from now on. */
  function countRenders(): { calls: Array<{ force: boolean }>; restore(): void } {
    const proto = PreviewRenderer.prototype;
    const orig = proto.render;
    const calls: Array<{ force: boolean }> = [];
    proto.render = function (this: unknown, ...args: any[]) {
      calls.push({ force: !!args[3]?.force });
      return orig.apply(this, args);
    };
    return { calls, restore: () => (proto.render = orig) };
  }

  it('renders nothing when the output is unwired and nobody watches; close clears the status', async () => {
    const renders = countRenders();
    try {
      await helper.load([previewNode, catchNode], flow({}, false));
      const p1 = helper.getNode('p1');
      for (let i = 0; i < 3; i++) p1.receive({ payload: faces, frame: frame(40 * i) });
      await sleep(100);
      assert.equal(renders.calls.length, 0);
      await until(() => p1.status.args.some((a: any[]) => /fps 0 viewers/.test(String(a[0].text))), 2000, 'status');
      await p1.close();
      assert.deepEqual(p1.status.lastCall.args[0], {});
    } finally {
      renders.restore();
    }
  });

  it('latest.jpg while nobody watches: 503 + Retry-After before the first frame, then the newest frame rendered on demand, once per frame', async () => {
    const renders = countRenders();
    try {
      await helper.load([previewNode, catchNode], flow({ maxFps: 1 }, false));
      await serveAdmin();
      const p1 = helper.getNode('p1');
      const url = `${base}/emotionnet/preview/p1/latest.jpg`;
      const none = await fetch(url);
      assert.equal(none.status, 503);
      assert.equal(none.headers.get('retry-after'), '1');
      assert.equal(await none.text(), 'No frame yet: the preview node has not received a frame since it was deployed');
      // frames arrive; nothing is rendered until a snapshot is asked for
      p1.receive({ payload: faces, frame: frame(20) });
      p1.receive({ payload: faces, frame: { ...frame(220), width: 80, height: 60, data: Buffer.alloc(80 * 60 * 3, 220) } });
      await sleep(50);
      assert.equal(renders.calls.length, 0);
      // concurrent requests share one render of the newest frame (not throttled by the max rate)
      const [a, b] = await Promise.all([fetch(url), fetch(url)]);
      assert.deepEqual([a.status, b.status, a.headers.get('content-type')], [200, 200, 'image/jpeg']);
      const jpgA = Buffer.from(await a.arrayBuffer());
      assert.deepEqual(jpgA, Buffer.from(await b.arrayBuffer()));
      const img = jpeg.decode(jpgA, { useTArray: true });
      assert.deepEqual([img.width, img.height], [80, 60], 'the newest frame');
      assert.deepEqual(renders.calls, [{ force: true }]);
      // asked again without a new frame: the same JPEG, no new render
      const again = await fetch(url);
      assert.deepEqual(Buffer.from(await again.arrayBuffer()), jpgA);
      assert.equal(renders.calls.length, 1);
      // a new frame: rendered on the next request
      p1.receive({ payload: [], frame: frame(120) });
      const next = await fetch(url);
      assert.equal(next.status, 200);
      assert.equal(jpeg.decode(Buffer.from(await next.arrayBuffer())).width, 160);
      assert.equal(renders.calls.length, 2);
    } finally {
      renders.restore();
    }
  });

  it('latest.jpg whose on-demand render is superseded by a newer frame\'s answers with that frame, not 503 "no frame yet"', async () => {
    const renders = countRenders();
    // Hold the first job posted to the render worker until released: that render stays running,
    // so the next request's render waits and the one after supersedes it (latest policy).
    const { Worker } = require('worker_threads');
    const post = Worker.prototype.postMessage;
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    let posted = 0;
    Worker.prototype.postMessage = function (this: unknown, ...args: unknown[]) {
      if (++posted === 1) {
        held.then(() => post.apply(this, args));
        return;
      }
      return post.apply(this, args);
    };
    try {
      await helper.load([previewNode, catchNode], flow({}, false));
      await serveAdmin();
      const p1 = helper.getNode('p1');
      const url = `${base}/emotionnet/preview/p1/latest.jpg`;
      const sized = (w: number, h: number) => ({ ...frame(), width: w, height: h, data: Buffer.alloc(w * h * 3, 90) });
      const get = (): Promise<{ status: number; body: Buffer }> => fetch(url).then(async (r) => ({ status: r.status, body: Buffer.from(await r.arrayBuffer()) }));
      const answers: Array<Promise<{ status: number; body: Buffer }>> = [];
      const sizes = [[160, 120], [80, 60], [120, 90]];
      for (const [i, [w, h]] of sizes.entries()) {
        p1.receive({ payload: [], frame: sized(w, h) });
        answers.push(get());
        await until(() => renders.calls.length === i + 1, 5000, `render ${i + 1}`);
        if (i === 0) await until(() => posted === 1, 5000, 'the first render posted to the worker');
      }
      release();
      const got = await Promise.all(answers);
      assert.deepEqual(got.map((a) => a.status), [200, 200, 200], got.map((a) => (a.status === 200 ? 'a JPEG' : a.body.toString())).join(' | '));
      const dims = got.map((a) => {
        const img = jpeg.decode(a.body, { useTArray: true });
        return [img.width, img.height];
      });
      assert.deepEqual(dims, [[160, 120], [120, 90], [120, 90]], 'the superseded request gets the newer frame');
    } finally {
      release();
      Worker.prototype.postMessage = post;
      renders.restore();
    }
  });

  it('stream and latest.jpg: 404 naming the reason for an unknown node and for a node with its stream off', async () => {
    await helper.load([previewNode, catchNode], [...flow(), { id: 'p2', z: 'tab', type: 'emotionnet-preview', stream: false, wires: [[]] }]);
    await serveAdmin();
    helper.getNode('p2').receive({ payload: faces, frame: frame() });
    // Plain text, not Express's text/html for a string, and nothing for a browser to sniff.
    const plain = (r: Response) => [r.headers.get('content-type'), r.headers.get('x-content-type-options')];
    for (const what of ['stream', 'latest.jpg']) {
      const unknown = await fetch(`${base}/emotionnet/preview/nope/${what}`);
      assert.deepEqual([unknown.status, await unknown.text()], [404, 'No such preview stream (deploy the flow first)']);
      assert.deepEqual(plain(unknown), ['text/plain; charset=utf-8', 'nosniff'], what);
      const off = await fetch(`${base}/emotionnet/preview/p2/${what}`);
      assert.equal(off.status, 404);
      assert.match(await off.text(), /does not serve a stream: turn on "Serve a live MJPEG stream"/);
      assert.deepEqual(plain(off), ['text/plain; charset=utf-8', 'nosniff'], what);
    }
    // Another node type's id is not a preview either.
    const other = await fetch(`${base}/emotionnet/preview/k1/latest.jpg`);
    assert.deepEqual([other.status, await other.text(), ...plain(other)], [404, 'No such preview stream (deploy the flow first)', 'text/plain; charset=utf-8', 'nosniff']);
    // No frame yet (p1 has received none), then a frame: the JPEG is not sniffed either.
    const none = await fetch(`${base}/emotionnet/preview/p1/latest.jpg`);
    assert.deepEqual([none.status, ...plain(none)], [503, 'text/plain; charset=utf-8', 'nosniff']);
    await none.arrayBuffer();
    helper.getNode('p1').receive({ payload: faces, frame: frame() });
    const jpg = await fetch(`${base}/emotionnet/preview/p1/latest.jpg`);
    assert.deepEqual([jpg.status, ...plain(jpg)], [200, 'image/jpeg', 'nosniff']);
    await jpg.arrayBuffer();
  });

  it('HEAD on the stream answers its headers and ends: not a viewer (nothing renders); HEAD latest.jpg never renders', async () => {
    const renders = countRenders();
    try {
      await helper.load([previewNode, catchNode], flow({}, false));
      await serveAdmin();
      const p1 = helper.getNode('p1');
      const headLatest = await fetch(`${base}/emotionnet/preview/p1/latest.jpg`, { method: 'HEAD' });
      assert.deepEqual([headLatest.status, headLatest.headers.get('retry-after')], [503, '1']);
      const head = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = http.request(`${base}/emotionnet/preview/p1/stream`, { method: 'HEAD', agent: false }, (res) => {
          res.resume();
          // the server ends the response and (Connection: close) the socket
          res.socket.once('close', () => resolve(res));
        });
        req.on('error', reject);
        req.setTimeout(2000, () => reject(new Error('HEAD /stream was held open')));
        req.end();
      });
      assert.equal(head.statusCode, 200);
      assert.match(String(head.headers['content-type']), /multipart\/x-mixed-replace/);
      assert.equal(head.headers['x-content-type-options'], 'nosniff');
      // Nobody watches and nothing is wired: a frame is not rendered.
      p1.receive({ payload: faces, frame: frame() });
      await sleep(200);
      assert.equal(renders.calls.length, 0, 'HEAD was counted as a viewer');
      const headFrame = await fetch(`${base}/emotionnet/preview/p1/latest.jpg`, { method: 'HEAD' });
      assert.deepEqual([headFrame.status, headFrame.headers.get('content-type'), headFrame.headers.get('cache-control')], [200, 'image/jpeg', 'no-store']);
      assert.equal(renders.calls.length, 0, 'HEAD latest.jpg rendered');
      // once rendered (by a GET), HEAD tells its length
      const get = Buffer.from(await (await fetch(`${base}/emotionnet/preview/p1/latest.jpg`)).arrayBuffer());
      const again = await fetch(`${base}/emotionnet/preview/p1/latest.jpg`, { method: 'HEAD' });
      assert.equal(again.headers.get('content-length'), String(get.length));
      assert.equal(renders.calls.length, 1);
    } finally {
      renders.restore();
    }
  });

  it('serves at most 20 stream viewers; the next gets 503 with Retry-After and a text saying why', async () => {
    await helper.load([previewNode, catchNode], flow({}, false));
    await serveAdmin();
    const url = `${base}/emotionnet/preview/p1/stream`;
    const open = () => new Promise<{ req: http.ClientRequest; res: http.IncomingMessage }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no response headers within 3 s')), 3000);
      const req = http.get(url, { agent: false }, (res) => {
        clearTimeout(timer);
        resolve({ req, res });
      });
      req.on('error', reject);
    });
    const viewers = await Promise.all(Array.from({ length: 20 }, open));
    try {
      assert.deepEqual(viewers.map((v) => v.res.statusCode), Array(20).fill(200));
      const full = await fetch(url);
      assert.equal(full.status, 503);
      assert.equal(full.headers.get('retry-after'), '5');
      assert.match(await full.text(), /^Too many viewers: this preview stream serves at most 20 at a time/);
      assert.equal((await fetch(url, { method: 'HEAD' })).status, 503);
      // a viewer leaves: the next one gets in
      viewers[0].req.destroy();
      let next: { req: http.ClientRequest; res: http.IncomingMessage } | null = null;
      const end = Date.now() + 3000;
      while (Date.now() < end) {
        const v = await open();
        if (v.res.statusCode === 200) {
          next = v;
          break;
        }
        v.res.resume();
        await sleep(20);
      }
      assert.ok(next, 'a freed slot is reused');
      viewers.push(next);
    } finally {
      for (const v of viewers) v.req.destroy();
    }
  });

  it('the fps in the status is the input rate exactly (10 frames/s reads 10, not 11)', async () => {
    await helper.load([previewNode, catchNode], flow({}, false));
    const p1 = helper.getNode('p1');
    const statuses = watchStatus(p1);
    const start = Date.now();
    for (let i = 0; i <= 15; i++) {
      await sleep(start + i * 100 - Date.now());
      p1.receive({ payload: faces, frame: frame() });
    }
    await sleep(600); // the status is throttled to 2 updates/s; the last one shows the rate at the last frame
    const fps = statuses.map((st) => Number(/^(\d+) fps/.exec(st.text ?? '')?.[1])).filter((v) => !Number.isNaN(v));
    assert.equal(fps[fps.length - 1], 10, `statuses: ${statuses.map((st) => st.text).join(' | ')}`);
  });

  it('the fps in the status falls to 0 when frames stop (a camera outage does not leave the last rate showing)', async () => {
    await helper.load([previewNode, catchNode], flow({}, false));
    const p1 = helper.getNode('p1');
    const statuses = watchStatus(p1);
    for (let i = 0; i < 10; i++) {
      p1.receive({ payload: faces, frame: frame() });
      await sleep(100);
    }
    await until(() => /^[1-9]\d* fps/.test(statuses[statuses.length - 1]?.text ?? ''), 2000, 'a running rate');
    // No frame for longer than the rate window (2 s): the status says 0 fps, without a new input.
    await until(() => /^0 fps/.test(statuses[statuses.length - 1]?.text ?? ''), 4000, () => `0 fps after the frames stopped (statuses: ${statuses.map((st) => st.text).join(' | ')})`);
    assert.equal(statuses[statuses.length - 1].fill, 'green');
  });
});
