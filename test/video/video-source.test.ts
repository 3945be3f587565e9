import { after, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { lastValueFrom, toArray } from 'rxjs';
import type { Frame } from '../../src/frame';
import { FlowControl } from '../../src/overload';
import { killChild, liveChildren, pidAlive, spawnFfmpeg } from '../../src/ffmpeg';
import { createVideoSource, readFrames, VideoSource, VideoSourceError } from '../../src/video';
import { cleanup, makeClip, sleep, tmpDir, waitFor } from './clips';

after(cleanup);
const T = { timeout: 20_000 };
const digest = (b: Buffer) => createHash('sha1').update(b).digest('hex');

async function collectFile(opts: Parameters<typeof readFrames>[0]): Promise<Frame[]> {
  return lastValueFrom(readFrames({ pacing: 'fast', ...opts }).pipe(toArray()));
}

async function startError(src: VideoSource): Promise<VideoSourceError> {
  try {
    await src.start();
  } catch (e) {
    assert.ok(e instanceof VideoSourceError, `expected VideoSourceError, got ${String(e)}`);
    return e;
  }
  assert.fail('start() should have rejected');
}

test('decodes a 2 s 25 fps H.264 clip to exactly 50 rgb24 frames of the configured size', T, async () => {
  const clip = await makeClip('a.mp4');
  const frames = await collectFile({ source: clip, width: 160, height: 120 });
  assert.equal(frames.length, 50);
  for (const [i, f] of frames.entries()) {
    assert.equal(f.width, 160);
    assert.equal(f.height, 120);
    assert.equal(f.format, 'rgb24');
    assert.equal(f.data.length, 160 * 120 * 3);
    assert.equal(f.seq, i);
    assert.equal(f.pts, i * 40);
  }
  assert.notDeepEqual(frames[0].data, frames[25].data, 'testsrc moves: frames differ');
});

/**
 * A stand-in ffmpeg (a shell script) that writes two 4x2 rgb24 frames to stdout and only then,
 * after a pause, its stream header to stderr: the order Node may read the two pipes in on a busy
 * machine (it made `pts` undefined once in CI).
 */
function lateHeaderFfmpeg(name: string, header: boolean): string {
  const file = path.join(tmpDir, name);
  const lines = [
    "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'a.mp4':",
    '  Duration: 00:00:02.00, start: 0.000000, bitrate: 10 kb/s',
    '  Stream #0:0(und): Video: h264 (High), yuv420p(progressive), 320x240, 25 fps, 25 tbr, 12800 tbn (default)',
    "Output #0, rawvideo, to 'pipe:1':",
    '  Stream #0:0(und): Video: rawvideo (RGB[24] / 0x18424752), rgb24(pc, progressive), 4x2, q=2-31, 25 fps',
  ];
  const script = [
    '#!/bin/sh',
    'case "$*" in *-version*) echo "ffmpeg version 6.0-test"; exit 0;; esac',
    'head -c 48 /dev/zero',
    'sleep 0.3',
    ...(header ? lines.map((l) => `echo "${l}" >&2`) : []),
    'exit 0',
  ].join('\n');
  fs.writeFileSync(file, script + '\n', { mode: 0o755 });
  return file;
}

test('frames read before ffmpeg\'s stream header still get pts; with no header at all they arrive at exit, without pts', T, async () => {
  const clip = await makeClip('a.mp4');
  for (const width of [4, 0]) {
    const frames = await collectFile({ source: clip, width, height: width ? 2 : 0, ffmpegPath: lateHeaderFfmpeg(`late-${width}.sh`, true) });
    assert.deepEqual(frames.map((f) => [f.seq, f.pts, f.width, f.height, f.data.length]), [[0, 0, 4, 2, 24], [1, 40, 4, 2, 24]], `width ${width}`);
  }
  const headerless = await collectFile({ source: clip, width: 4, height: 2, ffmpegPath: lateHeaderFfmpeg('no-header.sh', false) });
  assert.deepEqual(headerless.map((f) => [f.seq, f.pts, f.data.length]), [[0, undefined, 24], [1, undefined, 24]]);
});

test('size from ffmpeg when only one dimension is set (aspect kept); gray and jpeg formats', T, async () => {
  const clip = await makeClip('a.mp4');
  const gray = await collectFile({ source: clip, width: 64, format: 'gray' });
  assert.equal(gray.length, 50);
  assert.deepEqual([gray[0].width, gray[0].height, gray[0].data.length], [64, 48, 64 * 48]);
  const native = await collectFile({ source: clip });
  assert.deepEqual([native[0].width, native[0].height, native.length], [320, 240, 50]);
  const jpegs = await collectFile({ source: clip, format: 'jpeg', width: 200, height: 150 });
  assert.equal(jpegs.length, 50);
  for (const f of jpegs) {
    assert.deepEqual([f.width, f.height, f.format], [200, 150, 'jpeg']);
    assert.deepEqual([f.data[0], f.data[1], f.data[f.data.length - 2], f.data[f.data.length - 1]], [0xff, 0xd8, 0xff, 0xd9]);
  }
});

test('fps cap holds: 25 fps file capped at 10 gives 20 frames; a cap above the source rate adds none', T, async () => {
  const clip = await makeClip('a.mp4');
  assert.equal((await collectFile({ source: clip, fps: 10, width: 80, height: 60 })).length, 20);
  assert.equal((await collectFile({ source: clip, fps: 60, width: 80, height: 60 })).length, 50);
  // A cap equal to the source's rate keeps every frame (frame times on slot boundaries, where
  // floating point put some into the previous slot: 22 of 1200 lost on the demo clip).
  const atRate = await collectFile({ source: clip, fps: 25, width: 80, height: 60 });
  assert.deepEqual(atRate.map((f) => f.pts), Array.from({ length: 50 }, (_, i) => i * 40));
  // Live (real-time) source: measured rate stays at the cap.
  const src = createVideoSource({ source: 'lavfi:testsrc2=size=160x120:rate=25', fps: 5, width: 80, height: 60 });
  const times: number[] = [];
  src.frames$.subscribe(() => times.push(Date.now()));
  await src.start();
  await sleep(2100);
  await src.dispose();
  const perSec = ((times.length - 1) * 1000) / (times[times.length - 1] - times[0]);
  // 25 fps uncapped; slack above 5 for -re catching up after a scheduling stall on a busy machine.
  assert.ok(perSec <= 7 && perSec >= 3.5, `measured ${perSec.toFixed(2)} frames/s with cap 5`);
});

test('realtime pacing (-re) plays a file at its own rate; eof$ reports the frame count', T, async () => {
  const clip = await makeClip('short.mp4', { seconds: 1, fps: 10 });
  const src = createVideoSource({ source: clip, width: 80, height: 60 });
  const t0 = Date.now();
  const eof = new Promise<{ frames: number }>((r) => src.eof$.subscribe(r));
  await src.start();
  const ev = await eof;
  const ms = Date.now() - t0;
  assert.equal(ev.frames, 10);
  assert.ok(ms >= 800, `1 s file took only ${ms} ms in realtime mode`);
  assert.equal(src.state, 'ended');
  await src.dispose();
});

test('killing ffmpeg (SIGKILL) mid-stream leads to a restart with a new child', T, async () => {
  const src = createVideoSource({ source: 'default', fps: 10, width: 80, height: 60, restartDelayMs: 100 });
  let n = 0;
  src.frames$.subscribe(() => n++);
  const errors: VideoSourceError[] = [];
  src.errors$.subscribe((e) => errors.push(e));
  await src.start();
  const pid1 = src.pid!;
  await waitFor(() => n >= 3, 5000, 'frames');
  process.kill(pid1, 'SIGKILL');
  await waitFor(() => src.pid !== null && src.pid !== pid1 && src.state === 'running', 8000, 'restart');
  const before = n;
  await waitFor(() => n > before + 2, 5000, 'frames after restart');
  assert.equal(src.stats.restarts, 1);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].signal, 'SIGKILL');
  await src.dispose();
  assert.equal(pidAlive(pid1), false);
});

