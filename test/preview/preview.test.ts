import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'http';
import * as jpeg from 'jpeg-js';
import { annotateFrame, drawText, glyph, LABEL_COLORS, MjpegBroadcaster, PreviewRenderer, splitMjpeg, textWidth } from '../../src/preview';
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

  it('keeps only the newest waiting frame while busy (latest policy)', async () => {
    const r = new PreviewRenderer({ maxFps: 0, worker: false });
    const results = await Promise.all([1, 2, 3, 4].map(() => r.render(rgbFrame(), [])));
    assert.deepEqual(results.map((x) => x !== null), [true, false, false, true]);
    assert.equal(r.stats.superseded, 2);
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
});
