/**
 * Network sources for real: an HTTP MJPEG camera (multipart/x-mixed-replace) served by the test,
 * including the camera dying mid-stream and coming back, and an HLS playlist made by ffmpeg.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo, Socket } from 'net';
import * as path from 'path';
import * as jpeg from 'jpeg-js';
import { findFfmpeg, liveChildren } from '../../src/ffmpeg';
import { createVideoSource, VideoSourceError } from '../../src/video';
import { cleanup, makeClip, tmpDir, waitFor } from './clips';

after(cleanup);
const T = { timeout: 30_000 };

/**
 * A fake MJPEG camera: 64x48 JPEGs every `intervalMs` (default 40: ~25 fps) to every client,
 * optionally behind Basic auth; can be killed and revived on the same port. Records the
 * Authorization header of every request.
 */
class MjpegCamera {
  #server: http.Server | null = null;
  #sockets = new Set<Socket>();
  #timers = new Set<NodeJS.Timeout>();
  port = 0;
  sent = 0;
  readonly authorizations: Array<string | undefined> = [];

  constructor(readonly o: { intervalMs?: number; user?: string; password?: string; path?: string } = {}) {}

  async listen(port = 0): Promise<void> {
    this.#server = http.createServer((req, res) => {
      this.authorizations.push(req.headers.authorization);
      if (req.url !== (this.o.path ?? '/video.mjpg')) {
        res.writeHead(404).end();
        return;
      }
      if (this.o.user !== undefined) {
        const expected = `Basic ${Buffer.from(`${this.o.user}:${this.o.password}`).toString('base64')}`;
        if (req.headers.authorization !== expected) {
          res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="cam"' }).end();
          return;
        }
      }
      res.writeHead(200, { 'Content-Type': 'multipart/x-mixed-replace; boundary=frame', 'Cache-Control': 'no-cache' });
      let i = 0;
      const timer = setInterval(() => {
        const data = Buffer.alloc(64 * 48 * 4, (i * 37) & 0xff);
        const img = Buffer.from(jpeg.encode({ width: 64, height: 48, data }, 80).data);
        res.write(`--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ${img.length}\r\n\r\n`);
        res.write(img);
        res.write('\r\n');
        i++;
        this.sent++;
      }, this.o.intervalMs ?? 40);
      this.#timers.add(timer);
      res.on('close', () => {
        clearInterval(timer);
        this.#timers.delete(timer);
      });
    });
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    await new Promise<void>((r) => this.#server!.listen(port, '127.0.0.1', r));
    this.port = (this.#server.address() as AddressInfo).port;
  }

  /** Drops every connection and stops listening (the camera "dies"). */
  async kill(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    this.#timers.clear();
    for (const s of this.#sockets) s.destroy();
    await new Promise((r) => this.#server?.close(r));
    this.#server = null;
  }
}

test('HTTP MJPEG camera: frames arrive; the camera dies mid-stream and the source reconnects by itself', T, async () => {
  const cam = new MjpegCamera();
  await cam.listen();
  const src = createVideoSource({ source: `http://127.0.0.1:${cam.port}/video.mjpg`, format: 'gray', restartDelayMs: 200, watchdogMs: 3000 });
  const sizes = new Set<string>();
  let n = 0;
  src.frames$.subscribe((f) => {
    n++;
    sizes.add(`${f.width}x${f.height}x${f.data.length}`);
  });
  const errors: VideoSourceError[] = [];
  src.errors$.subscribe((e) => errors.push(e));
  const info = await src.start();
  assert.equal(info.codec, 'mjpeg');
  await waitFor(() => n >= 10, 5000, '10 frames');
  assert.deepEqual([...sizes], [`64x48x${64 * 48}`]);

  await cam.kill();
  await waitFor(() => errors.length >= 1 && src.state === 'retrying', 8000, 'failure noticed');
  await cam.listen(cam.port); // the camera comes back on the same address
  const before = n;
  await waitFor(() => n >= before + 10 && src.state === 'running', 10000, 'frames after reconnect');
  assert.ok(src.stats.restarts >= 1);
  await src.dispose();
  await cam.kill();
  assert.equal(liveChildren(), 0);
});

// ffmpeg stamps an MJPEG camera's frames with their arrival time, in 1/25 s: frames that arrive
// within the same 40 ms share a timestamp. Raw output passed them, but the mjpeg encoder of the
// JPEG output failed on the second one ("Invalid pts (0) <= last (0)", exit 1): without an fps
// cap the source restarted every few frames.
test('JPEG output of an uncapped MJPEG camera sending several frames per 1/25 s: no encoder failure, no restart', T, async () => {
  const cam = new MjpegCamera({ intervalMs: 10 });
  await cam.listen();
  const src = createVideoSource({ source: `http://127.0.0.1:${cam.port}/video.mjpg`, format: 'jpeg', fps: 0, restartDelayMs: 50 });
  let n = 0;
  src.frames$.subscribe(() => n++);
  const errors: string[] = [];
  src.errors$.subscribe((e) => errors.push(e.message));
  try {
    await src.start();
    await waitFor(() => n >= 40 || errors.length > 0, 15_000, '40 frames');
  } finally {
    await src.dispose();
    await cam.kill();
  }
  assert.deepEqual(errors, []);
  assert.equal(liveChildren(), 0);
});

test('HLS VOD playlist over HTTP: all segments decode, and a URL with a known duration ends with eof like a file', T, async () => {
  const clip = await makeClip('hls-src.mp4', { seconds: 2, fps: 25, size: '160x120' });
  const dir = path.join(tmpDir, 'hls');
  fs.mkdirSync(dir, { recursive: true });
  const ff = await findFfmpeg();
  await new Promise<void>((resolve, reject) =>
    execFile(
      ff.path,
      ['-hide_banner', '-nostdin', '-y', '-i', clip, '-c', 'copy', '-f', 'hls', '-hls_time', '1', '-hls_list_size', '0',
        '-hls_playlist_type', 'vod', path.join(dir, 'index.m3u8')],
      (err, _o, se) => (err ? reject(new Error(se)) : resolve()),
    ),
  );
  const server = http.createServer((req, res) => {
    const file = path.join(dir, path.basename(req.url ?? ''));
    if (!fs.existsSync(file)) return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': file.endsWith('.m3u8') ? 'application/vnd.apple.mpegurl' : 'video/mp2t' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const src = createVideoSource({ source: `http://127.0.0.1:${port}/index.m3u8`, maxRestarts: 0, width: 80, height: 60 });
  let n = 0;
  src.frames$.subscribe(() => n++);
  const errors: VideoSourceError[] = [];
  src.errors$.subscribe((e) => errors.push(e));
  const eof = new Promise<{ frames: number }>((r) => src.eof$.subscribe(r));
  const info = await src.start();
  assert.match(info.container ?? '', /hls/);
  assert.equal(info.durationMs, 2000);
  assert.equal((await eof).frames, 50);
  assert.equal(n, 50);
  assert.equal(src.state, 'ended');
  assert.deepEqual(errors, []);
  await src.dispose();
  await new Promise((r) => server.close(r));
});

// An MJPEG camera has no timestamps; ffmpeg assumed 25 fps, so the cap of 10 kept 10 of every 25
// frames whatever the camera sent (a 5 fps camera gave 2 fps). Timed by arrival, all arrive.
test('HTTP MJPEG camera at 5 fps under a 10 fps cap: every frame it sends arrives', T, async () => {
  const cam = new MjpegCamera({ intervalMs: 200 });
  await cam.listen();
  const src = createVideoSource({ source: `http://127.0.0.1:${cam.port}/video.mjpg`, format: 'gray', fps: 10 });
  let n = 0;
  src.frames$.subscribe(() => n++);
  await src.start();
  const [n0, sent0] = [n, cam.sent];
  await new Promise((r) => setTimeout(r, 3000));
  const [got, sent] = [n - n0, cam.sent - sent0];
  await src.dispose();
  await cam.kill();
  assert.ok(sent >= 12, `the camera sent ${sent} frames in 3 s`);
  assert.ok(got >= sent - 3, `received ${got} of the ${sent} frames sent (the cap is above the camera's rate)`);
});

test("credentials go only to the configured camera's host, and never appear in errors or logs", T, async () => {
  const password = "p@ss'w0rd";
  const cam = new MjpegCamera({ user: 'admin', password });
  const other = new MjpegCamera();
  await cam.listen();
  await other.listen();
  const lines: string[] = [];
  const logger = { debug: (m: string) => lines.push(m), info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
  const src = createVideoSource({ source: `http://127.0.0.1:${cam.port}/video.mjpg`, username: 'admin', password, format: 'gray', logger });
  let n = 0;
  src.frames$.subscribe(() => n++);
  await src.start();
  await waitFor(() => n >= 3, 5000, 'frames with the right credentials');
  // A message switches to another address: it must not receive the camera's credentials.
  await src.setSource(`http://127.0.0.1:${other.port}/video.mjpg`);
  const before = n;
  await waitFor(() => n >= before + 3, 5000, 'frames from the other address');
  assert.deepEqual(other.authorizations.filter(Boolean), []);
  await src.dispose();
  // A wrong password with a quote and an @ in it: errors and log lines never show it.
  const wrong = "wr'o@ngPW";
  const bad = createVideoSource({ source: `http://127.0.0.1:${cam.port}/video.mjpg`, username: 'admin', password: wrong, maxRestarts: 0, logger });
  const err = await bad.start().then(() => null, (e: Error) => e);
  assert.ok(err instanceof VideoSourceError && err.key === 'unauthorized', String(err));
  await bad.dispose();
  await cam.kill();
  await other.kill();
  for (const text of [err.message, ...lines]) {
    assert.ok(!text.includes(wrong) && !text.includes(encodeURIComponent(wrong)) && !text.includes(password), text);
  }
  assert.ok(lines.some((l) => /spawn .*http:\/\/\*\*\*@127\.0\.0\.1/.test(l)), 'the spawn line is logged, redacted');
});

// Time-by-arrival is for MJPEG cameras only: an mp4 served at a path without an extension is read
// at full speed, and arrival times would have collapsed it to about one frame under the cap.
test('an mp4 over HTTP at a path without an extension keeps its own timestamps: the cap gives 10 of 25 fps', T, async () => {
  const clip = await makeClip('http-noext.mp4', { seconds: 2, fps: 25, size: '160x120' });
  const server = http.createServer((req, res) => {
    if (req.url !== '/video') return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': 'video/mp4' });
    fs.createReadStream(clip).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const src = createVideoSource({ source: `http://127.0.0.1:${port}/video`, fps: 10, maxRestarts: 0, width: 80, height: 60 });
  let n = 0;
  src.frames$.subscribe(() => n++);
  try {
    await src.start();
    await waitFor(() => n >= 20 || src.state !== 'running', 10_000, 'the clip played');
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    await src.dispose();
    await new Promise((r) => server.close(r));
  }
  assert.equal(n, 20);
});

test("an MJPEG camera at a URL that does not look like one (an ESP32-CAM's /stream) gets a one-time hint; a .mjpg URL none", T, async () => {
  for (const [p, hinted] of [['/stream', true], ['/video.mjpg', false]] as const) {
    const cam = new MjpegCamera({ path: p });
    await cam.listen();
    const warnings: string[] = [];
    const logger = { debug: () => undefined, info: () => undefined, warn: (m: string) => warnings.push(m), error: () => undefined };
    const src = createVideoSource({ source: `http://127.0.0.1:${cam.port}${p}`, format: 'gray', fps: 10, logger });
    try {
      await src.start();
      await src.restart(); // once per source, not per start
    } finally {
      await src.dispose();
      await cam.kill();
    }
    const hints = warnings.filter((w) => w.includes('-use_wallclock_as_timestamps 1'));
    assert.equal(hints.length, hinted ? 1 : 0, `${p}: ${warnings.join(' | ')}`);
  }
});