test('a file killed mid-way resumes where it died (no repeats), then ends', T, async () => {
  const clip = await makeClip('b.mp4', { seconds: 2, fps: 25 });
  const src = createVideoSource({ source: clip, width: 80, height: 60, restartDelayMs: 50 });
  const pts: number[] = [];
  src.frames$.subscribe((f) => pts.push(f.pts!));
  const eof = new Promise<void>((r) => src.eof$.subscribe(() => r()));
  await src.start();
  await waitFor(() => pts.length >= 15, 5000, 'frames');
  process.kill(src.pid!, 'SIGKILL');
  await eof;
  await src.dispose();
  assert.equal(src.stats.restarts, 1);
  for (let i = 1; i < pts.length; i++) assert.ok(pts[i] > pts[i - 1], `pts not increasing at ${i}: ${pts[i - 1]} → ${pts[i]}`);
  assert.ok(pts.length >= 45 && pts.length <= 50, `${pts.length} frames after resume`);
});

test('stop/dispose leave no ffmpeg child (pid gone), even when reading is paused', T, async () => {
  const clip = await makeClip('a.mp4');
  const src = createVideoSource({ source: clip, pacing: 'fast', width: 320, height: 240, loop: true, id: 'paused-src' });
  let n = 0;
  src.frames$.subscribe(() => n++);
  await src.start();
  FlowControl.for('paused-src').report('stage', 100); // downstream "full": reading pauses
  const pid = src.pid!;
  assert.ok(pidAlive(pid));
  await sleep(300);
  assert.equal(src.stats.paused, true);
  await src.dispose();
  assert.equal(pidAlive(pid), false, `ffmpeg ${pid} survived dispose`);
  assert.equal(src.pid, null);
  assert.equal(liveChildren(), 0);
});

