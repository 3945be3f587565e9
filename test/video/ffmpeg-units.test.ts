import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as jpeg from 'jpeg-js';
import {
  buildFfmpegArgs,
  classifyFfmpegError,
  filterChain,
  findFfmpeg,
  JpegFrameSplitter,
  pidAlive,
  probeFfmpeg,
  jpegQscale,
  parseRelease,
  RawFrameSplitter,
  readRestSync,
  redactUrl,
  scrubSecrets,
  splitArgs,
  StderrParser,
} from '../../src/ffmpeg';
import { createVideoSource, describeSource, isMjpegUrl, MAX_SOURCE_LENGTH, parseSource, prepareInput, VideoSourceError, VideoSourceOptions, withCredentials } from '../../src/video';

/** Cuts a buffer into random-sized chunks (1 byte .. max). */
function chunks(buf: Buffer, max: number, seed = 1): Buffer[] {
  const out: Buffer[] = [];
  let s = seed;
  for (let i = 0; i < buf.length; ) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const n = 1 + (s % max);
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return out;
}

test('RawFrameSplitter cuts frames by exact byte count across arbitrary chunk boundaries', () => {
  const frameSize = 4 * 3 * 3;
  const stream = Buffer.alloc(frameSize * 5 + 7);
  for (let i = 0; i < stream.length; i++) stream[i] = i & 0xff;
  const sp = new RawFrameSplitter(frameSize);
  const frames: Buffer[] = [];
  for (const c of chunks(stream, 50)) sp.push(c, (f) => frames.push(f));
  assert.equal(frames.length, 5);
  frames.forEach((f, k) => assert.deepEqual(f, stream.subarray(k * frameSize, (k + 1) * frameSize)));
  assert.equal(sp.pendingBytes, 7);
  assert.throws(() => new RawFrameSplitter(0), RangeError);
});

test('JpegFrameSplitter reassembles concatenated JPEGs and reads their size from SOF', () => {
  const mk = (w: number, h: number, v: number) => {
    const data = Buffer.alloc(w * h * 4, v);
    for (let i = 0; i < data.length; i += 4) data[i] = (i * 7) & 0xff; // texture → FF bytes in entropy data
    return Buffer.from(jpeg.encode({ width: w, height: h, data }, 90).data);
  };
  const a = mk(32, 24, 10);
  const b = mk(16, 40, 200);
  const c = mk(64, 8, 99);
  const stream = Buffer.concat([Buffer.from([0x00, 0x12]), a, b, c]); // leading garbage is skipped
  for (const max of [1, 7, 100, 5000]) {
    const sp = new JpegFrameSplitter();
    const got: Array<{ width: number; height: number; data: Buffer }> = [];
    for (const ch of chunks(stream, max, max)) sp.push(ch, (f) => got.push(f));
    assert.equal(got.length, 3, `chunk size up to ${max}`);
    assert.deepEqual(got.map((f) => [f.width, f.height]), [[32, 24], [16, 40], [64, 8]]);
    assert.deepEqual(got[1].data, b);
    assert.equal(sp.pendingBytes, 0);
    assert.equal(sp.discarded, 2);
  }
});

test('StderrParser reads input/output stream info and the -benchmark line; redacts credentials', () => {
  const infos: unknown[] = [];
  const p = new StderrParser({ onInfo: (i) => infos.push({ ...i }) });
  const text = [
    "Input #0, rtsp, from 'rtsp://admin:hunter2@10.0.0.5/stream1':",
    '  Duration: N/A, start: 0.000000, bitrate: N/A',
    '    Stream #0:0: Video: h264 (Main), yuv420p(tv, bt709, progressive), 1920x1080 [SAR 1:1 DAR 16:9], 15 fps, 15 tbr, 90k tbn, 30 tbc',
    'Stream mapping:',
    "Output #0, rawvideo, to 'pipe:1':",
    '    Stream #0:0: Video: rawvideo (RGB[24] / 0x18424752), rgb24, 640x360 [SAR 1:1 DAR 16:9], q=2-31, 82944 kb/s, 15 fps, 15 tbn, 15 tbc',
    'bench: utime=1.250s stime=0.250s rtime=3.000s',
  ].join('\n');
  for (const c of chunks(Buffer.from(text + '\n'), 17)) p.feed(c);
  p.end();
  assert.deepEqual(infos, [{ container: 'rtsp', codec: 'h264', width: 1920, height: 1080, fps: 15, outputWidth: 640, outputHeight: 360 }]);
  assert.deepEqual(p.bench, { cpuMs: 1500, realMs: 3000 });
  assert.ok(p.lastLines.every((l) => !l.includes('hunter2')));
  assert.match(p.lastLines[0], /rtsp:\/\/\*\*\*@10\.0\.0\.5/);
  // "-loglevel debug" in the input args: ffmpeg logs its HTTP request with Basic credentials
  // (here bob:s3cretpw in base64, as the bundled ffmpeg printed it).
  const logged: string[] = [];
  const dbg = new StderrParser({ onLine: (l) => logged.push(l), secrets: ['s3cretpw'] });
  dbg.feed('GET /v.mjpg HTTP/1.1\r\nAuthorization: Basic Ym9iOnMzY3JldHB3\r\n\n');
  assert.deepEqual(logged, ['GET /v.mjpg HTTP/1.1', 'Authorization: Basic ***']);
  assert.ok(dbg.lastLines.every((l) => !l.includes('Ym9iOnMzY3JldHB3')));
});

