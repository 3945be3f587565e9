/* eslint-disable @typescript-eslint/no-explicit-any -- node-red-node-test-helper messages and nodes are untyped */
/**
 * A redeploy while frames flow: Node-RED delivers messages to a node until its close has finished,
 * and the face and classify nodes wait up to 3 s there for the frame or batch in flight. A frame
 * sent to them in that time (by a video node still running, or not redeployed at all in a
 * "modified nodes" deploy) completes without an error: it was "stage queue is closed" for the
 * log and the Catch nodes on most redeploys of a live flow.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { catchNode, completeNode, helper, load, sleep, until } from './helpers';

const classifyNode = load('nodes/emotionnet-classify/emotionnet-classify.js');
const faceNode = load('nodes/emotionnet-face/emotionnet-face.js');
const classify = load('src/classify/index.js');
const pipeline = load('src/face/pipeline.js');

const CLASSES = ['anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise'];
const crop = () => ({ width: 48, height: 48, data: Buffer.alloc(48 * 48, 200) });
const gray = (seq: number) => ({ payload: { width: 32, height: 32, format: 'gray', data: Buffer.alloc(32 * 32, 128), timestamp: seq, seq, sourceId: 'cam' } });

/** `id` (type, config) with Catch and Complete nodes behind it; returns what those receive. */
async function loadWatched(node: unknown, type: string, config: Record<string, unknown>) {
  await helper.load([node, catchNode, completeNode], [
    { id: 'tab', type: 'tab' },
    { id: 'n1', z: 'tab', type, wires: [['out']], ...config },
    { id: 'out', z: 'tab', type: 'helper' },
    { id: 'k1', z: 'tab', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', z: 'tab', type: 'helper' },
    { id: 'c1', z: 'tab', type: 'complete', scope: ['n1'], uncaught: false, wires: [['completed']] },
    { id: 'completed', z: 'tab', type: 'helper' },
  ]);
  const got = { caught: [] as any[], completed: [] as any[] };
  helper.getNode('caught').on('input', (m: any) => got.caught.push(m.error?.message));
  helper.getNode('completed').on('input', (m: any) => got.completed.push(m));
  return got;
}

describe('a message that reaches a closing face or classify node', () => {
  before(() => new Promise<void>((r) => helper.startServer(r)));
  after(() => new Promise<void>((r) => helper.stopServer(r)));
  afterEach(async () => {
    await helper.unload();
    classify.setClassifierLoader(null);
  });

  it('classify: while the close waits for the batch in flight, it completes without an error', async () => {
    let release = () => {};
    const batch = new Promise<void>((r) => (release = r));
    let batches = 0;
    classify.setClassifierLoader(async () => ({
      name: 'fake',
      classes: CLASSES,
      backend: { name: 'cpu', label: 'cpu', requested: 'auto', reason: 'test' },
      async classify(faces: unknown[]) {
        batches++;
        await batch;
        return faces.map(() => ({ label: 'happy', confidence: 0.9, probabilities: Object.fromEntries(CLASSES.map((c) => [c, c === 'happy' ? 0.9 : 0.1 / 6])) }));
      },
      dispose() {},
    }));
    const got = await loadWatched(classifyNode, 'emotionnet-classify', { model: 'nano-b', policy: 'latest' });
    await sleep(20);
    const n = helper.getNode('n1');
    n.receive({ payload: crop() });
    await until(() => batches === 1, 2000, 'the batch runs');
    const closing = n.close();
    await sleep(20); // the close is waiting for the batch
    n.receive({ payload: crop() }); // e.g. a frame of a video node that still runs
    release();
    await closing;
    await sleep(50);
    assert.deepEqual(got.caught, [], 'no error for the late message');
    assert.equal(got.completed.length, 2, 'both messages completed');
  });

  it('face: while the close waits for the frame being detected, a frame completes without an error', async () => {
    const orig = pipeline.FacePipeline.prototype.process;
    let release = () => {};
    const held = new Promise<void>((r) => (release = r));
    let detecting = 0;
    pipeline.FacePipeline.prototype.process = async () => {
      detecting++;
      await held;
      return [];
    };
    try {
      const got = await loadWatched(faceNode, 'emotionnet-face', { policy: 'latest' });
      const n = helper.getNode('n1');
      await until(() => n.status.args?.some((a: any[]) => a[0].fill === 'green'), 20000, 'detector ready');
      n.receive(gray(0));
      await until(() => detecting === 1, 2000, 'the frame is being detected');
      const closing = n.close();
      await sleep(20); // the close is waiting for the frame
      n.receive(gray(1));
      release();
      await closing;
      await sleep(50);
      assert.deepEqual(got.caught, [], 'no error for the late frame');
      assert.equal(got.completed.length, 2, 'both frames completed');
    } finally {
      release();
      pipeline.FacePipeline.prototype.process = orig;
    }
  });
});