test('fast pacing is lossless under flow control: pauses above the high-water mark, resumes below', T, async () => {
  const clip = await makeClip('a.mp4');
  const src = createVideoSource({ source: clip, pacing: 'fast', width: 320, height: 240, id: 'fc-src', highWaterMark: 4, lowWaterMark: 1 });
  const fc = FlowControl.for('fc-src');
  const held: Frame[] = [];
  let processed = 0;
  let maxHeld = 0;
  const seen: Buffer[] = [];
  src.frames$.subscribe((f) => {
    held.push(f);
    seen.push(f.data);
    maxHeld = Math.max(maxHeld, held.length);
    fc.report('slow-stage', held.length);
  });
  const eof = new Promise<void>((r) => src.eof$.subscribe(() => r()));
  const timer = setInterval(() => {
    if (held.shift()) processed++;
    fc.report('slow-stage', held.length);
  }, 5);
  await src.start();
  await eof;
  await waitFor(() => held.length === 0, 3000, 'drain');
  clearInterval(timer);
  await src.dispose();
  assert.equal(processed, 50);
  // Paused and resumed reading (with the rest of each frame read at once) keeps every byte in
  // order: the frames are those of a read without pauses.
  const plain = await collectFile({ source: clip, width: 320, height: 240 });
  assert.deepEqual(seen.map(digest), plain.map((f) => digest(f.data)));
  // One 230 kB frame is read in 4 pipe chunks; the pause lands within a frame or two.
  assert.ok(maxHeld <= 8, `stage held up to ${maxHeld} frames`);
});

