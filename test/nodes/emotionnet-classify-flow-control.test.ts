/* eslint-disable @typescript-eslint/no-explicit-any -- node-red-node-test-helper and Node-RED objects are untyped */
/**
 * The classify node's FlowControl reports: each source's own queue depth, back to 0 when its
 * messages have left the queue and on close, and a registry that stays bounded however many
 * source ids pass through (a file source in "fast" pacing pauses while its depth is above the
 * high-water mark, so a stale depth would pause it for good).
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { collect, completeNode, helper, load, sleep, until } from './helpers';

const classifyNode = load('nodes/emotionnet-classify/emotionnet-classify.js');
const core = load('src/classify/index.js');
// The registry the node (loaded from dist) reports to.
const { FlowControl } = load('src/overload.js');
const { findFfmpeg } = load('src/ffmpeg/index.js');
const { createVideoSource } = load('src/video/index.js');

const CLASSES = ['anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise'];
/** A stand-in classifier taking `delayMs` per message. */
const fakeClassifier = (delayMs = 0) => ({
  name: 'fake-nano',
  classes: CLASSES,
  backend: { name: 'cpu', label: 'cpu', requested: 'auto', reason: 'cpu: test' },
  async classify(faces: unknown[]) {
    if (delayMs) await sleep(delayMs);
    return faces.map(() => ({ label: 'happy', confidence: 0.9, probabilities: Object.fromEntries(CLASSES.map((c) => [c, 1 / 7])) }));
  },
  dispose() {},
});
const face = (id: number) => ({ id, box: { x: 0, y: 0, width: 48, height: 48 }, score: 0.9, crop: { width: 48, height: 48, data: Buffer.alloc(48 * 48, 200) } });
const msgFrom = (sourceId: string, id: number) => ({ payload: [face(id)], frame: { sourceId } });

/** Loads c1 (classify, `policy`) → out, with a Complete node counting every done() of c1. */
async function loadFlow(policy: 'queue' | 'latest', delayMs: number): Promise<{ c1: any; completed: () => number }> {
  core.setClassifierLoader(async () => fakeClassifier(delayMs));
  await helper.load([classifyNode, completeNode], [
    { id: 'tab', type: 'tab' },
    { id: 'c1', z: 'tab', type: 'emotionnet-classify', model: 'nano-a', backend: 'auto', policy, wires: [['out']] },
    { id: 'out', z: 'tab', type: 'helper' },
    { id: 'done1', z: 'tab', type: 'complete', scope: ['c1'], uncaught: false, wires: [['completed']] },
    { id: 'completed', z: 'tab', type: 'helper' },
  ]);
  await sleep(20); // model loaded: input goes through the overload policy, not the loading gate
  let n = 0;
  helper.getNode('completed').on('input', () => n++);
  return { c1: helper.getNode('c1'), completed: () => n };
}

/**
 * A simulated paced source watching FlowControl like src/video's VideoSource in "fast" pacing:
 * pauses above the high-water mark (8), resumes at or below the low-water mark (2).
 */
function watch(sourceId: string) {
  const state = { paused: false, pauses: 0, max: 0, last: -1 };
  const fc = FlowControl.for(sourceId);
  const sub = fc.pressure$.subscribe((d: number) => {
    state.last = d;
    state.max = Math.max(state.max, d);
    if (!state.paused && d > 8) {
      state.paused = true;
      state.pauses++;
    } else if (state.paused && d <= 2) state.paused = false;
  });
  return { state, stop: () => sub.unsubscribe() };
}

