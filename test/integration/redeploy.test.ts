/**
 * Reliability: redeploying the demo flow (full deployment through the admin API) leaves no
 * ffmpeg process behind, does not grow tf.memory().numTensors, and RSS stays within noise.
 * The suite runs 6 redeploys; `npm run soak` runs 50 (figures in the README). The endurance
 * mode (`npm run soak -- --minutes 60`) is checked here over 20 s.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pipelineModel } from './support';
import { runEndurance, runSoak, slope } from '../../bench/soak';

describe('redeploying the demo flow', { timeout: 150_000 }, () => {
  it('leaves no ffmpeg process, no tensors and no RSS growth behind', async () => {
    const m = await pipelineModel();
    const r = await runSoak({ redeploys: 6, model: m.model });
    for (const s of r.samples) {
      assert.ok(s.framesFlowing, `frames flow again after redeploy ${s.redeploy}`);
      assert.equal(s.ffmpeg, 1, `exactly one ffmpeg (the running source) after redeploy ${s.redeploy}`);
    }
    assert.equal(r.ffmpegAfterStop, 0, 'no ffmpeg left after the flows stopped');
    assert.equal(r.numTensorsLast, r.numTensorsFirst, 'tensor count stable across redeploys');
    assert.ok(r.rssGrowthMB < 40, `RSS grew ${r.rssGrowthMB} MB over ${r.redeploys - 3} redeploys`);
  });

  it('with the face node and the classifier in worker threads: every redeploy stops the old workers (the OS thread count stays put)', async () => {
    const m = await pipelineModel();
    const r = await runSoak({ redeploys: 6, model: m.model, threads: 1, classifyThreads: 1 });
    for (const s of r.samples) assert.ok(s.framesFlowing, `frames flow again after redeploy ${s.redeploy}`);
    assert.equal(r.osThreadsLast, r.osThreadsFirst, `OS threads ${r.samples.map((s) => s.osThreads).join(', ')}`);
    assert.equal(r.ffmpegAfterStop, 0);
    assert.equal(r.numTensorsLast, r.numTensorsFirst);
  });

  it('endurance mode: one deployment sampled over time, frames flowing in every interval, ffmpeg gone after', async () => {
    const m = await pipelineModel();
    const r = await runEndurance({ minutes: 20 / 60, everySeconds: 5, model: m.model });
    assert.equal(r.samples.length, 4, r.samples.map((s) => s.atSeconds).join(', '));
    assert.deepEqual(r.samples.map((s) => Math.round(s.atSeconds / 5) * 5), [5, 10, 15, 20]);
    for (const s of r.samples) {
      assert.ok(s.fps > 1, `frames reach the preview at ${s.atSeconds} s (${s.fps}/s)`);
      assert.equal(s.ffmpeg, 1, 'the one source runs');
    }
    assert.equal(r.fpsMin, Math.min(...r.samples.map((s) => s.fps)));
    assert.equal(r.ffmpegAfterStop, 0);
    assert.equal(r.numTensorsLast, r.numTensorsFirst, 'no tensor per frame left behind');
    assert.equal(typeof r.rssSlopeSecondHalfMBPerHour, 'number');
  });
});

describe('slope (the endurance growth rate)', () => {
  it('is the least-squares slope; null without two distinct x', () => {
    assert.equal(slope([[0, 1], [1, 3], [2, 5]]), 2);
    assert.equal(slope([[0, 1], [10, 1]]), 0);
    assert.equal(slope([[0, 1]]), null);
    assert.equal(slope([[3, 1], [3, 2]]), null);
  });
});