test('fast pacing, small frames, a stage that receives each frame in a later turn (as Node-RED delivers): it never holds more than the high-water mark and one', T, async () => {
  // A 48x48 gray frame is 2,304 bytes: one pipe read holds 28 of them. Emitted at once, they were
  // all on their way before the stage saw the first and the source paused: the stage held 30.
  const clip = await makeClip('a.mp4');
  for (const [id, deliver] of [['small-sync', (fn: () => void) => fn()], ['small-async', setImmediate]] as const) {
    const src = createVideoSource({ source: clip, pacing: 'fast', format: 'gray', width: 48, height: 48, id, highWaterMark: 8, lowWaterMark: 2 });
    const fc = FlowControl.for(id);
    const held: Frame[] = [];
    let processed = 0;
    let maxHeld = 0;
    let atEof = -1;
    const seen: Buffer[] = [];
    src.frames$.subscribe((f) =>
      deliver(() => {
        held.push(f);
        seen.push(f.data);
        maxHeld = Math.max(maxHeld, held.length);
        fc.report('slow-stage', held.length);
      }),
    );
    const eof = new Promise<void>((r) => src.eof$.subscribe(() => ((atEof = seen.length), r())));
    // The stage stands still until the source has paused once.
    const timer = setInterval(() => {
      if (!src.stats.paused && processed === 0) return;
      if (held.shift()) processed++;
      fc.report('slow-stage', held.length);
    }, 2);
    await src.start();
    await eof;
    await waitFor(() => held.length === 0, 3000, 'drain');
    clearInterval(timer);
    await src.dispose();
    assert.equal(processed, 50, id);
    assert.ok(atEof >= 49, `${id}: the end of the file came after ${atEof} frames`); // the 50th may be on its way (async)
    assert.ok(maxHeld <= 9, `${id}: stage held up to ${maxHeld} frames`);
    const plain = await collectFile({ source: clip, format: 'gray', width: 48, height: 48 });
    assert.deepEqual(seen.map(digest), plain.map((f) => digest(f.data)), id);
  }
});

test('bad input: missing file, not a video, missing device, unreachable URLs, bad args — clear errors, no child left', T, async () => {
  const notVideo = path.join(tmpDir, 'not-a-video.mp4');
  fs.writeFileSync(notVideo, 'this is not a video\n'.repeat(100));
  const cases: Array<[ConstructorParameters<typeof VideoSource>[0], string, RegExp]> = [
    [{ source: path.join(tmpDir, 'missing.mp4') }, 'not-found', /file not found/],
    [{ source: notVideo }, 'not-video', /Invalid data|no video frames/],
    [{ source: '/dev/video99' }, 'no-device', /video device not found/],
    [{ source: 'http://127.0.0.1:9/stream.mjpg', maxRestarts: 0 }, 'unreachable', /Connection refused/],
    [{ source: 'rtsp://127.0.0.1:9/cam', maxRestarts: 0 }, 'unreachable', /Connection refused/],
    [{ source: 'default', inputArgs: '-no_such_option 1', maxRestarts: 0 }, 'bad-args', /no_such_option/],
  ];
  for (const [opts, key, re] of cases) {
    const src = createVideoSource({ restartDelayMs: 50, ...opts });
    const err = await startError(src);
    assert.equal(err.key, key, `${String(opts!.source)}: ${err.message}`);
    assert.match(err.message, re);
    assert.equal(src.pid, null);
    await src.dispose();
  }
  assert.throws(() => createVideoSource({ source: 12 as unknown as string }), /source must be a string/);
  assert.throws(() => createVideoSource({ fps: -1 }), /fps must be a number/);
  assert.equal(liveChildren(), 0);
});

test('an unreachable camera keeps retrying with growing delays; credentials never appear in errors', T, async () => {
  const src = createVideoSource({ source: 'http://127.0.0.1:9/video', username: 'bob', password: 's3cret', restartDelayMs: 40, maxRestartDelayMs: 200 });
  const msgs: string[] = [];
  const delays: number[] = [];
  src.errors$.subscribe((e) => msgs.push(e.message));
  src.status$.subscribe((s) => s.state === 'retrying' && delays.push(s.retryInMs!));
  await startError(src);
  await waitFor(() => delays.length >= 4, 5000, 'retries');
  await src.dispose();
  assert.deepEqual(delays.slice(0, 4), [40, 80, 160, 200]);
  assert.ok(msgs.length >= 4);
  assert.ok(msgs.every((m) => !m.includes('s3cret') && !m.includes('bob')), msgs[0]);
  assert.equal(liveChildren(), 0);
});

