import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { Subject, firstValueFrom, toArray, from, lastValueFrom } from 'rxjs';
import { analyzeFrames, createPipeline, DEMO_SHOTS, demoClipArgs, PipelineResult } from '../../src/pipeline';
import type { Frame } from '../../src/frame';
import { pidAlive } from '../../src/ffmpeg';
import { FlowControl } from '../../src/overload';
import { ClassifierPool, loadClassifier, setClassifierLoader } from '../../src/classify';
import { createFaceCropper } from '../../src/face';
import { cleanup, makeClip, tmpDir, waitFor } from '../video/clips';
import { createVideoSource, VideoSourceError } from '../../src/video';
import { DEMO_FACE_COUNTS, demoPhotoDir, demoPhotoFrames } from '../../bench/stages/detect';

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
  it('queue policy: each source reports its own queue depth to FlowControl, a 33rd source too (as the face node)', async () => {
    let held: Promise<void> | null = null;
    let release = () => {};
    const { stages } = fakeStages();
    const process = stages.cropper.process;
    stages.cropper.process = async (f: Frame) => {
      if (held) await held;
      return process(f);
    };
    const frames = new Subject<Frame>();
    let results = 0;
    const sub = frames.pipe(analyzeFrames(stages as never, { policy: 'queue', smooth: false, concurrency: 1 })).subscribe(() => results++);
    const frame = (sourceId: string, seq: number) => ({ width: 2, height: 2, format: 'gray', data: Buffer.alloc(4), timestamp: Date.now(), seq, sourceId }) as Frame;
    const sids = [...Array.from({ length: 32 }, (_, i) => `af-src-${i}`), 'af-busy', 'af-33'];
    const depth = (sid: string) => FlowControl.for(sid).maxDepth;
    try {
      // 32 sources have sent a frame (16 at a time, what the queue holds)…
      for (let i = 0; i < 32; i += 16) {
        for (let j = i; j < i + 16; j++) frames.next(frame(sids[j], 0));
        await waitFor(() => results === i + 16, 2000, 'the first frames analysed');
      }
      // …then a 33rd sends 3 frames while another source's frame is being analysed.
      held = new Promise<void>((r) => (release = r));
      frames.next(frame('af-busy', 0));
      for (let seq = 0; seq < 3; seq++) frames.next(frame('af-33', seq));
      await waitFor(() => results === 32 && depth('af-busy') === 0, 2000, 'the busy frame started'); // the queue starts it on a later tick
      assert.equal(depth('af-33'), 3, 'the 33rd source: its own 3 queued frames');
      assert.equal(depth('af-src-0'), 0, 'an earlier source with nothing queued');
      assert.equal(depth('af-busy'), 0, 'the source of the running frame');
      release();
      await waitFor(() => results === 36, 2000, 'every frame analysed');
      assert.equal(depth('af-33'), 0, 'back to 0');
    } finally {
      release();
      sub.unsubscribe();
      for (const sid of sids) FlowControl.release(sid);
    }
  });

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
    src.next(frame(0));
    await sleep(5); // 0 is being processed (30 ms)
    for (let i = 1; i < 10; i++) src.next(frame(i));
    await sleep(150);
    sub.unsubscribe();
    assert.deepEqual(got.map((r) => r.frame.seq), [0, 9]);
    assert.equal(dropped, 8);
    assert.equal(calls.process, 2);
  });

  it('a frame whose timestamp is NaN is smoothed on the clock: the track keeps following the classifier', async () => {
    const { stages } = fakeStages();
    let n = 0;
    const classifier = {
      async classify(imgs: unknown[]) {
        const label = n++ < 5 ? 'happy' : 'sadness';
        return imgs.map(() => ({ label, confidence: 0.95, probabilities: { happy: label === 'happy' ? 0.95 : 0.05, sadness: label === 'happy' ? 0.05 : 0.95 } }));
      },
    };
    const t0 = Date.now(); // capture times near the clock, as from a camera
    const frames = Array.from({ length: 14 }, (_, i) => ({ ...frame(i), timestamp: i === 2 ? NaN : t0 + i * 100 }));
    const out = await lastValueFrom(from(frames).pipe(analyzeFrames({ ...stages, classifier } as never, { policy: 'queue', smooth: { halfLifeMs: 200, minDwellMs: 100 } }), toArray()));
    const last = out[out.length - 1].faces[0].smoothed!;
    assert.equal(last.label, 'sadness');
    assert.ok(last.confidence > 0.9, String(last.confidence));
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

describe('analyzeFrames concurrency', () => {
  it('frames of different sources run at once up to `concurrency`, never two of one source; each source stays in order', async () => {
    let running = 0;
    let most = 0;
    const perSource = new Map<string, number>();
    let sameSourceOverlap = false;
    const stages = fakeStages().stages;
    const cropper = {
      async process(f: Frame) {
        running++;
        most = Math.max(most, running);
        const n = (perSource.get(f.sourceId) ?? 0) + 1;
        perSource.set(f.sourceId, n);
        if (n > 1) sameSourceOverlap = true;
        await sleep(5);
        running--;
        perSource.set(f.sourceId, n - 1);
        return stages.cropper.process(f);
      },
    };
    const frames = ['a', 'b', 'c'].flatMap((s) => [0, 1, 2].map((seq) => ({ ...frame(seq), sourceId: s })));
    const out = await lastValueFrom(from(frames).pipe(analyzeFrames({ cropper, classifier: stages.classifier } as never, { policy: 'queue', concurrency: 2 }), toArray()));
    assert.equal(out.length, 9);
    assert.equal(most, 2, 'two frames at once, not more');
    assert.equal(sameSourceOverlap, false);
    for (const s of ['a', 'b', 'c']) assert.deepEqual(out.filter((r) => r.frame.sourceId === s).map((r) => r.frame.seq), [0, 1, 2]);
    assert.throws(() => analyzeFrames(stages as never, { concurrency: 0 }), /concurrency/);
  });

  it('createPipeline with face.threads: real detection in worker threads, two cameras, each in order', { skip: demoPhotoDir() ? false : 'demo photos not installed' }, async () => {
    const { classifier } = fakeStages().stages;
    const src = new Subject<Frame>();
    const p = await createPipeline({ source: src, stages: { classifier } as never, face: { threads: 2 }, policy: 'queue', smooth: false });
    try {
      const all = lastValueFrom(p.results$.pipe(toArray()));
      await p.start();
      const photos = demoPhotoFrames();
      for (let seq = 0; seq < 2; seq++) for (const cam of ['a', 'b']) src.next({ ...photos[cam === 'a' ? 0 : 1], sourceId: cam, seq, timestamp: Date.now() });
      src.complete();
      const results = await all;
      for (const cam of ['a', 'b']) {
        const mine = results.filter((r) => r.frame.sourceId === cam);
        assert.deepEqual(mine.map((r) => r.frame.seq), [0, 1]);
        assert.deepEqual(mine.map((r) => r.faces.length), Array(2).fill(DEMO_FACE_COUNTS[cam === 'a' ? 0 : 1]));
      }
    } finally {
      await p.dispose();
    }
  });

  it("defaults to the cropper's detector threads + 1 (one waits in the detector's backlog)", async () => {
    let most = 0;
    let running = 0;
    const stages = fakeStages().stages;
    const cropper = {
      detector: { threads: 2 },
      async process(f: Frame) {
        most = Math.max(most, ++running);
        await sleep(5);
        running--;
        return stages.cropper.process(f);
      },
    };
    const frames = ['a', 'b', 'c', 'd'].map((s) => ({ ...frame(0), sourceId: s }));
    await lastValueFrom(from(frames).pipe(analyzeFrames({ cropper, classifier: stages.classifier } as never, { policy: 'queue' }), toArray()));
    assert.equal(most, 3);
    // A classifier in more worker threads than the detector sets it: its threads + 1.
    most = 0;
    const classifier = { threads: 3, classify: stages.classifier.classify.bind(stages.classifier) };
    await lastValueFrom(from([...frames, { ...frame(0), sourceId: 'e' }]).pipe(analyzeFrames({ cropper, classifier } as never, { policy: 'queue' }), toArray()));
    assert.equal(most, 4);
  });

  it('createPipeline with classifier.threads: the model in worker threads classifies as in this thread', { skip: fs.existsSync(path.join(__dirname, '../../models/nano-b-wild/model.json')) ? false : 'shipped weights not installed' }, async () => {
    const { stages } = fakeStages();
    const src = new Subject<Frame>();
    const p = await createPipeline({ source: src, stages: { cropper: stages.cropper } as never, classifier: { model: 'nano-b-wild', threads: 1 }, policy: 'queue', smooth: false });
    const here = await loadClassifier({ model: 'nano-b-wild' });
    try {
      assert.ok(p.classifier instanceof ClassifierPool);
      const all = lastValueFrom(p.results$.pipe(toArray()));
      await p.start();
      for (let seq = 0; seq < 3; seq++) for (const cam of ['a', 'b']) src.next({ ...frame(seq), sourceId: cam });
      src.complete();
      const results = await all;
      assert.equal(results.length, 6);
      for (const r of results) {
        assert.ok(r.faces.length > 0);
        const want = await here.classify(r.faces.map((f) => f.crop as never));
        assert.deepEqual(r.faces.map((f) => f.emotion?.label), want.map((w) => w.label));
      }
    } finally {
      await p.dispose();
      here.dispose();
    }
    await assert.rejects(p.classifier.classify([]), /disposed/, 'dispose stopped the workers');
  });
});

describe('createPipeline lifecycle', () => {
  after(cleanup);

  it('results$ and events$ complete once a given Observable completes and its last frame is analysed; no restart after that', async () => {
    const { stages } = fakeStages({ delayMs: 5 });
    const src = new Subject<Frame>();
    const p = await createPipeline({ source: src, stages: stages as never, policy: 'queue', alerts: [{ name: 'visitor', type: 'presence', minDurationMs: 0 }] });
    const all = lastValueFrom(p.results$.pipe(toArray()));
    const events = lastValueFrom(p.events$.pipe(toArray()));
    await p.start();
    [0, 1, 2].forEach((i) => src.next(frame(i)));
    src.complete();
    assert.deepEqual((await all).map((r) => r.frame.seq), [0, 1, 2]);
    assert.equal((await events).length, 1);
    await assert.rejects(p.start(), /this pipeline has ended; create a new one/);
    await p.dispose();
  });

  it('invalid policy, smoothing or alert options throw from createPipeline, before anything is loaded', async () => {
    const { stages } = fakeStages();
    await assert.rejects(createPipeline({ source: new Subject<Frame>(), stages: stages as never, policy: 'drop' as never }), (e: unknown) => e instanceof TypeError && /`policy`.*'latest' or 'queue'.*drop/.test(e.message));
    await assert.rejects(createPipeline({ source: new Subject<Frame>(), stages: stages as never, smooth: { method: 'median' as never } }), (e: unknown) => e instanceof TypeError && /`method`.*median/.test(e.message));
    await assert.rejects(createPipeline({ source: new Subject<Frame>(), stages: stages as never, alerts: [{ name: '' } as never] }), /name/);
    // nothing is loaded: a bad option fails fast even where no model could load
    await assert.rejects(createPipeline({ policy: 'drop' as never, classifier: { model: 'no-such-model' } }), TypeError);
  });

  it('bad source, face, detector, tracker or classifier (tta, executor, backend, threads) options throw from createPipeline before any weights load', async () => {
    let loads = 0;
    setClassifierLoader(async () => {
      loads++;
      throw new Error('the classifier was loaded');
    });
    // Weights that do not exist: had the detector been loaded first, its error would win.
    const face = { modelPath: path.join(tmpDir, 'no-such-detector.json') };
    try {
      await assert.rejects(createPipeline({ source: { fps: -1 }, face }), /fps must be a number >= 0/);
      await assert.rejects(createPipeline({ source: new Subject<Frame>(), face: { ...face, detectEvery: 0 } }), /`detectEvery` to be an integer >= 1/);
      await assert.rejects(createPipeline({ source: new Subject<Frame>(), face: { ...face, minConfidence: 2 } }), /minConfidence/);
      await assert.rejects(createPipeline({ source: new Subject<Frame>(), face: { ...face, tracker: { reidFrames: Number.NaN } } }), /`reidFrames` to be an integer >= 0/);
      await assert.rejects(createPipeline({ source: new Subject<Frame>(), face: { ...face, tracker: { reidSimilarity: 1.5 } } }), /`reidSimilarity` to be a finite number in -1..1/);
      await assert.rejects(createPipeline({ source: new Subject<Frame>(), face: { ...face, jpeg: 'no' as never } }), /`jpeg` to be a boolean/);
      await assert.rejects(createPipeline({ source: new Subject<Frame>(), face, classifier: { tta: 'x' as never } }), /tta/);
      // The classifier's backend and executor too: not only once the detector has loaded (then disposed).
      await assert.rejects(createPipeline({ source: new Subject<Frame>(), face, classifier: { executor: 'fast' as never } }), (e: unknown) => e instanceof TypeError && /Invalid executor option "fast"/.test(e.message));
      await assert.rejects(createPipeline({ source: new Subject<Frame>(), face, classifier: { backend: 'gpu' } }), (e: unknown) => e instanceof TypeError && /Unknown TensorFlow.js backend "gpu"/.test(e.message));
      await assert.rejects(createPipeline({ source: new Subject<Frame>(), face: { ...face, threads: 20 } }), /`threads` to be an integer in 0..8/);
      await assert.rejects(createPipeline({ source: new Subject<Frame>(), face: { ...face, threads: 1.5 } }), /`threads` to be an integer in 0..8/);
      await assert.rejects(createPipeline({ source: new Subject<Frame>(), face, classifier: { threads: 9 } }), /`threads` to be an integer in 0..8, got `9`/);
      // the same checks in createFaceCropper itself
      await assert.rejects(createFaceCropper({ ...face, margin: 5 }), /`margin` in -0.45..2/);
      assert.equal(loads, 0);
    } finally {
      setClassifierLoader(null);
    }
  });

  it('a source given as a string (not options) throws, naming the fix, instead of playing the default sample', async () => {
    const { stages } = fakeStages();
    for (const source of ['rtsp://cam.local/stream', '/dev/video0', null, 5]) {
      await assert.rejects(createPipeline({ source: source as never, stages: stages as never }), (e: unknown) => e instanceof VideoSourceError && e.key === 'bad-source' && /source must be video source options, e\.g\. \{ source: /.test(e.message));
    }
    assert.throws(() => createVideoSource('rtsp://cam.local/stream' as never), /video source options must be an object.*got the string "rtsp:\/\/cam.local\/stream"/);
    assert.throws(() => createVideoSource(null as never), /video source options must be an object/);
    // The pipeline's own options: a string gave none, and the default sample played.
    for (const options of ['rtsp://cam.local/stream', null]) {
      await assert.rejects(createPipeline(options as never), (e: unknown) => e instanceof TypeError && /createPipeline\(\) options must be an object/.test(e.message));
    }
    // The classifier's options too (spread, a model name loaded the default model instead).
    await assert.rejects(createPipeline({ source: new Subject<Frame>(), stages: { cropper: stages.cropper } as never, classifier: 'nano-b' as never }), /classifier options must be an object.*got the string "nano-b"/);
    // And the face cropper's, the smoothing's and the alerts' (a string set none of them).
    await assert.rejects(createPipeline({ source: new Subject<Frame>(), stages: { classifier: stages.classifier } as never, face: 'ck48' as never }), /face cropper options must be an object.*got the string "ck48"/);
    await assert.rejects(createFaceCropper('fer2013' as never), /face cropper options must be an object.*got the string "fer2013"/);
    await assert.rejects(createPipeline({ source: new Subject<Frame>(), stages: stages as never, smooth: 'ema' as never }), /smoothing options must be an object.*got the string "ema"/);
    await assert.rejects(createPipeline({ source: new Subject<Frame>(), stages: stages as never, alertOptions: 'fast' as never }), /alert options must be an object.*got the string "fast"/);
  });

  it('a file source: results$ completes at end of file; a failing stage errors results$ and kills ffmpeg', async () => {
    const clip = await makeClip('pipeline-eof.mp4', { seconds: 1, fps: 10, size: '160x120' });
    const a = await createPipeline({ source: { source: clip, pacing: 'fast', watchdogMs: 0 }, stages: fakeStages().stages as never, policy: 'queue' });
    const done = lastValueFrom(a.results$.pipe(toArray()));
    await a.start();
    assert.equal((await done).length, 10);
    await a.dispose();

    let n = 0;
    const failing = { ...fakeStages().stages, cropper: { process: async () => { if (++n === 3) throw new Error('stage broke'); return []; } } };
    const b = await createPipeline({ source: { source: clip, pacing: 'realtime', loop: true, watchdogMs: 0 }, stages: failing as never });
    const err = lastValueFrom(b.results$).then(() => null, (e: unknown) => e);
    await b.start();
    const pid = b.video!.pid!;
    const e = (await err) as Error;
    assert.match(e.message, /stage broke/);
    assert.equal(b.video!.pid, null, 'the source is stopped when results$ errors');
    await waitFor(() => !pidAlive(pid), 3000, `ffmpeg ${pid} to exit`);
    await assert.rejects(b.start(), /this pipeline has failed/);
    await b.dispose();
  });

  it('a file paced `fast` under `queue` is lossless with stages slower than the decoder (worker threads): the source pauses instead of the queue overflowing', async () => {
    // Asynchronous stages (as with `face: { threads }` or `classifier: { threads }`) do not block
    // the event loop, so ffmpeg's frames keep arriving while they work: without flow control the
    // 16-frame queue overflowed (OverloadError) within the first frames.
    const clip = await makeClip('pipeline-lossless.mp4', { seconds: 4, fps: 25, size: '160x120' });
    const p = await createPipeline({ source: { source: clip, pacing: 'fast', watchdogMs: 0 }, stages: fakeStages({ delayMs: 15 }).stages as never, policy: 'queue' });
    const done = lastValueFrom(p.results$.pipe(toArray()));
    await p.start();
    const out = await done;
    assert.equal(out.length, 100);
    assert.deepEqual(out.map((r) => r.frame.seq), Array.from({ length: 100 }, (_, i) => i));
    await p.dispose();
  });

  it('a start() that fails (file missing) can be retried once the cause is fixed', async () => {
    const file = path.join(tmpDir, 'appears-later.mp4');
    const p = await createPipeline({ source: { source: file, pacing: 'fast', watchdogMs: 0 }, stages: fakeStages().stages as never, policy: 'queue' });
    const done = lastValueFrom(p.results$.pipe(toArray()));
    await assert.rejects(p.start(), /not found|No such file/i);
    fs.copyFileSync(await makeClip('pipeline-retry.mp4', { seconds: 1, fps: 10, size: '160x120' }), file);
    await p.start();
    assert.equal((await done).length, 10);
    await p.dispose();
  });

  it('a start() that fails on a live source stops it: no ffmpeg respawned in the background for a pipeline that did not start', async () => {
    // A camera that is down: the source retries after a failed start (as the video node wants),
    // but the pipeline had let go of its frames, so it decoded for nobody and kept the process alive.
    const p = await createPipeline({ source: { source: 'rtsp://127.0.0.1:9/cam', restartDelayMs: 10, maxRestartDelayMs: 10 }, stages: fakeStages().stages as never });
    const states: string[] = [];
    p.video!.status$.subscribe((s) => states.push(s.state));
    try {
      await assert.rejects(p.start(), /Connection refused/);
      assert.equal(p.video!.state, 'stopped', `states: ${states.join(' ')}`);
      const attempts = states.filter((s) => s === 'starting').length;
      await sleep(200); // 20 restart delays
      assert.equal(states.filter((s) => s === 'starting').length, attempts, `no attempt after the rejection: ${states.join(' ')}`);
    } finally {
      await p.dispose();
    }
  });

  it('two start() calls at once: both wait for the one start (the second resolved before ffmpeg ran; a failure reached only the first)', async () => {
    const clip = await makeClip('pipeline-start-twice.mp4', { seconds: 5, fps: 10, size: '160x120' });
    const p = await createPipeline({ source: { source: clip, pacing: 'realtime', watchdogMs: 0 }, stages: fakeStages().stages as never });
    try {
      const first = p.start();
      await p.start();
      assert.equal(p.video!.state, 'running', 'the second start() resolved once the source runs');
      assert.ok(p.video!.pid, 'ffmpeg runs');
      await first;
      await p.start(); // started: resolves at once
    } finally {
      await p.dispose();
    }
    const down = await createPipeline({ source: { source: 'rtsp://127.0.0.1:9/cam', restartDelayMs: 10, maxRestartDelayMs: 10 }, stages: fakeStages().stages as never });
    try {
      const results = await Promise.allSettled([down.start(), down.start()]);
      assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected'], 'both callers hear of the failure');
    } finally {
      await down.dispose();
    }
  });

  it('a source that gives up once running (maxRestarts used up) errors results$ with its error instead of leaving it open', async () => {
    const clip = await makeClip('pipeline-gives-up.mp4', { seconds: 20, fps: 10, size: '160x120' });
    const p = await createPipeline({ source: { source: clip, pacing: 'realtime', maxRestarts: 0, watchdogMs: 0 }, stages: fakeStages().stages as never });
    let outcome: unknown = null;
    const results: PipelineResult[] = [];
    p.results$.subscribe({ next: (r) => results.push(r), error: (e: unknown) => (outcome = e), complete: () => (outcome = 'completed') });
    try {
      await p.start();
      await waitFor(() => results.length > 0, 20_000, 'a first result');
      process.kill(p.video!.pid!, 'SIGKILL'); // ffmpeg crashes; the source may not restart
      await waitFor(() => p.video!.state === 'failed' || outcome !== null, 20_000, 'the source to give up');
      await waitFor(() => outcome !== null, 5000, 'results$ to end');
      assert.ok(outcome instanceof Error, `results$ errored (got ${String(outcome)})`);
      assert.match(outcome.message, /SIGKILL/);
      assert.equal(p.video!.pid, null);
      await assert.rejects(p.start(), /this pipeline has failed/);
    } finally {
      await p.dispose();
    }
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
