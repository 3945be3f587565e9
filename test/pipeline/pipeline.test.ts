import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Subject, firstValueFrom, toArray, from, lastValueFrom } from 'rxjs';
import { analyzeFrames, createPipeline, DEMO_SHOTS, demoClipArgs, PipelineResult } from '../../src/pipeline';
import type { Frame } from '../../src/frame';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function frame(seq: number, t = Date.now()): Frame {
  return { width: 64, height: 48, format: 'rgb24', data: Buffer.alloc(64 * 48 * 3, seq % 255), timestamp: t, seq, sourceId: 'cam' };
}

/** Stand-in stages: one face per frame (track 1), "happy" with 0.9. */
function fakeStages(opts: { delayMs?: number; faces?: number } = {}) {
  const calls = { process: 0, batches: [] as number[] };
  return {
    calls,
    stages: {
      cropper: {
        async process(f: Frame) {
          calls.process++;
          if (opts.delayMs) await sleep(opts.delayMs);
          return Array.from({ length: opts.faces ?? 1 }, (_, i) => ({
            id: i + 1,
            box: { x: 1, y: 1, width: 10, height: 10 },
            score: 0.9,
            keypoints: {} as never,
            crop: { width: 48, height: 48, data: Buffer.alloc(48 * 48, f.seq) },
          }));
        },
      },
      classifier: {
        async classify(imgs: unknown[]) {
          calls.batches.push(imgs.length);
          return imgs.map(() => ({ label: 'happy', confidence: 0.9, probabilities: { anger: 0.05, happy: 0.9, sadness: 0.05 } }));
        },
      },
    },
  };
}

describe('analyzeFrames', () => {
  it('detects, classifies in one batch per frame, smooths and times every stage', async () => {
    const { stages, calls } = fakeStages({ faces: 3 });
    const t = Date.now();
    const out = await lastValueFrom(from([frame(0, t - 40), frame(1, t)]).pipe(analyzeFrames(stages as never, { policy: 'queue' }), toArray()));
    assert.equal(out.length, 2);
    assert.deepEqual(calls.batches, [3, 3]);
    const f = out[1].faces[0];
    assert.equal(f.emotion?.label, 'happy');
    assert.equal(f.smoothed?.label, 'happy');
    for (const k of ['detect', 'classify', 'smooth'] as const) assert.equal(typeof out[1].timing[k], 'number');
    assert.ok(out[1].latencyMs >= 0);
  });

  it('raises alert events from rules', async () => {
    const { stages } = fakeStages();
    const t = Date.now();
    const frames = Array.from({ length: 6 }, (_, i) => frame(i, t + i * 10));
    const out: PipelineResult[] = await lastValueFrom(
      from(frames).pipe(analyzeFrames(stages as never, { policy: 'queue', alerts: [{ name: 'visitor', type: 'presence', minDurationMs: 0 }] }), toArray()),
    );
    const events = out.flatMap((r) => r.events);
    assert.equal(events[0].event, 'start');
    assert.equal(events[0].rule, 'visitor');
    assert.equal(events[0].trackId, 1);
  });

  it('latest policy: frames that arrive while busy are dropped (counted), never queued', async () => {
    const { stages, calls } = fakeStages({ delayMs: 30 });
    const src = new Subject<Frame>();
    const got: PipelineResult[] = [];
    let dropped = 0;
    const sub = src.pipe(analyzeFrames(stages as never, { policy: 'latest', onDrop: () => dropped++ })).subscribe((r) => got.push(r));
    for (let i = 0; i < 10; i++) src.next(frame(i));
    await sleep(150);
    sub.unsubscribe();
    assert.deepEqual(got.map((r) => r.frame.seq), [0, 9]);
    assert.equal(dropped, 8);
    assert.equal(calls.process, 2);
  });

  it('a frame without faces costs no classifier call', async () => {
    const { stages, calls } = fakeStages({ faces: 0 });
    const r = await firstValueFrom(from([frame(0)]).pipe(analyzeFrames(stages as never)));
    assert.deepEqual(r.faces, []);
    assert.deepEqual(calls.batches, []);
  });
});

describe('createPipeline', () => {
  it('runs on frames you provide with injected stages and exposes results and events', async () => {
    const { stages } = fakeStages();
    const src = new Subject<Frame>();
    const p = await createPipeline({ source: src, stages: stages as never, policy: 'queue', alerts: [{ name: 'visitor', type: 'presence', minDurationMs: 0 }] });
    const events: unknown[] = [];
    const results: PipelineResult[] = [];
    p.events$.subscribe((e) => events.push(e));
    p.results$.subscribe((r) => results.push(r));
    await p.start();
    src.next(frame(0));
    src.next(frame(1));
    await sleep(50);
    await p.dispose();
    assert.equal(results.length, 2);
    assert.equal(events.length, 1);
    assert.equal(p.video, null);
  });
});

describe('demo clip recipe', () => {
  it('renders the six MIT demo photos to one 640x480 H.264 clip', () => {
    const args = demoClipArgs('/photos', '/out.mp4', 8, 25);
    assert.equal(DEMO_SHOTS.length, 6);
    assert.deepEqual(args.filter((a, i) => args[i - 1] === '-i').sort(), [1, 2, 3, 4, 5, 6].map((n) => `/photos/sample${n}.jpg`));
    const graph = args[args.indexOf('-filter_complex') + 1];
    assert.match(graph, /concat=n=6:v=1:a=0\[out\]/);
    assert.equal((graph.match(/s=640x480/g) ?? []).length, 6);
    assert.equal((graph.match(/d=200:/g) ?? []).length, 6);
    assert.equal(args[args.length - 1], '/out.mp4');
  });
});