// `-headers` carries credentials for HTTP cameras: the spawn line (debug) showed them in full.
test('credential headers in the input arguments are blanked in the logged spawn line', T, async () => {
  const lines: string[] = [];
  const logger = { debug: (m: string) => lines.push(m), info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
  const src = createVideoSource({
    source: 'http://127.0.0.1:9/cam.mjpg',
    inputArgs: ['-headers', 'Authorization: Bearer tok3n-xyz\r\nCookie: session=c00kie\r\nX-Trace: visible\r\n', '-user_agent', 'EmotionNet'],
    maxRestarts: 0,
    logger,
  });
  await startError(src);
  await src.dispose();
  const spawn = lines.find((l) => l.startsWith('spawn '));
  assert.ok(spawn, 'the spawn line is logged');
  assert.ok(!/tok3n|c00kie/.test(spawn), spawn);
  assert.match(spawn, /Authorization: \*\*\*\r\nCookie: \*\*\*\r\nX-Trace: visible/);
  assert.match(spawn, / -user_agent EmotionNet /, 'the next arguments stay readable');
});

// A password typed into the URL with a raw space (or a raw @) is still a password: the log-line
// redaction reads words, so the source's own credentials are also scrubbed as secrets.
test('a URL source with inline credentials containing spaces never shows them in logs, errors or events', T, async () => {
  const lines: string[] = [];
  const logger = { debug: (m: string) => lines.push(m), info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
  const src = createVideoSource({ source: 'rtsp://bob:pa ss w@rd@127.0.0.1:9/cam', maxRestarts: 0, restartDelayMs: 50, logger });
  const msgs: string[] = [];
  src.errors$.subscribe((e) => msgs.push(e.message));
  const err = await startError(src);
  msgs.push(err.message, src.stats.source);
  await src.dispose();
  assert.ok(lines.some((l) => l.startsWith('spawn ') && l.includes(' rtsp://***@127.0.0.1:9/cam ')), 'the spawn line is logged at debug, redacted');
  for (const t of [...lines, ...msgs]) {
    assert.ok(!/bob|pa ss|ss w|w@rd|rd@127/.test(t), t);
  }
  assert.equal(src.stats.source, 'url rtsp://***@127.0.0.1:9/cam');
  // Switching to another URL with inline credentials scrubs those instead.
  const before = lines.length;
  const other = createVideoSource({ source: 'default', maxRestarts: 0, logger });
  await other.setSource('rtsp://eve:t0p secret@127.0.0.1:9/x');
  await startError(other);
  assert.equal(other.stats.source, 'url rtsp://***@127.0.0.1:9/x');
  await other.dispose();
  assert.ok(lines.length > before + 1);
  for (const t of lines.slice(before)) assert.ok(!/eve:|t0p|p secret/.test(t), t);
  assert.equal(liveChildren(), 0);
});

test('the first-frame timeout kills a silent stream and restarts it, also with the no-frame watchdog off (0)', T, async () => {
  const sockets = new Set<import('net').Socket>();
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'multipart/x-mixed-replace; boundary=frame' }); // …and never a frame
  });
  server.on('connection', (s) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as import('net').AddressInfo).port;
  const src = createVideoSource({ source: `http://127.0.0.1:${port}/video`, startTimeoutMs: 600, watchdogMs: 0, restartDelayMs: 50 });
  const err = await startError(src);
  assert.equal(err.key, 'stalled');
  assert.match(err.message, /no first frame within 600 ms; ffmpeg killed/);
  await waitFor(() => src.stats.restarts >= 1, 3000, 'restart after watchdog');
  await src.dispose();
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
  assert.equal(liveChildren(), 0);
});

test('start() while stop() is still killing the old child: the new run keeps its state', T, async () => {
  const src = createVideoSource({ source: 'lavfi:testsrc2=size=80x60:rate=25', width: 80, height: 60 });
  await src.start();
  const old = src.pid!;
  const stopping = src.stop();
  const started = src.start();
  await stopping;
  await started;
  await sleep(100);
  assert.equal(src.state, 'running');
  assert.notEqual(src.pid, old);
  assert.equal(pidAlive(old), false);
  await src.dispose();
  assert.equal(liveChildren(), 0);
});

