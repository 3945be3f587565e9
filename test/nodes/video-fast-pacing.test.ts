/* eslint-disable @typescript-eslint/no-explicit-any -- node-red-node-test-helper messages and nodes are untyped */
/**
 * "As fast as the flow takes them" is lossless with the face and classify nodes' `queue` policy:
 * video node(s) playing a file into a slow stage (a fake classifier or detector), for small frames
 * (48x48 gray: dozens of frames per pipe read) and Pause above values below, at and above the
 * stage's per-source limit (values above 8, allowed once, pause at 8). Every frame is processed
 * and none is refused, however fast the machine is: the stand-ins hold their first frame until
 * every source has sent more than Pause above frames (so each source is paused by its backlog at
 * least once), then wait a few ms per frame; nothing asserts on time.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { catchNode, coreNode, helper, load, sleep, until } from './helpers';
import { makeClip, cleanup } from '../video/clips';

const videoNode = load('nodes/emotionnet-video/emotionnet-video.js');
const classifyNode = load('nodes/emotionnet-classify/emotionnet-classify.js');
const faceNode = load('nodes/emotionnet-face/emotionnet-face.js');
const classifyCore = load('src/classify/index.js');
const pipeline = load('src/face/pipeline.js');
const { findFfmpeg } = load('src/ffmpeg/index.js');
const { FlowControl, MAX_HIGH_WATER } = load('src/overload.js');
const changeNode = coreNode('function/15-change.js');

/**
 * Resolves once every source in `ids` has more than `highWater` frames waiting in the stages (its
 * video node pauses then), or after 10 s; `reached()` tells which.
 */
function backlogGate() {
  let ids: string[] = [];
  let highWater = 0;
  let ok = false;
  let started: Promise<void> | null = null;
  return {
    set(sourceIds: string[], hw: number) {
      ids = sourceIds;
      highWater = Math.min(hw, MAX_HIGH_WATER ?? Infinity); // (?? : the test also runs on the code before them)
    },
    wait(): Promise<void> {
      started ??= until(() => ids.length > 0 && ids.every((id) => (FlowControl.for(id).depth ?? FlowControl.for(id).maxDepth) > highWater), 10_000, 'backlogs').then(
        () => void (ok = true),
        () => undefined,
      );
      return started;
    },
    reached: () => ok,
  };
}
let gate = backlogGate();

const CLASSES = ['anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise'];
/** A stand-in classifier taking `delayMs` per message. */
const fakeClassifier = (delayMs: number) => ({
  name: 'fake-nano',
  classes: CLASSES,
  backend: { name: 'cpu', label: 'cpu', requested: 'auto', reason: 'cpu: test' },
  async classify(faces: unknown[]) {
    await gate.wait();
    await sleep(delayMs);
    return faces.map(() => ({ label: 'happy', confidence: 0.9, probabilities: Object.fromEntries(CLASSES.map((c) => [c, 1 / 7])) }));
  },
  dispose() {},
});

const FRAMES = 50; // 2 s at 25 fps

interface Run {
  /** Frames out of the stage, per video node id. */
  out: Map<string, number>;
  /** Errors the stage reported (Catch). */
  caught: any[];
}

/**
 * `sources` video nodes (fast pacing, Pause above `highWater`, `size` gray frames) wired into
 * one `stage` node with the `queue` policy.
 */
async function play(
  stage: 'classify' | 'face' | 'face+classify',
  { sources = 1, highWater, size = 48, change = false }: { sources?: number; highWater: number; size?: number; change?: boolean },
): Promise<Run> {
  const clip = await makeClip('fast-pacing.mp4', { seconds: 2, fps: 25, size: '320x240' });
  const ids = Array.from({ length: sources }, (_, i) => `v${i + 1}`);
  gate.set(ids, highWater);
  const classify = (id: string) => ({ id, z: 'tab', type: 'emotionnet-classify', model: 'nano-a', backend: 'auto', policy: 'queue', wires: [['out']] });
  const stages =
    stage === 'classify'
      ? [classify('s1')]
      : stage === 'face'
        ? [{ id: 's1', z: 'tab', type: 'emotionnet-face', policy: 'queue', wires: [['out']] }]
        : [{ id: 's1', z: 'tab', type: 'emotionnet-face', policy: 'queue', wires: [['s2']] }, classify('s2')];
  await helper.load([videoNode, classifyNode, faceNode, catchNode, changeNode], [
    { id: 'tab', type: 'tab' },
    ...ids.map((id) => ({
      id, z: 'tab', type: 'emotionnet-video', sourceType: 'file', source: clip, pacing: 'fast', format: 'gray',
      width: size, height: size, fps: 0, highWater, autostart: false, wires: [[change ? 'c1' : 's1'], []],
    })),
    // A node on the way that does not report a backlog (one more frame on the wire).
    { id: 'c1', z: 'tab', type: 'change', rules: [{ t: 'set', p: 'seen', pt: 'msg', to: 'true', tot: 'bool' }], wires: [['s1']] },
    ...stages,
    { id: 'out', z: 'tab', type: 'helper' },
    { id: 'k1', z: 'tab', type: 'catch', scope: ['s1', 's2'], uncaught: false, wires: [['caught']] },
    { id: 'caught', z: 'tab', type: 'helper' },
  ]);
  const run: Run = { out: new Map(ids.map((id) => [id, 0])), caught: [] };
  helper.getNode('out').on('input', (m: any) => {
    const sid = m.frame?.sourceId ?? m.payload?.sourceId;
    run.out.set(sid, (run.out.get(sid) ?? 0) + 1);
  });
  helper.getNode('caught').on('input', (m: any) => run.caught.push(m.error?.message));
  await sleep(50); // the stage's model is loaded: frames go through its queue, not the loading gate
  for (const id of ids) helper.getNode(id).receive({ payload: 'start' });
  const total = () => [...run.out.values()].reduce((a, b) => a + b, 0) + run.caught.length;
  await until(() => total() >= FRAMES * sources, 60_000, () => `${FRAMES * sources} frames out or refused (${total()})`);
  await sleep(50); // nothing more comes
  return run;
}