test('classifyFfmpegError maps ffmpeg messages to short keys', () => {
  const cases: Array<[string, string]> = [
    ['/x/missing.mp4: No such file or directory', 'not-found'],
    ['/etc/passwd: Invalid data found when processing input', 'not-video'],
    ['[tcp @ 0x1] Connection to tcp://10.0.0.9:554?timeout=0 failed: Connection refused', 'unreachable'],
    ['[http @ 0x1] HTTP error 404 Not Found', 'unreachable'],
    ['method DESCRIBE failed: 401 Unauthorized', 'unauthorized'],
    ['[video4linux2,v4l2 @ 0x1] Cannot open video device /dev/video3: No such file or directory', 'no-device'],
    ['Stream map \'0:v:0\' matches no streams.', 'no-video-stream'],
    ['Unrecognized option \'rtsp_transprt\'.', 'bad-args'],
    ['something odd', 'exited'],
  ];
  for (const [line, key] of cases) assert.equal(classifyFfmpegError(['Input #0 …', line]).key, key, line);
  // An RTSP camera that offers UDP only: the error says what to set.
  const udpOnly = classifyFfmpegError(['[rtsp @ 0x1] method SETUP failed: 461 Unsupported Transport', 'rtsp://cam/s: Protocol not supported']);
  assert.equal(udpOnly.key, 'bad-args');
  assert.equal(udpOnly.line, '[rtsp @ 0x1] method SETUP failed: 461 Unsupported Transport (the camera offers RTSP over UDP only: set the input args to "-rtsp_transport udp")');
});

test('redactUrl hides the whole password: a raw @ or a quote in it; scrubSecrets; isMjpegUrl', () => {
  assert.equal(redactUrl('http://admin:p@ssW0rd@127.0.0.1:8090/cam'), 'http://***@127.0.0.1:8090/cam');
  assert.equal(redactUrl("Input #0, mpjpeg, from 'http://admin:wr'ongPW@127.0.0.1:8090/cam':"), "Input #0, mpjpeg, from 'http://***@127.0.0.1:8090/cam':");
  assert.equal(redactUrl('rtsp://cam:554/s and http://h/p?mail=a@b'), 'rtsp://cam:554/s and http://h/p?mail=a@b');
  assert.equal(scrubSecrets("401 for admin:wr'ongPW and wr%27ongPW", ["wr'ongPW", 'wr%27ongPW']), '401 for admin:*** and ***');
  assert.equal(scrubSecrets('a line', ['ab', '']), 'a line', 'secrets under 3 characters are not scrubbed');
  const p = new StderrParser({ secrets: ['s3cret!'] });
  p.feed('[http @ 0x1] HTTP error 401 Unauthorized for user:s3cret!\n');
  assert.deepEqual(p.lastLines, ['[http @ 0x1] HTTP error 401 Unauthorized for user:***']);
  // Something before "://" does not hide the credentials (a digit, '-', '0x').
  assert.equal(redactUrl('url=1rtsp://admin:secret@cam/x -http://a:b@h/ 0xhttp://c:d@e/'), 'url=1rtsp://***@cam/x -http://***@h/ 0xhttp://***@e/');
  // MJPEG cameras by path or query; other HTTP sources (files, TS, FLV, HLS) keep their timestamps.
  for (const u of ['http://cam.local/video.mjpg', 'https://cam.local/axis-cgi/mjpg/video.cgi?fps=5', 'http://cam/videostream.cgi', 'http://pi:8080/?action=stream', 'http://cam/mjpeg']) {
    assert.equal(isMjpegUrl(u), true, u);
  }
  for (const u of ['http://server/live/index.m3u8', 'http://server/clip.MP4', 'http://server/video', 'http://tv:9981/stream/channel/1', 'rtsp://cam/s']) {
    assert.equal(isMjpegUrl(u), false, u);
  }
});