// A message to a closing node (Node-RED delivers input until close is done) called start() while
// dispose() waited for the old child: the new ffmpeg was spawned after dispose and outlived it.
test('a start() during dispose() spawns nothing: no ffmpeg outlives dispose()', T, async () => {
  const src = createVideoSource({ source: 'lavfi:testsrc2=size=80x60:rate=25', width: 80, height: 60 });
  await src.start();
  const pid = src.pid!;
  const disposing = src.dispose();
  const late = src.start().then(
    () => 'started',
    (e: VideoSourceError) => e.key,
  );
  await disposing;
  assert.equal(await late, 'stopped');
  assert.equal(pidAlive(pid), false);
  assert.equal(liveChildren(), 0, 'an ffmpeg child outlived dispose()');
});

// A "stop" message, then a redeploy: close resolved while the stop's ffmpeg was still alive (a
// V4L2 camera is then still busy for the new node).
test('dispose() (and stop()) during an earlier stop() waits for the child that stop() is killing', T, async () => {
  const src = createVideoSource({ source: 'lavfi:testsrc2=size=80x60:rate=25', width: 80, height: 60 });
  await src.start();
  let stopping = src.stop();
  await src.stop();
  assert.equal(liveChildren(), 0, 'a second stop() returned before the child of the first one exited');
  await stopping;
  await src.start();
  stopping = src.stop();
  await src.dispose(); // the child is still being killed by stop()
  assert.equal(liveChildren(), 0, 'dispose() returned before the child of the earlier stop() exited');
  await stopping;
});

test('a stop() while a switch or a restart waits for the old child wins: the source stays stopped', T, async () => {
  const src = createVideoSource({ source: 'lavfi:testsrc2=size=80x60:rate=25', width: 80, height: 60 });
  const outcome = (p: Promise<unknown>) => p.then(() => 'started', (e: VideoSourceError) => e.key);
  await src.start();
  const switching = outcome(src.setSource('lavfi:testsrc=size=80x60:rate=25'));
  await src.stop();
  assert.equal(await switching, 'stopped');
  assert.deepEqual([src.state, src.pid, liveChildren()], ['stopped', null, 0]);
  await src.start();
  const restarting = outcome(src.restart());
  await src.stop();
  assert.equal(await restarting, 'stopped');
  assert.deepEqual([src.state, src.pid, liveChildren()], ['stopped', null, 0]);
  await src.dispose();
});

test('watchdogMs 0 is off: a 2 fps clip under a 10 fps cap plays to its end with no stall and no restart', T, async () => {
  // The 10 fps cap used to raise 0 to a 300 ms watchdog, which killed this clip between every two frames.
  const clip = await makeClip('slow2fps.mp4', { seconds: 3, fps: 2, size: '160x120' });
  const src = createVideoSource({ source: clip, fps: 10, width: 80, height: 60, watchdogMs: 0, restartDelayMs: 50 });
  // Any error (the old "no frame for 0 ms" stall) fails the test at once.
  const eof = new Promise<{ frames: number }>((resolve, reject) => {
    src.eof$.subscribe(resolve);
    src.errors$.subscribe(reject);
  });
  await src.start();
  const ev = await eof.finally(() => src.dispose());
  assert.equal(ev.frames, 6);
  assert.equal(src.stats.restarts, 0);
});

test('a stall error reports the timeout in effect: watchdogMs 100 under a 10 fps cap waits 300 ms (three frame intervals)', T, async () => {
  const clip = await makeClip('slow2fps-4s.mp4', { seconds: 4, fps: 2, size: '160x120' });
  const src = createVideoSource({ source: clip, fps: 10, width: 80, height: 60, watchdogMs: 100, restartDelayMs: 50 });
  const stalled = new Promise<VideoSourceError>((r) => src.errors$.subscribe((e) => e.key === 'stalled' && r(e)));
  await src.start();
  const err = await stalled; // frames come every 500 ms
  await src.dispose();
  assert.match(err.message, /: no frame for 300 ms; ffmpeg killed$/);
});

