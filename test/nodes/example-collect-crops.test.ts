/* eslint-disable @typescript-eslint/no-explicit-any -- node-red-node-test-helper and Node-RED objects are untyped */
/**
 * examples/06 - Collect training crops runs as shipped (the default source pointed at a short clip
 * of a demo photo): it writes the face node's 48x48 crops as JPEG files, at most one per face per
 * second, into EMOTIONNET_CROPS_DIR/unsorted, and those files are training data for
 * `npm run train` once sorted into class folders.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { decodeImage } from '../../src/image';
import { loadLabelledFolder } from '../../src/train/data';
import { coreNode, helper, load, ROOT, until } from './helpers';
import { photoClip } from '../helpers/photo-clip';

const NODES = [
  load('nodes/emotionnet-video/emotionnet-video.js'),
  load('nodes/emotionnet-face/emotionnet-face.js'),
  coreNode('common/21-debug.js'),
  coreNode('common/90-comment.js'),
  coreNode('function/10-function.js'),
  coreNode('storage/10-file.js'),
];
const PHOTO = path.join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample1.jpg');
const skip = !fs.existsSync(PHOTO) || !fs.existsSync(path.join(ROOT, 'models', 'blazeface')) ? 'needs the @vladmandic/face-api demo photos (devDependency) and models/blazeface' : false;

describe('example 06 - Collect training crops', { skip }, () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'emotionnet-crops-'));
  const saved = { sample: process.env.EMOTIONNET_DEFAULT_SAMPLE, dir: process.env.EMOTIONNET_CROPS_DIR };
  before(async () => {
    // 5 s of one photo (several faces) at 10 fps: the example's default source plays it.
    const clip = await photoClip(PHOTO, work, 5);
    process.env.EMOTIONNET_DEFAULT_SAMPLE = clip;
    process.env.EMOTIONNET_CROPS_DIR = path.join(work, 'crops');
    await new Promise<void>((r) => helper.startServer(r));
  });
  after(async () => {
    await helper.unload();
    await new Promise<void>((r) => helper.stopServer(r));
    for (const [k, v] of [['EMOTIONNET_DEFAULT_SAMPLE', saved.sample], ['EMOTIONNET_CROPS_DIR', saved.dir]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('saves one 48x48 crop per face per second that npm run train can read once sorted', async () => {
    const nodes = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', '06 - Collect training crops.json'), 'utf8')) as any[];
    // (the example's own Catch node feeds its "errors" debug node; the helper loads the catch module)
    await helper.load(NODES, [{ id: 'tab', type: 'tab' }, ...nodes.map((n) => ({ ...n, z: 'tab' }))]);
    const errors: unknown[] = [];
    helper.getNode('ex06.errors').on('input', (m: any) => errors.push(m.error));
    const written: string[] = [];
    const unsorted = path.join(work, 'crops', 'unsorted');
    const list = () => (fs.existsSync(unsorted) ? fs.readdirSync(unsorted).sort() : []);
    // The clip lasts 5 s: each face is saved at about 0 s, 1 s, ... so at least 3 files per face.
    await until(() => list().length >= 9, 20000, () => `9 crops (have ${list().join(', ')})`);
    // The file node writes asynchronously: a file can be listed before its bytes are written
    // (read at once under load, one was empty). Stopping the flow lets the writes finish.
    await helper.unload();
    written.push(...list());
    assert.deepEqual(errors, []);
    const byTrack = new Map<string, number[]>();
    for (const f of written) {
      const m = /^ex06-video_(\d+)_(\d+)\.jpg$/.exec(f);
      assert.ok(m, `file name ${f}`);
      byTrack.set(m[1], [...(byTrack.get(m[1]) ?? []), Number(m[2])]);
      const img = decodeImage(fs.readFileSync(path.join(unsorted, f)));
      assert.deepEqual([img.width, img.height], [48, 48], f);
    }
    assert.ok(byTrack.size >= 2, `several faces tracked: ${[...byTrack.keys()].join(', ')}`);
    for (const [id, times] of byTrack) {
      times.sort((a, b) => a - b);
      for (let i = 1; i < times.length; i++) assert.ok(times[i] - times[i - 1] >= 1000, `track ${id}: ${times.join(', ')} (at most one crop per second)`);
    }
    // Sorted into a class folder (here all into happy/, one into sad/), they are training data.
    const data = path.join(work, 'data');
    fs.mkdirSync(path.join(data, 'happy'), { recursive: true });
    fs.mkdirSync(path.join(data, 'sad'), { recursive: true });
    written.forEach((f, i) => fs.copyFileSync(path.join(unsorted, f), path.join(data, i === 0 ? 'sad' : 'happy', f)));
    const ds = await loadLabelledFolder(data);
    assert.equal(ds.samples.length, written.length);
    assert.deepEqual(ds.unreadable, []);
    // And the folder the example writes to is not a class: skipped by name, as the example says.
    assert.deepEqual((await loadLabelledFolder(path.join(work, 'crops')).catch((e: Error) => e.message)), `No class folders in ${path.join(work, 'crops')}: expected subfolders named after classes (anger, contempt, disgust, fear, happy, neutral, sadness, surprise or synonyms); unknown folders: unsorted`);
  });
});