describe('emotionnet-classify flow control', () => {
  before(() => new Promise<void>((r) => helper.startServer(r)));
  after(() => new Promise<void>((r) => helper.stopServer(r)));
  afterEach(async () => {
    await helper.unload();
    core.setClassifierLoader(null);
  });

  it('queue policy: 10 camA then 1 camB leave camA at depth 0 after processing and after close', async () => {
    const { c1 } = await loadFlow('queue', 5);
    const got = collect(helper.getNode('out'), 11);
    for (let i = 0; i < 10; i++) c1.receive(msgFrom('camA', i));
    c1.receive(msgFrom('camB', 10));
    const out = await got;
    assert.deepEqual(out.map((m) => m.payload[0].id), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await sleep(20);
    assert.equal(FlowControl.for('camA').maxDepth, 0, 'camA depth after processing');
    assert.equal(FlowControl.for('camB').maxDepth, 0, 'camB depth after processing');
    await c1.close();
    assert.equal(FlowControl.for('camA').maxDepth, 0, 'camA depth after close');
  });

  it('each source reports its own depth; a watching source paused by its burst resumes after a burst from another source', async () => {
    const { c1 } = await loadFlow('queue', 5);
    const a = watch('camA');
    const b = watch('camB');
    try {
      const got = collect(helper.getNode('out'), 15);
      for (let i = 0; i < 10; i++) c1.receive(msgFrom('camA', i));
      for (let i = 10; i < 15; i++) c1.receive(msgFrom('camB', i));
      await until(() => a.state.pauses > 0, 2000, 'camA paused by its own backlog');
      await got;
      await until(() => a.state.last === 0, 2000, () => `camA back to 0 (last ${a.state.last})`);
      assert.equal(a.state.paused, false, 'camA resumed');
      // camA's depth counts camA's messages only (at most 9 waiting behind the running one), camB's its 5.
      assert.ok(a.state.max >= 9 && a.state.max <= 10, `camA max depth ${a.state.max}`);
      assert.ok(b.state.max <= 5, `camB max depth ${b.state.max} (not camA's backlog)`);
      assert.equal(b.state.last, 0);
      // After close a watcher still reads 0.
      await c1.close();
      assert.equal(FlowControl.for('camA').maxDepth, 0);
      assert.equal(a.state.paused, false);
    } finally {
      a.stop();
      b.stop();
    }
  });

  it('5,000 distinct source ids leave a bounded registry, after processing and after close', async () => {
    const size0 = FlowControl.size ?? 0;
    const { c1, completed } = await loadFlow('latest', 0);
    for (let i = 0; i < 5000; i++) c1.receive(msgFrom(`src-${i}`, i));
    await until(() => completed() === 5000, 20000, () => `5000 done() calls (${completed()})`);
    await sleep(20);
    assert.ok(FlowControl.size <= size0 + 2, `registry holds ${FlowControl.size} entries after processing`);
    await c1.close();
    assert.ok(FlowControl.size <= size0, `registry holds ${FlowControl.size} entries after close`);
    assert.equal(FlowControl.has('src-4999'), false);
  });

  it('queue policy, distinct source ids in bursts up to the capacity: every source back to 0, nothing left registered', async () => {
    const size0 = FlowControl.size ?? 0;
    const { c1 } = await loadFlow('queue', 0);
    for (let burst = 0; burst < 20; burst++) {
      const got = collect(helper.getNode('out'), 16);
      for (let i = 0; i < 16; i++) c1.receive(msgFrom(`q-${burst}-${i % 4}`, i));
      await got;
    }
    await sleep(20);
    assert.equal(FlowControl.size, size0);
    await c1.close();
    assert.equal(FlowControl.size, size0);
  });

  it('end to end: a fast-paced file source feeding the node resumes after a burst from another source', { timeout: 30_000 }, async (t) => {
    try {
      await findFfmpeg();
    } catch {
      return t.skip('no ffmpeg');
    }
    const clip = await makeClip();
    const { c1 } = await loadFlow('queue', 30);
    const src = createVideoSource({ source: clip, pacing: 'fast', width: 320, height: 240, id: 'fileA' });
    let fed = 0;
    let burstSent = false;
    let outA = 0;
    let outB = 0;
    helper.getNode('out').on('input', (m: any) => (m.frame.sourceId === 'fileA' ? outA++ : outB++));
    src.frames$.subscribe((f: { seq: number; sourceId: string }) => {
      c1.receive(msgFrom(f.sourceId, f.seq));
      fed++;
    });
    // Once the file has built a backlog deep enough to pause it, another source sends a burst.
    const poll = setInterval(() => {
      if (!burstSent && src.stats.paused) {
        burstSent = true;
        for (let i = 0; i < 3; i++) c1.receive(msgFrom('camB', 1000 + i));
      }
    }, 5);
    const eof = new Promise<void>((r) => src.eof$.subscribe(() => r()));
    try {
      await src.start();
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<never>((_r, reject) => {
        timer = setTimeout(() => reject(new Error(`file source never reached its end: ${fed} frames read, paused=${src.stats.paused}, depth ${FlowControl.for('fileA').maxDepth}`)), 15_000);
      });
      await Promise.race([eof, stuck]).finally(() => clearTimeout(timer));
      await until(() => outA === 25 && outB === 3, 5000, () => `all classified (fileA ${outA}/25, camB ${outB}/3)`);
      assert.ok(burstSent, 'the file source was paused at least once');
      assert.equal(fed, 25);
    } finally {
      clearInterval(poll);
      await src.dispose();
    }
  });
});

/** A 1 s 25 fps clip made with the discovered ffmpeg (same recipe as test/video/clips). */
async function makeClip(): Promise<string> {
  const { execFile } = await import('child_process');
  const fs = await import('fs');
  const os = await import('os');
  const path = await import('path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emotionnet-classify-fc-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'a.mp4');
  const ff = await findFfmpeg();
  await new Promise<void>((resolve, reject) =>
    execFile(
      ff.path,
      ['-hide_banner', '-nostdin', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25:duration=1', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', file],
      (err, _o, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve()),
    ),
  );
  return file;
}