// The watchdog's restart of a file skipped the resume point that a crash sets: the file started
// again from its beginning, stalled at the same place, and replayed its first part forever.
test('a file that stalls mid-way resumes after the stall (no frame repeated) and ends with eof', T, async () => {
  const clip = await makeClip('slow2fps-2s.mp4', { seconds: 2, fps: 2, size: '160x120' });
  // Frames every 500 ms against a 300 ms watchdog: every run stalls after its first frame.
  const src = createVideoSource({ source: clip, fps: 10, width: 80, height: 60, watchdogMs: 100, restartDelayMs: 50 });
  const pts: number[] = [];
  const errors: string[] = [];
  let ended = false;
  src.frames$.subscribe((f) => pts.push(f.pts!));
  src.errors$.subscribe((e) => errors.push(e.key));
  src.eof$.subscribe(() => (ended = true));
  try {
    await src.start();
    await waitFor(() => ended || pts.length >= 6, 15_000, 'the end of the file');
  } finally {
    await src.dispose();
  }
  assert.deepEqual(pts, [0, 500, 1000, 1500]);
  assert.ok(ended, 'eof after the last frame');
  assert.ok(errors.length > 0 && errors.every((k) => k === 'stalled'), errors.join());
});

test('switching a failing source to another one resets the restart count; restarts of the same source still count', T, async () => {
  const src = createVideoSource({ source: 'http://127.0.0.1:9/video', width: 80, height: 60, restartDelayMs: 20, maxRestartDelayMs: 40 });
  await startError(src);
  await waitFor(() => src.stats.restarts >= 2, 5000, 'retries of the unreachable URL');
  const seen: number[] = [];
  const lavfi = 'lavfi:testsrc2=size=80x60:rate=25';
  const switching = src.setSource(lavfi);
  src.status$.subscribe((s) => seen.push(s.restarts));
  await switching;
  assert.equal(src.state, 'running');
  assert.deepEqual([...new Set(seen)], [0], 'every status of the new source says 0 restarts');
  assert.equal(src.stats.restarts, 0);
  assert.equal(src.stats.lastError, null);
  const pid = src.pid!;
  process.kill(pid, 'SIGKILL');
  await waitFor(() => src.state === 'running' && src.pid !== null && src.pid !== pid, 8000, 'restart after SIGKILL');
  assert.equal(src.stats.restarts, 1);
  await src.setSource(lavfi); // the same source again: still its count
  assert.equal(src.stats.restarts, 1);
  await src.dispose();
  assert.equal(liveChildren(), 0);
});

test('fast pacing: frame.timestamp is the wall-clock read time (processing time), frame.pts the video time', T, async () => {
  const clip = await makeClip('ten-seconds.mp4', { seconds: 10, fps: 5, size: '160x120' });
  const t0 = Date.now();
  const frames = await collectFile({ source: clip, width: 80, height: 60 });
  const t1 = Date.now();
  assert.equal(frames.length, 50);
  assert.deepEqual(frames.map((f) => f.pts), frames.map((_f, i) => i * 200), 'pts: 0, 200 … 9800 ms of video');
  for (const [i, f] of frames.entries()) {
    assert.ok(f.timestamp >= t0 && f.timestamp <= t1, `timestamp ${f.timestamp} outside the read [${t0}, ${t1}]`);
    if (i > 0) assert.ok(f.timestamp >= frames[i - 1].timestamp);
  }
  // 10 s of video decoded in far less wall time: timestamps do not span the video.
  assert.ok(frames[49].timestamp - frames[0].timestamp < frames[49].pts!, `timestamps span ${frames[49].timestamp - frames[0].timestamp} ms`);
});

