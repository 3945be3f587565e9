/**
 * bench:live with several cameras over time (`npm run bench:live -- --seconds 3600 --every 60`,
 * the multi-camera endurance run in the README), checked here over a short window: two real-time
 * sources into one face and one classify node, sampled every 3 s.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runLive } from '../../bench/live-lag';
import { ffmpegChildren } from '../../bench/soak';

describe('bench:live --every (several cameras, sampled over time)', { timeout: 150_000 }, () => {
  it('samples each interval: frames from every source, both ffmpeg children alive, then none after', async () => {
    const r = await runLive({ sources: 2, fps: 5, seconds: 13, every: 3 });
    assert.ok(r.samples, 'samples returned with --every');
    const samples = r.samples!;
    assert.equal(samples.length, 5, samples.map((s) => s.atSeconds).join(', '));
    assert.deepEqual(samples.slice(0, 4).map((s) => Math.round(s.atSeconds / 3) * 3), [3, 6, 9, 12]);
    assert.ok(samples[4].atSeconds >= 13, 'the last sample at the end of the window');
    for (const s of samples.slice(1)) {
      assert.equal(s.ffmpeg, 2, `two sources running at ${s.atSeconds} s`);
      assert.equal(s.perSource.length, 2);
      for (const p of s.perSource) assert.ok(p.fps > 0, `${p.source} delivers frames at ${s.atSeconds} s (${p.fps}/s)`);
      assert.ok(s.rssMB > 0 && s.heapMB > 0 && s.osThreads > 0);
    }
    assert.equal(typeof r.rssSlopeSecondHalfMBPerHour, 'number');
    assert.equal(r.perSource.length, 2);
    for (const p of r.perSource) assert.ok(p.processed > 0 && p.latencyP95Ms >= p.latencyP50Ms);
    assert.equal(ffmpegChildren(), 0, 'no ffmpeg left after the run');
  });

  it('without --every: no samples (the short overload bench as before)', async () => {
    const r = await runLive({ sources: 1, fps: 5, seconds: 5 });
    assert.equal(r.samples, undefined);
    assert.equal(r.rssSlopeSecondHalfMBPerHour, undefined);
    assert.equal(r.perSource.length, 1);
  });
});
