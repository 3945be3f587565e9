import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'http';
import * as jpeg from 'jpeg-js';
import { annotateFrame, slimZones, DEFAULT_MAX_VIEWERS, drawFaces, MAX_DRAWN_FACES, drawText, glyph, GLYPH_HEIGHT, LABEL_COLORS, MjpegBroadcaster, PreviewFace, PreviewRenderer, RgbImage, splitMjpeg, textWidth, validateJpeg } from '../../src/preview';
import { decodeImage, DEFAULT_MAX_PIXELS } from '../../src/image';
import type { Frame } from '../../src/frame';

function rgbFrame(w = 320, h = 240, v = 40): Frame {
  return { width: w, height: h, format: 'rgb24', data: Buffer.alloc(w * h * 3, v), timestamp: 0, seq: 0, sourceId: 't' };
}
const decode = (b: Buffer) => jpeg.decode(b, { useTArray: true, formatAsRGBA: false });
const px = (img: { width: number; data: Uint8Array }, x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
const near = (a: number[], b: readonly number[], tol = 40) => a.every((v, i) => Math.abs(v - b[i]) <= tol);

const happyFace = {
  id: 7,
  box: { x: 100, y: 80, width: 80, height: 80 },
  emotion: { label: 'happy', confidence: 0.91, probabilities: { anger: 0.02, happy: 0.91, sadness: 0.07 } },
};

describe('preview font and drawing', () => {
  it('has 7-row glyphs for digits, letters and punctuation; lower case maps to upper case', () => {
    for (const ch of '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.:%#-') assert.equal(glyph(ch).length, 7, ch);
    assert.deepEqual(glyph('a'), glyph('A'));
    assert.notDeepEqual(glyph('A'), glyph('B'));
    assert.equal(textWidth('AB', 2), (5 + 1 + 5) * 2);
  });

  it('draws text pixels only where the glyph has bits, clipped at the image edge', () => {
    const img = { width: 20, height: 10, data: new Uint8Array(20 * 10 * 3) };
    drawText(img, 'I', 0, 0, [255, 255, 255]);
    // 'I' row 0 is 01110: x=1..3 lit, x=0 and x=4 dark.
    assert.deepEqual(px(img, 0, 0), [0, 0, 0]);
    assert.deepEqual(px(img, 2, 0), [255, 255, 255]);
    assert.doesNotThrow(() => drawText(img, 'WIDE TEXT', 15, 8, [255, 0, 0], 3));
  });
});

describe('annotateFrame', () => {
  it('returns a JPEG of the frame with the box in the label colour', () => {
    const out = annotateFrame(rgbFrame(), [happyFace], { quality: 90 });
    assert.equal(out[0], 0xff);
    assert.equal(out[1], 0xd8);
    const img = decode(out);
    assert.equal(img.width, 320);
    assert.equal(img.height, 240);
    assert.ok(near(px(img, 100, 120), LABEL_COLORS.happy, 70), `left edge ${px(img, 101, 120)}`);
    assert.ok(near(px(img, 140, 120), [40, 40, 40]), 'inside the box untouched');
  });

  it('uses the smoothed label when present and draws JPEG, gray and downscaled frames', () => {
    const smoothed = { ...happyFace, smoothed: { label: 'sadness', confidence: 0.6, probabilities: { sadness: 0.6, happy: 0.4 } } };
    const img = decode(annotateFrame(rgbFrame(), [smoothed], { quality: 90 }));
    assert.ok(near(px(img, 100, 120), LABEL_COLORS.sadness, 70));
    const jpegFrame: Frame = { ...rgbFrame(), format: 'jpeg', data: annotateFrame(rgbFrame(), []) };
    const small = decode(annotateFrame(jpegFrame, [happyFace], { maxWidth: 160, quality: 90 }));
    assert.deepEqual([small.width, small.height], [160, 120]);
    assert.ok(near(px(small, 50, 60), LABEL_COLORS.happy, 70), `scaled box ${px(small, 51, 60)}`);
    const gray: Frame = { ...rgbFrame(), format: 'gray', data: Buffer.alloc(320 * 240, 90) };
    assert.equal(decode(annotateFrame(gray, [])).width, 320);
  });

  it('never modifies the frame it draws on (other nodes still hold it)', () => {
    const f = rgbFrame();
    const before = Buffer.from(f.data);
    annotateFrame(f, [happyFace], { caption: 'X' });
    assert.ok(f.data.equals(before));
  });

  it('ignores faces without a box or with boxes outside the frame; rejects a short buffer', () => {
    assert.doesNotThrow(() => annotateFrame(rgbFrame(), [{}, { box: { x: -50, y: -50, width: 1000, height: 1000 } }, { box: { x: NaN, y: 0, width: 1, height: 1 } }] as never));
    assert.throws(() => annotateFrame({ ...rgbFrame(), data: Buffer.alloc(10) }, []), /expected 230400/);
  });
});

describe('zones (msg.zones from the face stage)', () => {
  it('dims outside the region of interest, tints ignore zones red, scales with the output, and keeps faces on top', () => {
    const zones = { roi: { x: 0.25, y: 0.25, width: 0.5, height: 0.5 }, ignore: [{ x: 0, y: 0, width: 0.1, height: 0.1 }] };
    const img = decode(annotateFrame(rgbFrame(320, 240, 120), [], { zones, quality: 95 }));
    assert.ok(near(px(img, 160, 120), [120, 120, 120], 8), 'inside the region: unchanged');
    assert.ok(px(img, 300, 200)[0] < 80, `outside: dimmed (${px(img, 300, 200)})`);
    const red = px(img, 10, 10);
    assert.ok(red[0] > red[1] + 20 && red[0] > red[2] + 20, `ignore zone: red tint (${red})`);
    // At half the width, the zones are where they are in fractions.
    const small = decode(annotateFrame(rgbFrame(320, 240, 120), [], { zones, maxWidth: 160, quality: 95 }));
    assert.ok(near(px(small, 80, 60), [120, 120, 120], 8) && px(small, 150, 100)[0] < 80);
  });

  it('slimZones keeps only drawable zones (anything in msg.zones may come from a user)', () => {
    assert.equal(slimZones(undefined), undefined);
    assert.equal(slimZones('x'), undefined);
    assert.equal(slimZones({ roi: null, ignore: [] }), undefined);
    assert.deepEqual(slimZones({ roi: { x: 0.1, y: 0.1, width: 0.5, height: 0.5, extra: 1 }, ignore: [{ x: 0, y: 0, width: NaN, height: 1 }, 'no', { x: 0, y: 0, width: 0.2, height: 0.2 }] }), {
      roi: { x: 0.1, y: 0.1, width: 0.5, height: 0.5 },
      ignore: [{ x: 0, y: 0, width: 0.2, height: 0.2 }],
    });
    assert.equal(slimZones({ ignore: Array(40).fill({ x: 0, y: 0, width: 0.1, height: 0.1 }) })!.ignore!.length, 16);
    // Zones far outside the frame are clipped when drawn, never a crash.
    const out = annotateFrame(rgbFrame(64, 48), [], { zones: slimZones({ roi: { x: -5, y: 2, width: 100, height: 3 } }) });
    assert.equal(decode(out).width, 64);
  });

  it('the renderer (worker thread, compiled build) draws msg.zones given to render()', async () => {
    const { PreviewRenderer: Compiled } = require('../../dist/src/preview') as typeof import('../../src/preview');
    const r = new Compiled({ maxFps: 0, quality: 95 });
    try {
      const plain = decode((await r.render(rgbFrame(320, 240, 120), [])) as Buffer);
      const zoned = decode((await r.render(rgbFrame(320, 240, 120), [], undefined, { zones: { roi: { x: 0.5, y: 0, width: 0.5, height: 1 } } })) as Buffer);
      assert.equal(r.usesWorker, true);
      assert.ok(near(px(plain, 40, 120), [120, 120, 120], 8));
      assert.ok(px(zoned, 40, 120)[0] < 80, 'the left half is dimmed');
    } finally {
      await r.close();
    }
  });
});

describe('drawFaces: labels and bar panels', () => {
  const canvas = (w = 320, h = 240, v = 100): RgbImage => ({ width: w, height: h, data: new Uint8Array(w * h * 3).fill(v) });
  /** The pixels of a rectangle, row by row. */
  const region = (img: RgbImage, x: number, y: number, w: number, h: number) => {
    const rows: number[][] = [];
    for (let yy = y; yy < y + h; yy++) rows.push(Array.from(img.data.subarray((yy * img.width + x) * 3, (yy * img.width + x + w) * 3)));
    return rows;
  };
  const th = GLYPH_HEIGHT + 2; // label height at scale 1 (images narrower than 480 px)
  const labelW = (text: string) => textWidth(text, 1) + 2;
  const face = (x: number, y: number, w: number, h: number, extra: Partial<PreviewFace> = {}): PreviewFace => ({
    id: 7, box: { x, y, width: w, height: h }, emotion: { label: 'happy', confidence: 0.91 }, ...extra,
  });

  it('keeps a label inside the image: a face at the right edge, and a face filling the frame', () => {
    const tw = labelW('#7 happy 91%');
    // The label as drawn well inside the image: above the box, at its left edge.
    const ref = canvas();
    drawFaces(ref, [face(100, 100, 40, 40)]);
    const label = region(ref, 100, 100 - th, tw, th);
    assert.ok(label.flat().some((v) => v === 0), 'the reference label has text');

    const edge = canvas();
    drawFaces(edge, [face(290, 100, 30, 40)]);
    assert.deepEqual(region(edge, 320 - tw, 100 - th, tw, th), label, 'the whole label, ending at the right edge');

    // No room above or below the box: the label sits at the bottom edge, inside the image.
    const full = canvas();
    drawFaces(full, [face(0, 0, 320, 240)]);
    assert.deepEqual(region(full, 0, 240 - th, tw, th), label, 'the whole label, at the bottom edge');
  });

  it('draws every bar panel before any box or label: a label over another face\'s bars stays visible, whatever the face order', () => {
    // A's bar panel lies right of its box (x 82..142, y 100..127); B's label (above its box at
    // x 90, y 106) lies inside that panel.
    const a = face(20, 100, 60, 60, { id: 1, emotion: { label: 'happy', confidence: 0.8, probabilities: { anger: 0.1, happy: 0.8, sadness: 0.1 } } });
    const b = face(90, 115, 40, 40, { id: undefined, emotion: { label: 'sadness', confidence: 0.6 } });
    const tw = labelW('sadness 60%');
    const alone = canvas();
    drawFaces(alone, [b]);
    const bLabel = region(alone, 90, 115 - th, tw, th);
    const panelOnly = canvas();
    drawFaces(panelOnly, [a]);
    assert.notDeepEqual(region(panelOnly, 90, 115 - th, tw, th), region(canvas(), 90, 115 - th, tw, th), 'the panel covers the spot');
    for (const order of [[b, a], [a, b]]) {
      const img = canvas();
      drawFaces(img, order);
      assert.deepEqual(region(img, 90, 115 - th, tw, th), bLabel, `order ${order.map((f) => f.emotion?.label).join(', ')}`);
      // the left padding of B's label, inside A's panel: exactly B's colour
      assert.deepEqual(region(img, 90, 110, 1, 1)[0], [...LABEL_COLORS.sadness]);
    }
  });
});

// A message may list any number of faces, with labels and probability maps of any size: 10 000
// faces took 5 s a frame, a label of a million characters 1.7 s, though nothing more was visible.
describe('drawFaces: bounded work for any message', () => {
  const W = 320;
  const H = 240;
  let reads = 0;
  /** An image that counts reads of its width: every rectangle and glyph drawn, even clipped away, reads it. */
  const counted = (): RgbImage => {
    const data = new Uint8Array(W * H * 3).fill(40);
    return { get width() { reads++; return W; }, height: H, data };
  };
  const probabilities = { anger: 0.1, happy: 0.8, sadness: 0.1 };
  const faces = (n: number): PreviewFace[] => Array.from({ length: n }, (_, i) => ({ id: i, box: { x: 10, y: 10, width: 50, height: 50 }, emotion: { label: 'happy', confidence: 0.8, probabilities } }));
  const work = (list: PreviewFace[], caption = 'x') => {
    reads = 0;
    const img = counted();
    drawFaces(img, list, { caption });
    return { reads, img };
  };

  it(`draws at most MAX_DRAWN_FACES (${MAX_DRAWN_FACES}) faces and says at the bottom left how many it left out`, () => {
    const { img } = work([...faces(MAX_DRAWN_FACES), { box: { x: 250, y: 150, width: 40, height: 40 } }]);
    assert.deepEqual(px(img, 250, 150), [40, 40, 40], 'the face past the limit is not drawn');
    assert.ok(px(img, 1, H - 1)[0] < 40, 'a note on a dark band at the bottom left');
    const { img: all } = work(faces(MAX_DRAWN_FACES));
    assert.deepEqual(px(all, 1, H - 1), [40, 40, 40], 'no note when every face is drawn');
    assert.ok(work(faces(10_000)).reads < 2 * work(faces(MAX_DRAWN_FACES)).reads);
  });

  it('draws of a huge label, caption or probability map only what fits in the image', () => {
    const many: Record<string, number> = {};
    for (let i = 0; i < 100_000; i++) many[`k${i}`] = 0.5;
    const one = work(faces(1)).reads;
    const huge = work([{ id: 1, box: { x: 10, y: 10, width: 50, height: 50 }, emotion: { label: 'x'.repeat(200_000), confidence: 0.8, probabilities: many } }], 'y'.repeat(200_000));
    assert.ok(huge.reads < 10 * one, `${huge.reads} width reads, ${one} for one ordinary face`);
  });
});

describe('validateJpeg', () => {
  /** SOI + SOF0 (height, width, 3 components) + EOI: a header only. */
  // A frame header and an empty scan (SOS) then the end marker: checks pass or fail on the size.
  const headerOnly = (w: number, h: number) => Buffer.from([
    0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, h >> 8, h & 0xff, w >> 8, w & 0xff, 0x03,
    0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01,
    0xff, 0xda, 0x00, 0x0c, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0x11, 0x00, 0x3f, 0x00, 0x00,
    0xff, 0xd9,
  ]);

  it('accepts a sound JPEG and rejects, without decoding, what the decoder would refuse before decoding, with its words', () => {
    const good = annotateFrame(rgbFrame(64, 48), []);
    assert.equal(validateJpeg(good), null);
    assert.equal(validateJpeg(Buffer.concat([good, Buffer.alloc(8)])), null, 'a little zero padding after EOI');
    assert.equal(validateJpeg(Buffer.concat([good, Buffer.from('\r\n')])), null, "a multipart splitter's CRLF after EOI");
    assert.equal(DEFAULT_MAX_PIXELS, 4096 * 4096);
    assert.equal(validateJpeg(headerOnly(4096, 4096)), null, 'exactly the limit');
    const bad = [
      Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0xff, 0xd9]), // no SOF
      good.subarray(0, good.length >> 1), // truncated
      headerOnly(4097, 4096),
      headerOnly(20000, 20000),
      headerOnly(0, 16),
    ];
    for (const b of bad) {
      const problem = validateJpeg(b);
      assert.ok(problem, b.subarray(0, 12).toString('hex'));
      assert.throws(() => decodeImage(b), (e: Error) => e.message === problem);
    }
    assert.match(validateJpeg(headerOnly(20000, 20000)) ?? '', /20000x20000 \(400\.0 MP\), above the limit of 16\.8 MP/);
    assert.match(validateJpeg(Buffer.from([0xff, 0xd8, 0, 0, 0])) ?? '', /not a JPEG/);
  });
});