// A 0.4 fps source: frames 2.5 s apart. Its fps used to read 0 whenever the last frame was more
// than 2 s old, i.e. most of the time while it ran.
test('a slow source (0.4 fps) reads its rate between frames, not 0', T, async () => {
  const src = createVideoSource({ source: 'lavfi:testsrc=size=64x48:rate=0.4', fps: 0, watchdogMs: 0 });
  const times: number[] = [];
  src.frames$.subscribe(() => times.push(Date.now()));
  let fps = -1;
  try {
    await src.start();
    await waitFor(() => times.length >= 3, 15_000, 'three frames');
    // 2.2 s after the third frame: more than 2 s, less than the 2.5 s to the next.
    await new Promise((r) => setTimeout(r, Math.max(0, times[2] + 2200 - Date.now())));
    fps = src.stats.fps;
  } finally {
    await src.dispose();
  }
  assert.ok(fps >= 0.3 && fps <= 0.5, `fps ${fps} between frames of a 0.4 fps source`);
});

// The fps reads frame times from Date.now(). After a step back of the wall clock the older times
// lay in the future: they never aged out of the window and the rate read the number of frames
// seen, per second (59 here), until a few seconds of frames had pushed them out.
test('after the clock steps back (NTP), stats.fps still reads the frame rate', T, async () => {
  const src = createVideoSource({ source: 'lavfi:testsrc=size=64x48:rate=25', width: 64, height: 48, fps: 0, watchdogMs: 0 });
  let frames = 0;
  let fps = -1;
  mock.timers.enable({ apis: ['Date'], now: 1_764_000_000_000 });
  try {
    const read = new Promise<void>((resolve) => {
      src.frames$.subscribe(() => {
        frames++;
        // The source's clock: 10 frames/s, stepping back an hour after the 30th frame.
        if (frames === 30) mock.timers.setTime(Date.now() - 3_600_000);
        else mock.timers.tick(100);
        if (frames === 60) {
          fps = src.stats.fps;
          resolve();
        }
      });
    });
    await src.start();
    await read;
  } finally {
    mock.timers.reset();
    await src.dispose();
  }
  assert.equal(fps, 10);
});

// Node runs a timer longer than 2^31 - 1 ms (24.8 days) after 1 ms: a month-long watchdog killed
// ffmpeg at once (a restart loop), a month-long retry delay retried at once, and a month-long
// kill grace sent SIGKILL right after SIGTERM.
test('timeouts above 24.8 days wait: watchdog, first-frame timeout, retry delay and kill grace of 2^31 ms', T, async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  const src = createVideoSource({ source: 'lavfi:testsrc=size=64x48:rate=25', width: 64, height: 48, watchdogMs: 2 ** 31, startTimeoutMs: 2 ** 31 });
  const failing = createVideoSource({ source: 'http://127.0.0.1:9/video', restartDelayMs: 2 ** 31, maxRestartDelayMs: 2 ** 32 });
  const child = spawnFfmpeg('sh', ['-c', 'trap "" TERM; echo ready; exec sleep 30']);
  try {
    const errors: string[] = [];
    src.errors$.subscribe((e) => errors.push(e.message));
    await src.start();
    await waitFor(() => src.stats.frames >= 10, 10_000, 'frames');
    assert.deepEqual(errors, []);
    assert.equal(src.stats.restarts, 0);

    const delays: number[] = [];
    failing.status$.subscribe((s) => s.state === 'retrying' && delays.push(s.retryInMs!));
    await startError(failing);
    await sleep(300);
    assert.deepEqual(delays, [2 ** 31]);
    assert.equal(failing.stats.restarts, 0, 'no retry yet');

    await new Promise((r) => child.stdout.once('data', r));
    let killed = false;
    void killChild(child, 2 ** 31).then(() => (killed = true));
    await sleep(300);
    assert.equal(killed, false, 'SIGKILL waits for the grace');
    assert.ok(pidAlive(child.pid!));
  } finally {
    process.off('warning', onWarning);
    child.kill('SIGKILL');
    await Promise.all([src.dispose(), failing.dispose()]);
  }
  assert.ok(!warnings.includes('TimeoutOverflowWarning'), warnings.join());
  await waitFor(() => liveChildren() === 0, 5000, 'no child left');
});