test('buildFfmpegArgs: argument array with fps cap (select, no duplicates), scaling, pixel format, vsync by version', () => {
  const a = buildFfmpegArgs({ input: ['-i', 'in.mp4'], output: { format: 'rgb24', fps: 10, width: 640 } });
  assert.deepEqual(a.slice(0, 5), ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info']);
  assert.ok(a.includes('-vsync'));
  const vf = a[a.indexOf('-vf') + 1];
  assert.match(vf, /^select='.*floor\(t\*10\+0\.01\).*',scale=640:-2:flags=bilinear$/);
  assert.deepEqual(a.slice(-7), ['-pix_fmt', 'rgb24', '-f', 'rawvideo', '-avioflags', 'direct', 'pipe:1']);
  const j = buildFfmpegArgs({ input: ['-i', 'x'], output: { format: 'jpeg', jpegQuality: 100 }, release: { major: 6, minor: 1 }, benchmark: true });
  assert.ok(j.includes('-fps_mode') && !j.includes('-vsync') && !j.includes('-vf') && j.includes('-benchmark'));
  assert.deepEqual(j.slice(-9), ['-c:v', 'mjpeg', '-q:v', '2', '-f', 'image2pipe', '-avioflags', 'direct', 'pipe:1']);
  assert.equal(filterChain({ format: 'gray', height: 240 }), 'scale=-2:240:flags=bilinear');
  assert.equal(jpegQscale(1), 31);
  assert.deepEqual(parseRelease('6.1.1'), { major: 6, minor: 1 });
  assert.equal(parseRelease('N-47683-g0e8eb07980-static'), null);
});

test('splitArgs splits like a shell without running one', () => {
  assert.deepEqual(splitArgs('-rtsp_transport tcp  -analyzeduration 1M'), ['-rtsp_transport', 'tcp', '-analyzeduration', '1M']);
  assert.deepEqual(splitArgs(`-headers "User-Agent: x y" -x 'a b' c\\ d ""`), ['-headers', 'User-Agent: x y', '-x', 'a b', 'c d', '']);
  assert.deepEqual(splitArgs('; rm -rf / `x` $(y)'), [';', 'rm', '-rf', '/', '`x`', '$(y)']);
  assert.throws(() => splitArgs('-x "open'), SyntaxError);
});

test('parseSource recognises every kind; withCredentials and redactUrl keep secrets out of logs', async () => {
  assert.equal(parseSource('default').kind, 'default');
  assert.equal(parseSource('').kind, 'default');
  assert.equal(parseSource('rtsp://cam/stream').kind, 'url');
  assert.equal(parseSource('https://x/y.m3u8').kind, 'url');
  assert.equal(parseSource('/dev/video0').kind, 'device');
  assert.equal(parseSource('lavfi:testsrc2').kind, 'lavfi');
  // A file URL is percent-decoded (a file manager's or browser's "file:///…/My%20Videos/…");
  // a host is refused rather than silently dropped ("file://videos/a.mp4" is not "/a.mp4").
  assert.deepEqual(parseSource('file:///tmp/a%20b.mp4'), { kind: 'file', target: '/tmp/a b.mp4' });
  assert.deepEqual(parseSource('file://localhost/tmp/a.mp4'), { kind: 'file', target: '/tmp/a.mp4' });
  assert.throws(() => parseSource('file://videos/a.mp4'), /not a valid file URL: file:\/\/videos\/a\.mp4/);
  assert.equal(parseSource('clip.mp4').target.startsWith('/'), true);
  assert.throws(() => parseSource(42), /must be a string/);
  assert.throws(() => parseSource('x', 'bogus' as never), /unknown source type/);
  assert.throws(() => parseSource('', 'file'), /no file given/);
  assert.equal(withCredentials('rtsp://cam:554/s', 'bob', 'p@ss:w/rd'), 'rtsp://bob:p%40ss%3Aw%2Frd@cam:554/s');
  assert.equal(withCredentials('rtsp://a:b@cam/s', 'bob', 'x'), 'rtsp://a:b@cam/s');
  assert.equal(redactUrl("from 'rtsp://bob:p%40ss@cam:554/s'"), "from 'rtsp://***@cam:554/s'");
  // A source is one URL: its credentials are hidden even with a raw space in them.
  assert.throws(() => parseSource('rtsp://bob:pa ss@ho st/x'), (e: Error) => e.message === 'not a valid URL: rtsp://***@ho st/x');
  assert.equal(describeSource(parseSource('rtsp://bob:pa ss@cam/x')), 'url rtsp://***@cam/x');
  const inp = await prepareInput(parseSource('rtsp://cam/s'), { username: 'u', password: 'pw' });
  assert.deepEqual(inp.args, ['-rtsp_transport', 'tcp', '-i', 'rtsp://u:pw@cam/s']);
  assert.match(inp.description, /^url rtsp:\/\/cam\/s$/);
  const inp2 = await prepareInput(parseSource('rtsp://cam/s'), { extraArgs: '-rtsp_transport udp' });
  assert.deepEqual(inp2.args, ['-rtsp_transport', 'udp', '-i', 'rtsp://cam/s']);
  await assert.rejects(prepareInput(parseSource('rtsp://cam/s'), { extraArgs: '-i other' }), /must not contain -i/);
});

test('a URL that is not a supported stream URL is refused, never read as a file path whose errors showed its password', async () => {
  const leaks = (e: unknown) => String((e as Error).message).includes('hunter2');
  for (const [src, type] of [['mmsh://bob:hunter2@cam/live', 'auto'], ['hls+http://bob:hunter2@cam/x.m3u8', 'auto'], ['ftp://bob:hunter2@host/clip.mp4', 'file']] as const) {
    assert.throws(() => parseSource(src, type), (e: Error) => {
      assert.ok(e instanceof VideoSourceError && e.key === 'bad-source', String(e));
      assert.match(e.message, /^unsupported URL scheme "[a-z+]+:" \(stream URLs start with rtsp, rtsps, rtmp, rtmps, http, https, udp, tcp, srt or rtp\)$/);
      return true;
    }, src);
  }
  // A slash short: the same for a supported scheme.
  assert.throws(() => parseSource('rtsp:/bob:hunter2@cam/live'), (e: Error) => e.message === 'not a valid URL: "rtsp:" must be followed by "//"');
  // What stays a file path: a Windows drive, a colon further on, a relative name.
  assert.equal(parseSource('C:/videos/a.mp4').kind, 'file');
  assert.equal(parseSource('./a:b/c.mp4').kind, 'file');
  // A URL given as a device or a file URL: its errors name it without the password.
  await assert.rejects(prepareInput(parseSource('rtsp://bob:hunter2@cam/x', 'device')), (e: Error) => !leaks(e) && e.message === 'video device not found: rtsp://***@cam/x');
  assert.throws(() => parseSource('file://bob:hunter2@host/x.mp4'), (e: Error) => !leaks(e) && /^not a valid file URL: file:\/\/\*\*\*@host\/x\.mp4/.test(e.message));
});

test('file URLs in any case (and file:/…) are file URLs, not relative paths that showed their password; a stream URL typed as a File says so', async () => {
  const leaks = (e: unknown) => String((e as Error).message).includes('hunter2');
  // The scheme check let any-case "file:" through, to a relative path: "/cwd/FILE:/bob:hunter2@host/x.mp4".
  for (const src of ['FILE://bob:hunter2@host/x.mp4', 'File://bob:hunter2@host/x.mp4']) {
    assert.throws(() => parseSource(src), (e: Error) => !leaks(e) && /^not a valid file URL: \w+:\/\/\*\*\*@host\/x\.mp4/.test(e.message), src);
  }
  assert.deepEqual(parseSource('FILE:///tmp/a%20b.mp4'), { kind: 'file', target: '/tmp/a b.mp4' });
  assert.deepEqual(parseSource('file:/tmp/a.mp4'), { kind: 'file', target: '/tmp/a.mp4' });
  assert.deepEqual(parseSource('File:///tmp/a.mp4', 'file'), { kind: 'file', target: '/tmp/a.mp4' });
  // Source type File with a well-formed stream URL: its "//" is there.
  for (const src of ['https://cam/x.mp4', 'RTSP://bob:hunter2@cam/live']) {
    assert.throws(() => parseSource(src, 'file'), (e: Error) => {
      assert.ok(e instanceof VideoSourceError && e.key === 'bad-source', String(e));
      assert.ok(!leaks(e), e.message);
      assert.match(e.message, /^a (https|RTSP) stream URL is not a file: set the source type to URL \(or Auto\)$/);
      return true;
    }, src);
  }
});

// Before the look-behind, a 40 000-letter path took 13 s in redactUrl (a 1 MB one, minutes): the
// runner's timeout only guards against that hang; the assertions are about the results.
test('redactUrl is linear on long runs of letters; over-long sources are refused with a short message', { timeout: 20_000 }, () => {
  const letters = 'a'.repeat(1_000_000);
  assert.equal(redactUrl(`/tmp/${letters}`), `/tmp/${letters}`);
  assert.equal(redactUrl(`x${letters}://u:p@h/`), `x${letters}://***@h/`);
  assert.equal(redactUrl(`${letters}rtsp://u:p@h/ and http://a:b@c/`), `${letters}rtsp://***@h/ and http://***@c/`);
  assert.equal(redactUrl(`rtsp://${letters}`), `rtsp://${letters}`);
  assert.equal(redactUrl('a rtsp://u:p@h and x-y+z.w://q:r@s'), 'a rtsp://***@h and x-y+z.w://***@s');
  const long = `/tmp/${letters}`;
  assert.throws(() => parseSource(long), (e: Error) => {
    assert.equal(e.message, `source is too long (${long.length} characters, at most ${MAX_SOURCE_LENGTH}): /tmp/${'a'.repeat(55)}…`);
    return true;
  });
  assert.throws(() => parseSource(`rtsp://user:secret@cam/${letters}`), (e: Error) => !e.message.includes('secret') && /too long/.test(e.message));
  assert.equal(parseSource(`/tmp/${'a'.repeat(MAX_SOURCE_LENGTH - 5)}`).kind, 'file');
});

test('findFfmpeg: a bad configured path falls back (bundled @ffmpeg-installer here) and says why', async () => {
  const ff = await findFfmpeg({ path: '/nonexistent/ffmpeg', refresh: true });
  assert.notEqual(ff.origin, 'config');
  assert.match(ff.reason, /\/nonexistent\/ffmpeg does not exist/);
  assert.ok(ff.version.length > 0);
});

// A configured "ffmpeg" that ignores SIGTERM (a wrapper script, a binary hung on a dead mount):
// the probe's timeout sent SIGTERM and execFile waited for an exit that never came, so the probe,
// and with it the cached discovery every start of every source using that path awaits, stayed
// pending forever (the node showed "starting" with no error) and the process was left running.
test('probeFfmpeg times out (and kills) a binary that ignores SIGTERM instead of hanging', { timeout: 20_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emotionnet-probe-'));
  const bin = path.join(dir, 'ffmpeg');
  const pidFile = path.join(dir, 'pid');
  fs.writeFileSync(bin, `#!/bin/sh\necho $$ > '${pidFile}'\ntrap '' TERM\nexec sleep 60\n`, { mode: 0o755 });
  let pid = 0;
  try {
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      probeFfmpeg(bin, 300).then(() => 'resolved', () => 'rejected'),
      new Promise<string>((r) => (timer = setTimeout(() => r('still pending'), 8000))),
    ]);
    clearTimeout(timer);
    pid = Number(fs.readFileSync(pidFile, 'utf8'));
    assert.equal(outcome, 'rejected');
    assert.equal(pidAlive(pid), false, 'the probed process was left running');
  } finally {
    if (!pid && fs.existsSync(pidFile)) pid = Number(fs.readFileSync(pidFile, 'utf8'));
    if (pid && pidAlive(pid)) process.kill(pid, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// `npm install --omit=optional` (or a failed install) leaves out @ffmpeg-installer's per-platform
// binary package: @ffmpeg-installer/ffmpeg then throws a string of three long paths, which was cut
// mid-path in the message, and the hint said to install @ffmpeg-installer/ffmpeg, already there.
test('findFfmpeg without any ffmpeg names the missing @ffmpeg-installer platform package', async (t) => {
  const platformPkg = `@ffmpeg-installer/${process.platform}-${process.arch}`;
  if (!['darwin-arm64', 'darwin-x64', 'linux-arm', 'linux-arm64', 'linux-ia32', 'linux-x64', 'win32-ia32', 'win32-x64'].includes(`${process.platform}-${process.arch}`)) {
    t.skip(`@ffmpeg-installer has no binary package for ${process.platform}-${process.arch}`);
    return;
  }
  const Module = require('module') as { _load: (request: string, ...rest: unknown[]) => unknown };
  const load = Module._load;
  const saved = { PATH: process.env.PATH, EMOTIONNET_FFMPEG: process.env.EMOTIONNET_FFMPEG };
  Module._load = function (request: string, ...rest: unknown[]) {
    if (request === 'ffmpeg-static') throw Object.assign(new Error("Cannot find module 'ffmpeg-static'"), { code: 'MODULE_NOT_FOUND' });
    if (request === '@ffmpeg-installer/ffmpeg') {
      const p = `/home/user/.node-red/node_modules/${platformPkg}/ffmpeg`;
      throw `Could not find ffmpeg executable, tried "${p}", "/home/user/.node-red/node_modules/@ffmpeg-installer/ffmpeg/node_modules/${platformPkg}/ffmpeg" and "${p}"`;
    }
    return load.call(this, request, ...rest);
  };
  process.env.PATH = '/nonexistent-dir-for-ffmpeg-test';
  delete process.env.EMOTIONNET_FFMPEG;
  try {
    await assert.rejects(findFfmpeg({ refresh: true }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'FFMPEG_NOT_FOUND');
      assert.match(e.message, new RegExp(`@ffmpeg-installer/ffmpeg has no binary \\(${platformPkg.replace('/', '\\/')} is not installed\\)`));
      assert.doesNotMatch(e.message, /Could not find ffmpeg executable/, 'no long, cut-off list of paths');
      assert.ok(e.message.includes(`\`npm install ${platformPkg}\``), e.message);
      return true;
    });
  } finally {
    Module._load = load;
    process.env.PATH = saved.PATH;
    if (saved.EMOTIONNET_FFMPEG !== undefined) process.env.EMOTIONNET_FFMPEG = saved.EMOTIONNET_FFMPEG;
  }
});

// A 640x480 rgb24 frame is 921 kB and a pipe holds 64 kB: read one pipe-full per turn of the event
// loop, a frame took 15 turns, and a loop kept busy by detection read the video too slowly (the
// lag grew in ffmpeg without a frame dropped). The video source reads the rest of a started frame
// with readRestSync, within the callback of its first chunk.
test('readRestSync reads the rest of a 921 kB frame from a pipe within the first chunk\'s callback', async () => {
  const FRAME = 640 * 480 * 3;
  const child = spawn(process.execPath, ['-e', `process.stdout.write(Buffer.alloc(${FRAME}, 7))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let total = 0;
  let firstChunk = 0;
  let afterFirstCallback = 0;
  let bytesOk = true;
  const take = (c: Buffer) => {
    total += c.length;
    if (c.some((b) => b !== 7)) bytesOk = false;
  };
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (firstChunk === 0) {
        firstChunk = chunk.length;
        take(chunk);
        const fd = (child.stdout as unknown as { _handle: { fd: number } })._handle.fd;
        readRestSync(fd, take, () => total < FRAME, 5_000_000_000n); // a generous spin: a loaded CI machine
        afterFirstCallback = total;
      } else take(chunk);
    });
    child.on('close', () => resolve());
  });
  assert.ok(firstChunk < FRAME, `the first chunk (${firstChunk} B) is a pipe-full, not the frame`);
  assert.equal(afterFirstCallback, FRAME);
  assert.equal(total, FRAME, 'nothing read twice or lost');
  assert.ok(bytesOk);
});

test('createVideoSource refuses a misspelt pacing or a non-boolean loop (bad-source) instead of silently playing in real time / looping', () => {
  const bad: VideoSourceOptions[] = [{ pacing: 'fst' as never }, { pacing: 'Fast' as never }, { pacing: null as never }, { loop: 'yes' as never }, { loop: 'false' as never }, { loop: 1 as never }];
  for (const o of bad) {
    assert.throws(() => createVideoSource({ source: 'clip.mp4', ...o }), (e: unknown) => e instanceof VideoSourceError && e.key === 'bad-source' && /pacing|loop/.test(e.message), JSON.stringify(o));
  }
  for (const o of [{}, { pacing: 'fast' }, { pacing: 'realtime' }, { loop: true }, { loop: false }] as VideoSourceOptions[]) createVideoSource({ source: 'clip.mp4', ...o });
});