describe('PreviewRenderer', () => {
  it('throttles to maxFps and reports skipped frames', async () => {
    let now = 0;
    const r = new PreviewRenderer({ maxFps: 5, worker: false, now: () => now });
    const a = await r.render(rgbFrame(), [happyFace]);
    now = 100;
    const b = await r.render(rgbFrame(), [happyFace]);
    now = 250;
    const c = await r.render(rgbFrame(), []);
    assert.ok(a && c);
    assert.equal(b, null);
    assert.deepEqual(r.stats, { rendered: 2, throttled: 1, superseded: 0, errors: 0 });
    await r.close();
  });

  it('after the clock steps back (NTP), frames render at maxFps again, not after the clock has caught up', async () => {
    let now = 1_764_000_000_000;
    const r = new PreviewRenderer({ maxFps: 5, worker: false, now: () => now });
    assert.ok(await r.render(rgbFrame(), []));
    now -= 3_600_000; // the wall clock steps back an hour
    const rendered: boolean[] = [];
    for (let i = 0; i < 4; i++) {
      rendered.push((await r.render(rgbFrame(), [])) !== null);
      now += 100;
    }
    assert.deepEqual(rendered, [true, false, true, false], 'one frame in two at 10 fps in, 5 fps out');
    await r.close();
  });

  it('Max rate: a camera at exactly that rate, its frames a few ms early or late, is passed on whole; twice the rate gives the rate', async () => {
    let now = 1_764_000_000_000;
    const r = new PreviewRenderer({ maxFps: 10, worker: false, now: () => now });
    const jitter = [0, -3, 2, -1, 3, -2, 1, -3, 0, 2];
    let rendered = 0;
    for (let i = 0; i < 50; i++) {
      now = 1_764_000_000_000 + i * 100 + jitter[i % jitter.length];
      if ((await r.render(rgbFrame(), [])) !== null) rendered++;
    }
    assert.equal(rendered, 50, 'a 10 fps camera at Max rate 10');
    let fast = 0;
    for (let i = 0; i < 50; i++) {
      now = 1_764_000_010_000 + i * 50 + jitter[i % jitter.length];
      if ((await r.render(rgbFrame(), [])) !== null) fast++;
    }
    assert.ok(fast >= 24 && fast <= 26, `a 20 fps input at Max rate 10 rendered ${fast} of 50`);
    await r.close();
  });

  it('keeps only the newest waiting frame (latest policy): frames offered together render once, the newest', async () => {
    const r = new PreviewRenderer({ maxFps: 0, worker: false });
    const results = await Promise.all([1, 2, 3, 4].map(() => r.render(rgbFrame(), [])));
    assert.deepEqual(results.map((x) => x !== null), [false, false, false, true]);
    assert.equal(r.stats.superseded, 3);
    await r.close();
  });

  it('renders in a worker thread from the compiled build, and rejects undecodable frames', async () => {
        const { PreviewRenderer: Compiled } = require('../../dist/src/preview') as typeof import('../../src/preview');
    const r = new Compiled({ maxFps: 0 });
    const out = await r.render(rgbFrame(), [happyFace]);
    assert.equal(r.usesWorker, true);
    assert.equal(decode(out as Buffer).width, 320);
    await assert.rejects(r.render({ ...rgbFrame(), format: 'jpeg', data: Buffer.from([0xff, 0xd8, 1, 2, 3]) }, []));
    await r.close();
  });
});

