/* eslint-disable @typescript-eslint/no-explicit-any -- node-red-node-test-helper messages and nodes are untyped */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as vm from 'vm';
import { catchNode, collect, completeNode, helper, load, sleep, until } from './helpers';
import { watchStatus } from '../helpers/status';
import { makeClip, tmpDir, cleanup } from '../video/clips';
import { liveChildren, pidAlive } from '../../src/ffmpeg';
import { parseSource, SourceType } from '../../src/video';

const videoNode = load('nodes/emotionnet-video/emotionnet-video.js');
const T = { timeout: 20_000 };

const flow = (extra: Record<string, unknown> = {}) => [
  { id: 'tab', type: 'tab' },
  { id: 'v1', z: 'tab', type: 'emotionnet-video', autostart: false, wires: [['frames'], ['events']], ...extra },
  { id: 'frames', z: 'tab', type: 'helper' },
  { id: 'events', z: 'tab', type: 'helper' },
  { id: 'k1', z: 'tab', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
  { id: 'caught', z: 'tab', type: 'helper' },
];

/** Sends `stats` and returns the stats payload from output 2. */
async function stats(): Promise<any> {
  const events = helper.getNode('events');
  const p = new Promise<any>((resolve) => {
    const on = (m: any) => {
      if (m.topic === 'stats') {
        events.removeListener('input', on);
        resolve(m.payload);
      }
    };
    events.on('input', on);
  });
  helper.getNode('v1').receive({ payload: 'stats' });
  return p;
}

describe('emotionnet-video node', () => {
  before(() => new Promise<void>((r) => helper.startServer(r)));
  after(() => new Promise<void>((r) => helper.stopServer(r)));
  after(cleanup);
  afterEach(() => helper.unload());

  it('loads with its defaults: autostarts the default sample, 640 px wide rgb24 frames at ≤ 10 fps, green status', T, async () => {
    await helper.load([videoNode], [
      { id: 'tab', type: 'tab' },
      { id: 'v1', z: 'tab', type: 'emotionnet-video', name: 'cam', wires: [['frames'], ['events']] },
      { id: 'frames', z: 'tab', type: 'helper' },
      { id: 'events', z: 'tab', type: 'helper' },
    ]);
    const n = helper.getNode('v1');
    const statuses = watchStatus(n);
    const got = await collect(helper.getNode('frames'), 12, 8000);
    const f = got[0].frame;
    assert.deepEqual([f.width, f.height, f.format, f.data.length], [640, 480, 'rgb24', 640 * 480 * 3]);
    assert.equal(got[0].payload, f);
    assert.equal(got[0].topic, 'cam');
    assert.equal(f.sourceId, 'v1');
    const span = got[11].frame.timestamp - got[0].frame.timestamp;
    // 1100 ms at the 10 fps cap (440 ms uncapped at 25 fps); slack for -re catching up after a stall.
    assert.ok(span >= 700, `12 frames in ${span} ms exceeds the 10 fps default cap`);
    await until(() => statuses.some((s) => s.fill === 'green' && s.shape === 'dot' && /fps 640x480/.test(s.text)), 3000, 'running status');
    // msg.timing.decode (ffmpeg CPU ms per frame, from /proc) appears once a full second was sampled.
    const timed = new Promise<any>((resolve) => helper.getNode('frames').on('input', (m: any) => m.timing && resolve(m)));
    const m = await timed;
    assert.ok(m.timing.decode > 0 && m.timing.decode < 1000, `timing.decode ${m.timing.decode}`);
  });

  it('file + "start": exactly 50 frames of the configured size, then an eof event', T, async () => {
    const clip = await makeClip('n.mp4');
    await helper.load([videoNode, catchNode], flow({ sourceType: 'file', source: clip, fps: 0, width: 160, height: 120, pacing: 'fast' }));
    const frames = collect(helper.getNode('frames'), 50, 10000);
    const events = helper.getNode('events');
    const seen: any[] = [];
    events.on('input', (m: any) => seen.push(m));
    helper.getNode('v1').receive({ payload: 'start' });
    const got = await frames;
    assert.ok(got.every((m, i) => m.frame.seq === i && m.frame.width === 160 && m.frame.data.length === 160 * 120 * 3));
    // Fast pacing: pts is video time (25 fps: 40 ms a frame) whatever the read speed.
    assert.deepEqual(got.map((m) => m.frame.pts), got.map((_m, i) => i * 40));
    await until(() => seen.some((m) => m.topic === 'eof'), 5000, 'eof');
    const eof = seen.find((m) => m.topic === 'eof');
    assert.equal(eof.payload.frames, 50);
    assert.equal(seen[0].topic, 'start');
    assert.equal(seen[0].payload.input.codec, 'h264');
    // One log line per ffmpeg start (from the source): source, input stream, output size.
    const started = helper.log().args.map((a: any[]) => String(a[0]?.msg)).filter((m: string) => /^file \S+n\.mp4: h264/.test(m));
    assert.equal(started.length, 1);
    assert.match(started[0], /^file \S+n\.mp4: h264 \d+x\d+ @ 25 fps \u2192 160x120 rgb24$/);
  });

  it('JPEG output: msg.payload is the JPEG Buffer and msg.frame a jpeg Frame; fps cap holds', T, async () => {
    const clip = await makeClip('n.mp4');
    await helper.load([videoNode], flow({ sourceType: 'file', source: clip, fps: 5, width: 0, height: 0, format: 'jpeg', pacing: 'fast', autostart: true, topic: 'camA' }));
    const events = helper.getNode('events');
    const eof = new Promise<any>((r) => events.on('input', (m: any) => m.topic === 'eof' && r(m)));
    const got: any[] = [];
    helper.getNode('frames').on('input', (m: any) => got.push(m));
    assert.equal((await eof).payload.frames, 10);
    assert.equal(got.length, 10);
    for (const m of got) {
      assert.ok(Buffer.isBuffer(m.payload));
      assert.equal(m.payload, m.frame.data);
      assert.deepEqual([m.frame.format, m.frame.width, m.frame.height, m.topic], ['jpeg', 320, 240, 'camA']);
      assert.deepEqual([m.payload[0], m.payload[1]], [0xff, 0xd8]);
    }
  });

  it('bad input reaches a Catch node via done(err) with a red status: missing file, not a video, missing device, unreachable URL, wrong msg', T, async () => {
    const notVideo = path.join(tmpDir, 'text.mp4');
    fs.writeFileSync(notVideo, 'no video here\n'.repeat(50));
    await helper.load([videoNode, catchNode], flow());
    const n = helper.getNode('v1');
    const statuses = watchStatus(n);
    const cases: Array<[unknown, RegExp]> = [
      [path.join(tmpDir, 'missing.mp4'), /file not found/],
      [notVideo, /Invalid data/],
      ['/dev/video99', /video device not found/],
      ['http://127.0.0.1:9/cam.mjpg', /Connection refused/],
      [42, /Unsupported message/],
      [Buffer.from('x'), /Unsupported message/],
      [{ source: 'x', type: 'nonsense' }, /Invalid source/],
      // A megabyte of path: refused at once (it used to block the event loop for minutes).
      [`/tmp/${'a'.repeat(1_000_000)}`, /Invalid source: source is too long \(1000005 characters, at most 4096\)/],
    ];
    for (const [payload, re] of cases) {
      const caught = collect(helper.getNode('caught'), 1, 8000);
      n.receive({ payload, _tag: String(payload).slice(0, 100) });
      const [m] = await caught;
      assert.match(m.error.message, re, String(payload));
      assert.equal(m.error.source.id, 'v1');
      assert.equal(m._tag, String(payload).slice(0, 100), 'the failing message itself reaches Catch');
    }
    assert.ok(statuses.some((s) => s.fill === 'red' && s.text === 'file not found'));
    assert.ok(statuses.some((s) => s.fill === 'red' && s.text === 'not a video'));
    assert.ok(statuses.some((s) => s.fill === 'red' && /^no device/.test(s.text)));
    assert.ok(statuses.some((s) => s.fill === 'red' && /^unreachable, retry in \d+s$/.test(s.text)));
    n.receive({ payload: 'stop' });
  });

  it('autostart failures also reach Catch (msg.topic "error"); credentials never appear', T, async () => {
    await helper.load(
      [videoNode, catchNode],
      flow({ sourceType: 'url', source: 'rtsp://127.0.0.1:9/stream', autostart: true }),
      { v1: { username: 'admin', password: 'hunter2' } },
    );
    const [m] = await collect(helper.getNode('caught'), 1, 8000);
    assert.equal(m.topic, 'error');
    assert.equal(m.payload.key, 'unreachable');
    assert.match(m.error.message, /rtsp:\/\/127\.0\.0\.1:9\/stream/);
    assert.ok(!JSON.stringify(m).includes('hunter2') && !JSON.stringify(m).includes('admin'));
    const n = helper.getNode('v1');
    assert.equal(n.credentials.password, 'hunter2');
  });

  it('a "start" that fails reaches Catch once: the background retries with the same error are only logged', T, async () => {
    await helper.load([videoNode, catchNode], flow({ sourceType: 'url', source: 'http://127.0.0.1:9/cam.mjpg', autostart: false }));
    const caught: any[] = [];
    helper.getNode('caught').on('input', (m: any) => caught.push(m));
    const events: any[] = [];
    helper.getNode('events').on('input', (m: any) => events.push(m));
    helper.getNode('v1').receive({ payload: 'start', _tag: 'mine' });
    // the start fails, then retries come after 1 and 2 s: wait for the second retry event
    await until(() => events.filter((m) => m.topic === 'retry').length >= 3, 10_000, 'three retries');
    await sleep(200);
    assert.equal(caught.length, 1, caught.map((m) => m.error.message).join(' | '));
    assert.equal(caught[0]._tag, 'mine');
  });

  it('killing ffmpeg mid-stream restarts it (retry then start events); close leaves no child', T, async () => {
    await helper.load([videoNode], flow({ fps: 10, width: 160, height: 120, autostart: true }));
    await collect(helper.getNode('frames'), 2, 8000);
    const pid = (await stats()).pid;
    assert.ok(pid > 0 && pidAlive(pid));
    const seen: any[] = [];
    helper.getNode('events').on('input', (m: any) => seen.push(m));
    process.kill(pid, 'SIGKILL');
    await until(() => seen.some((m) => m.topic === 'start'), 8000, 'restart');
    assert.equal(seen[0].topic, 'retry');
    assert.equal(seen[0].payload.restarts, 0);
    const s = await stats();
    assert.notEqual(s.pid, pid);
    assert.equal(s.restarts, 1);
    await helper.unload();
    assert.equal(pidAlive(s.pid), false, `ffmpeg ${s.pid} survived close`);
    assert.equal(liveChildren(), 0);
  });

  it('stop / start / restart / new source by message; status shows stopped', T, async () => {
    const clip = await makeClip('n.mp4');
    await helper.load([videoNode, catchNode], flow({ fps: 10, width: 80, height: 60 }));
    const n = helper.getNode('v1');
    const statuses = watchStatus(n);
    const frames = helper.getNode('frames');
    n.receive({ topic: 'start' });
    await collect(frames, 2, 8000);
    n.receive({ payload: 'stop' });
    await until(() => statuses.some((s) => s.fill === 'grey' && s.text === 'stopped'), 5000, 'stopped');
    const pidAfterStop = (await stats()).pid;
    assert.equal(pidAfterStop, null);
    n.receive({ topic: 'restart', payload: clip });
    const got = await collect(frames, 3, 8000);
    assert.ok(got.every((m) => m.frame.width === 80 && m.frame.pts !== undefined));
    assert.ok(got.every((m) => m.topic === `file ${clip}`), `topic follows the new source: ${got[0].topic}`);
    n.receive({ payload: false });
    await sleep(300);
    assert.equal((await stats()).state, 'stopped');
  });

  it('a "stop" right after a "restart" or a new source wins: the node stays stopped, the restart fails to Catch', T, async () => {
    const clip = await makeClip('n.mp4');
    await helper.load([videoNode, catchNode, completeNode], [
      ...flow({ fps: 10, width: 80, height: 60 }),
      { id: 'c1', z: 'tab', type: 'complete', scope: ['v1'], uncaught: false, wires: [['completed']] },
      { id: 'completed', z: 'tab', type: 'helper' },
    ]);
    const n = helper.getNode('v1');
    const ended: any[] = [];
    helper.getNode('caught').on('input', (m: any) => ended.push(m));
    helper.getNode('completed').on('input', (m: any) => ended.push(m));
    const outcome = async (tag: string) => {
      await until(() => ended.some((m) => m._tag === tag), 8000, `${tag} to complete`);
      return ended.find((m) => m._tag === tag);
    };
    for (const payload of ['restart', clip]) {
      n.receive({ payload: 'start', _tag: `start ${payload}` });
      await outcome(`start ${payload}`);
      n.receive({ payload, _tag: payload });
      n.receive({ payload: 'stop', _tag: `stop ${payload}` });
      const m = await outcome(payload);
      assert.match(m.error?.message ?? 'completed without an error', /stopped before the first frame/, payload);
      await outcome(`stop ${payload}`);
      const s = await stats();
      assert.deepEqual([s.state, s.pid], ['stopped', null], payload);
      assert.equal(liveChildren(), 0, payload);
    }
  });

  it('a "start" while the node closes spawns no ffmpeg that outlives the close', T, async () => {
    await helper.load([videoNode, catchNode], flow({ fps: 10, width: 80, height: 60, autostart: true }));
    const n = helper.getNode('v1');
    await collect(helper.getNode('frames'), 1, 8000);
    const caught = collect(helper.getNode('caught'), 1, 8000);
    const closing = n.close(true);
    await new Promise((r) => setImmediate(r)); // the close handler runs: ffmpeg is being killed
    n.receive({ payload: 'start' }); // input is still delivered until the close is done
    const [m] = await caught;
    assert.match(m.error.message, /disposed|stopped/);
    await closing;
    assert.equal(liveChildren(), 0, 'an ffmpeg child outlived the close');
  });

  it('Watchdog 0 is off: a 2 fps clip under the 10 fps cap plays to its end with no retry', T, async () => {
    const clip = await makeClip('slow2fps.mp4', { seconds: 3, fps: 2, size: '160x120' });
    await helper.load([videoNode], flow({ sourceType: 'file', source: clip, fps: 10, width: 80, height: 60, watchdog: 0, autostart: true }));
    const seen: any[] = [];
    helper.getNode('events').on('input', (m: any) => seen.push(m));
    await until(() => seen.some((m) => m.topic === 'eof' || m.topic === 'retry'), 10_000, 'eof');
    assert.deepEqual(seen.map((m) => m.topic), ['start', 'eof'], JSON.stringify(seen.find((m) => m.topic === 'retry')?.payload));
    assert.equal(seen[1].payload.frames, 6);
  });

  it('a failing source switched by message to a healthy one: its status shows no restart count of the old one', T, async () => {
    const clip = await makeClip('n.mp4');
    await helper.load([videoNode, catchNode], flow({ sourceType: 'url', source: 'http://127.0.0.1:9/cam.mjpg', fps: 10, width: 80, height: 60, loop: true, autostart: true }));
    const n = helper.getNode('v1');
    const statuses = watchStatus(n);
    const events: any[] = [];
    helper.getNode('events').on('input', (m: any) => events.push(m));
    await until(() => events.filter((m) => m.topic === 'retry').some((m) => m.payload.restarts >= 1), 8000, 'a restart of the unreachable URL');
    const switched = statuses.length;
    n.receive({ payload: clip });
    await until(() => statuses.slice(switched).some((s) => s.fill === 'green'), 8000, 'running status of the clip');
    await sleep(1100); // the once-a-second status refresh
    const running = statuses.slice(switched).filter((s) => s.fill === 'green');
    assert.ok(running.every((s) => !s.text.includes('↻')), running.map((s) => s.text).join(' | '));
    assert.equal((await stats()).restarts, 0);
  });

  describe('default sample without its demo clip (as installed from npm)', () => {
    const saved = process.env.EMOTIONNET_DEFAULT_SAMPLE;
    afterEach(() => {
      if (saved === undefined) delete process.env.EMOTIONNET_DEFAULT_SAMPLE;
      else process.env.EMOTIONNET_DEFAULT_SAMPLE = saved;
    });
    const testPatternWarnings = (n: any): string[] =>
      n.warn.getCalls().filter((c: any) => c.thisValue === n).map((c: any) => String(c.args[0])).filter((w: string) => /test pattern/.test(w));

    it('warns once per deploy (locale text naming the missing clip) and says "test pattern" in its status', T, async () => {
      const missing = path.join(tmpDir, 'no-demo-clip', 'default.mp4');
      process.env.EMOTIONNET_DEFAULT_SAMPLE = missing; // read by defaultSampleInput() at each start
      await helper.load([videoNode], flow({ fps: 10, width: 80, height: 60, autostart: true }));
      const n = helper.getNode('v1');
      const statuses = watchStatus(n);
      const events: any[] = [];
      helper.getNode('events').on('input', (m: any) => events.push(m));
      await until(() => events.some((m) => m.topic === 'start'), 8000, 'first frame');
      await until(() => statuses.some((s) => s.fill === 'green'), 3000, 'running status');
      assert.ok(statuses.filter((s) => s.fill === 'green').every((s) => /^\d+\.\d fps 80x60 test pattern$/.test(s.text)), statuses.map((s) => s.text).join(' | '));
      assert.deepEqual(testPatternWarnings(n), [
        `Default sample: no demo clip at ${missing}, so this plays ffmpeg's test pattern (no faces). For real faces set Source to a camera, stream or file, or build the clip once: see the package README, 'Demo clip'.`,
      ]);
      // A restart by message is not a new deploy: no second warning.
      n.receive({ payload: 'restart' });
      await until(() => events.filter((m) => m.topic === 'start').length >= 2, 8000, 'second start');
      assert.equal(testPatternWarnings(n).length, 1);
      // A redeploy warns again.
      await helper.unload();
      await helper.load([videoNode], flow({ fps: 10, width: 80, height: 60, autostart: true }));
      const n2 = helper.getNode('v1');
      await collect(helper.getNode('frames'), 1, 8000);
      await until(() => testPatternWarnings(n2).length === 1, 2000, 'the warning after a redeploy');
    });

    it('with a clip there: no warning and a plain running status', T, async () => {
      process.env.EMOTIONNET_DEFAULT_SAMPLE = await makeClip('n.mp4');
      await helper.load([videoNode], flow({ fps: 10, width: 80, height: 60, autostart: true }));
      const n = helper.getNode('v1');
      const statuses = watchStatus(n);
      const got = await collect(helper.getNode('frames'), 3, 8000);
      assert.ok(got.every((m) => m.frame.pts !== undefined), 'the clip (a file) has pts');
      await until(() => statuses.some((s) => s.fill === 'green'), 3000, 'running status');
      assert.ok(statuses.every((s) => !/test pattern/.test(s.text)), statuses.map((s) => s.text).join(' | '));
      assert.deepEqual(testPatternWarnings(n), []);
    });
  });

  it('a message cannot set an ffmpeg filter graph (lavfi): refused to Catch, nothing runs (its filters write files)', T, async () => {
    await helper.load([videoNode, catchNode], flow());
    const n = helper.getNode('v1');
    const written = path.join(tmpDir, 'lavfi-by-message.txt');
    fs.rmSync(written, { force: true });
    const graph = `testsrc=size=64x48:rate=5,metadata=mode=print:file=${written}`;
    for (const payload of [`lavfi:${graph}`, { source: graph, type: 'lavfi' }, { source: `lavfi:${graph}` }]) {
      const caught = collect(helper.getNode('caught'), 1, 8000);
      n.receive({ payload });
      const [m] = await caught;
      assert.match(m.error.message, /Invalid source: an ffmpeg filter graph \(lavfi\) can be set only in the node's settings, not by a message/, JSON.stringify(payload));
    }
    await sleep(500);
    assert.ok(!fs.existsSync(written), 'the filter graph ran: it wrote a file');
    assert.equal((await stats()).pid, null);
  });

  it('invalid configuration: red status, config error logged, input rejected to Catch', T, async () => {
    await helper.load([videoNode, catchNode], flow({ format: 'bogus' }));
    const n = helper.getNode('v1');
    const caught = collect(helper.getNode('caught'), 1, 3000);
    n.receive({ payload: 'start' });
    const [m] = await caught;
    assert.match(m.error.message, /Invalid configuration: format must be rgb24, gray or jpeg/);
  });

  it('a "Stats every" above 24.8 days (from a flow file: the editor allows a day) sends no stats at once, not every millisecond', T, async () => {
    await helper.load([videoNode], flow({ statsInterval: 3_000_000 }));
    const seen: string[] = [];
    helper.getNode('events').on('input', (m: any) => seen.push(m.topic));
    await sleep(300);
    assert.deepEqual(seen, []);
  });

  it('JPEG quality is only checked for JPEG output, where the editor shows and checks it', T, async () => {
    // The editor hides the field for raw output and accepts whatever it holds then.
    await helper.load([videoNode], [
      { id: 'tab', type: 'tab' },
      ...['-1', 'abc'].map((quality, i) => ({ id: `raw${i}`, z: 'tab', type: 'emotionnet-video', autostart: false, format: 'rgb24', quality, wires: [[], []] })),
      { id: 'jpg1', z: 'tab', type: 'emotionnet-video', autostart: false, format: 'jpeg', quality: '-1', wires: [[], []] },
    ]);
    const last = (id: string) => helper.getNode(id).status.getCalls().filter((c: any) => c.thisValue.id === id).pop()?.args[0];
    assert.deepEqual(last('raw0'), { fill: 'grey', shape: 'ring', text: 'stopped' });
    assert.deepEqual(last('raw1'), { fill: 'grey', shape: 'ring', text: 'stopped' });
    assert.deepEqual(last('jpg1'), { fill: 'red', shape: 'ring', text: 'config error' });
  });

  it("the editor never accepts a source the runtime refuses at deploy (other URL schemes, a stream URL typed as a file)", () => {
    const html = fs.readFileSync(path.join(__dirname, '..', '..', 'nodes', 'emotionnet-video', 'emotionnet-video.html'), 'utf8');
    const script = /<script type="text\/javascript">([\s\S]*?)<\/script>/.exec(html);
    assert.ok(script, 'the editor script in emotionnet-video.html');
    let def: { defaults: { source: { validate(this: { sourceType: string }, v: string): boolean } } } | undefined;
    const RED = { nodes: { registerType: (_t: string, d: typeof def) => (def = d) }, validators: { regex: () => () => true, number: () => () => true }, _: (k: string) => k };
    vm.runInNewContext(script[1], { RED, $: () => ({ length: 0 }) });
    assert.ok(def);
    const samples = ['', 'clip.mp4', '/tmp/a b.mp4', 'C:/videos/a.mp4', './a:b/c.mp4', 'file:///tmp/a.mp4', 'FILE:///tmp/a.mp4', 'rtsp://cam/s', 'RTSP://cam/s', 'https://cam/x.mp4', 'mmsh://bob:pw@cam', 'ftp://host/a.mp4', 'rtsp:/cam/s', 'cam1:/x.mp4', '/dev/video0'];
    for (const type of ['auto', 'file', 'url', 'device'] as SourceType[]) {
      for (const v of samples) {
        const editor = def.defaults.source.validate.call({ sourceType: type }, v);
        let runtime = true;
        try {
          parseSource(v, type);
        } catch {
          runtime = false;
        }
        if (editor) assert.ok(runtime, `${type} "${v}": valid in the editor, refused at deploy`);
      }
    }
    // …and still takes what it took before.
    for (const [type, v] of [['auto', 'clip.mp4'], ['auto', 'rtsp://cam/s'], ['file', 'C:/videos/a.mp4'], ['file', 'file:///tmp/a.mp4'], ['auto', '']] as const) {
      assert.equal(def.defaults.source.validate.call({ sourceType: type }, v), true, `${type} "${v}"`);
    }
  });
});