const assertLossless = (run: Run, sources: number) => {
  assert.deepEqual(run.caught.slice(0, 3), [], `${run.caught.length} frames refused`);
  assert.ok(gate.reached(), 'every source had a backlog above Pause above (and paused)');
  for (const [id, n] of run.out) assert.equal(n, FRAMES, `frames of ${id} processed`);
  assert.equal(run.out.size, sources);
};

describe('video node "as fast as the flow takes them" into a queue stage', { timeout: 120_000 }, () => {
  let ffmpeg = true;
  before(async () => {
    await new Promise<void>((r) => helper.startServer(r));
    ffmpeg = await findFfmpeg().then(
      () => true,
      () => false,
    );
  });
  after(() => new Promise<void>((r) => helper.stopServer(r)));
  after(cleanup);
  afterEach(async () => {
    await helper.unload();
    classifyCore.setClassifierLoader(null);
    gate = backlogGate();
  });

  for (const highWater of [8, 16, 100]) {
    it(`classify (5 ms a frame), 48x48 gray, Pause above ${highWater}: every frame classified, none refused`, async (t) => {
      if (!ffmpeg) return t.skip('no ffmpeg');
      classifyCore.setClassifierLoader(async () => fakeClassifier(5));
      assertLossless(await play('classify', { highWater }), 1);
    });
  }

  it('classify, 320x240 gray, Pause above 8: every frame classified, none refused', async (t) => {
    if (!ffmpeg) return t.skip('no ffmpeg');
    classifyCore.setClassifierLoader(async () => fakeClassifier(5));
    assertLossless(await play('classify', { highWater: 8, size: 320 }), 1);
  });

  it('a Pause above of more than 8 (1000 was allowed once) pauses at 8, with a warning', async () => {
    await helper.load([videoNode], [{ id: 'v1', type: 'emotionnet-video', sourceType: 'file', source: '/nonexistent.mp4', pacing: 'fast', highWater: 100, autostart: false, wires: [[], []] }]);
    const warned = helper.log().args.filter((a: any[]) => a[0]?.level === helper.log().WARN && /Pause above 100 .*pausing above 8/.test(a[0].msg));
    assert.equal(warned.length, 1);
  });

  for (const highWater of [8, 1000]) {
    it(`classify, 4 sources, 48x48 gray, Pause above ${highWater}: every frame of each classified, none refused`, async (t) => {
      if (!ffmpeg) return t.skip('no ffmpeg');
      classifyCore.setClassifierLoader(async () => fakeClassifier(2));
      assertLossless(await play('classify', { sources: 4, highWater }), 4);
    });
  }

  it('face (detection 5 ms a frame), 2 sources, 48x48 gray, Pause above 16: every frame detected, none refused', async (t) => {
    if (!ffmpeg) return t.skip('no ffmpeg');
    const orig = pipeline.FacePipeline.prototype.process;
    pipeline.FacePipeline.prototype.process = async () => {
      await gate.wait();
      await sleep(5);
      return [];
    };
    try {
      assertLossless(await play('face', { sources: 2, highWater: 16 }), 2);
    } finally {
      pipeline.FacePipeline.prototype.process = orig;
    }
  });

  for (const change of [false, true]) {
    it(`face (1 ms) then classify (5 ms a face), 2 sources${change ? ', a change node on the way' : ''}, Pause above 8: every frame classified, none refused`, async (t) => {
      if (!ffmpeg) return t.skip('no ffmpeg');
      // The classify node is the slow one: the frames waiting at the face node all move on to it
      // after the sources paused.
      const orig = pipeline.FacePipeline.prototype.process;
      pipeline.FacePipeline.prototype.process = async () => {
        await sleep(1);
        return [{ id: 1, box: { x: 0, y: 0, width: 48, height: 48 }, score: 0.9, crop: { width: 48, height: 48, data: Buffer.alloc(48 * 48, 200) } }];
      };
      classifyCore.setClassifierLoader(async () => fakeClassifier(5));
      try {
        assertLossless(await play('face+classify', { sources: 2, highWater: 8, change }), 2);
      } finally {
        pipeline.FacePipeline.prototype.process = orig;
      }
    });
  }
});