describe('MjpegBroadcaster', () => {
  it('streams multipart JPEG frames to every viewer and ends streams on close', async () => {
    const b = new MjpegBroadcaster();
    const server = http.createServer((req, res) => b.attach(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const frames = [1, 2, 3].map((v) => annotateFrame(rgbFrame(64, 48, v * 50), []));
    const received = new Promise<{ type: string; body: Buffer }>((resolve, reject) => {
      http.get(`http://127.0.0.1:${port}/`, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ type: String(res.headers['content-type']), body: Buffer.concat(chunks) }));
      }).on('error', reject);
    });
    while (b.viewers === 0) await new Promise((r) => setTimeout(r, 5));
    for (const f of frames) {
      b.push(f);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(b.latest, frames[2]);
    b.close();
    const { type, body } = await received;
    assert.match(type, /^multipart\/x-mixed-replace; boundary=/);
    const got = splitMjpeg(body);
    assert.equal(got.length, 3);
    assert.deepEqual(got[1], frames[1]);
    assert.equal(b.viewers, 0);
    await new Promise((r) => server.close(r));
  });

  async function serve(b: MjpegBroadcaster): Promise<{ server: http.Server; url: string }> {
    const server = http.createServer((req, res) => b.attach(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/` };
  }
  /** Closes the broadcaster, the client requests and the server. */
  async function shutdown(b: MjpegBroadcaster, server: http.Server, opened: http.ClientRequest[] = []): Promise<void> {
    b.close();
    for (const r of opened) r.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  /** Opens a request; resolves at its response headers (rejects if none within 2 s). */
  function open(url: string, method = 'GET'): Promise<{ req: http.ClientRequest; res: http.IncomingMessage; body: Promise<string> }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${method}: no response headers within 2 s`)), 2000);
      const req = http.request(url, { method, agent: false }, (res) => {
        clearTimeout(timer);
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        const body = new Promise<string>((r) => res.on('end', () => r(Buffer.concat(chunks).toString())));
        resolve({ req, res, body });
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('answers HEAD with the stream headers and ends the response: not a viewer', async () => {
    const b = new MjpegBroadcaster();
    b.push(annotateFrame(rgbFrame(64, 48), []));
    const { server, url } = await serve(b);
    try {
      const head = await open(url, 'HEAD');
      assert.equal(head.res.statusCode, 200);
      assert.match(String(head.res.headers['content-type']), /^multipart\/x-mixed-replace/);
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('HEAD response held open')), 2000);
        head.res.socket.once('close', () => {
          clearTimeout(t);
          resolve();
        });
      });
      assert.equal(b.viewers, 0);
    } finally {
      await shutdown(b, server);
    }
  });

  it('disconnects a viewer that stays connected but stops reading (after stallTimeoutMs), not one that reads; its slot is free again', async () => {
    assert.equal(new MjpegBroadcaster().stallTimeoutMs, 30_000);
    let now = 0;
    const b = new MjpegBroadcaster({ maxViewers: 2, stallTimeoutMs: 1000, now: () => now });
    const { server, url } = await serve(b);
    const opened: http.ClientRequest[] = [];
    try {
      const stuck = await open(url);
      stuck.res.pause(); // connected, never reads again
      const reader = await open(url); // reads everything
      opened.push(stuck.req, reader.req);
      assert.equal(b.viewers, 2);
      // Big frames until the stuck viewer's socket is full (frames skipped for it push after push).
      const big = Buffer.alloc(1 << 20, 7);
      let streak = 0;
      for (let i = 0; i < 300 && streak < 5; i++) {
        const before = b.skipped;
        b.push(big);
        await new Promise((r) => setTimeout(r, 10));
        streak = b.skipped > before ? streak + 1 : 0;
      }
      assert.equal(streak, 5, 'the stuck viewer stopped taking frames');
      await new Promise((r) => setTimeout(r, 300)); // the reader has taken everything sent to it
      now += 999;
      b.push(Buffer.from('x'));
      assert.deepEqual([b.viewers, b.stalled], [2, 0], 'not yet: under the timeout');
      now += 1;
      b.push(Buffer.from('y'));
      assert.deepEqual([b.viewers, b.stalled], [1, 1], 'the stuck viewer is dropped, the reader kept');
      const next = await open(url);
      opened.push(next.req);
      assert.equal(next.res.statusCode, 200, 'its slot serves a new viewer');
      assert.equal(b.viewers, 2);
    } finally {
      await shutdown(b, server, opened);
    }
  });

  it('a bad maxViewers or stallTimeoutMs is a TypeError naming it (it was replaced by the default silently)', () => {
    for (const maxViewers of [-1, 2.5, NaN, Infinity, '3' as unknown as number]) {
      assert.throws(() => new MjpegBroadcaster({ maxViewers }), (e: unknown) => e instanceof TypeError && /maxViewers must be a whole number >= 0/.test(e.message), String(maxViewers));
    }
    for (const stallTimeoutMs of [0, -5, NaN, Infinity, '1000' as unknown as number]) {
      assert.throws(() => new MjpegBroadcaster({ stallTimeoutMs }), (e: unknown) => e instanceof TypeError && /stallTimeoutMs must be a number of ms > 0/.test(e.message), String(stallTimeoutMs));
    }
    assert.equal(new MjpegBroadcaster({ maxViewers: 0 }).maxViewers, 0);
  });

  it('serves at most maxViewers (default 20): the next gets 503 with Retry-After; a freed slot is reused', async () => {
    assert.equal(DEFAULT_MAX_VIEWERS, 20);
    assert.equal(new MjpegBroadcaster().maxViewers, 20);
    const b = new MjpegBroadcaster({ maxViewers: 2 });
    const { server, url } = await serve(b);
    const opened: http.ClientRequest[] = [];
    try {
      const viewers = [await open(url), await open(url)];
      opened.push(...viewers.map((v) => v.req));
      assert.deepEqual([viewers[0].res.statusCode, viewers[1].res.statusCode, b.viewers, b.full], [200, 200, 2, true]);
      const refused = await open(url);
      assert.equal(refused.res.statusCode, 503);
      assert.equal(refused.res.headers['retry-after'], '5');
      assert.match(await refused.body, /^Too many viewers: this preview stream serves at most 2 at a time/);
      assert.equal(b.viewers, 2);
      viewers[0].req.destroy();
      while (b.viewers > 1) await new Promise((r) => setTimeout(r, 5));
      const next = await open(url);
      opened.push(next.req);
      assert.equal(next.res.statusCode, 200);
      assert.equal(b.viewers, 2);
    } finally {
      await shutdown(b, server, opened);
    }
  });
});
