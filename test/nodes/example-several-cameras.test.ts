/* eslint-disable @typescript-eslint/no-explicit-any -- node-red-node-test-helper and Node-RED objects are untyped */
/**
 * examples/07 - Several cameras runs as shipped (both default sources pointed at a short clip of
 * a demo photo): one face node with a detector worker thread and an ignore zone analyses both
 * cameras, each camera's frames reach its own preview, and the summary names both cameras.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { coreNode, helper, load, ROOT, until } from './helpers';
import { photoClip } from '../helpers/photo-clip';
import { watchStatus } from '../helpers/status';

const NODES = [
  load('nodes/emotionnet-video/emotionnet-video.js'),
  load('nodes/emotionnet-face/emotionnet-face.js'),
  load('nodes/emotionnet-classify/emotionnet-classify.js'),
  load('nodes/emotionnet-smooth/emotionnet-smooth.js'),
  load('nodes/emotionnet-preview/emotionnet-preview.js'),
  coreNode('common/21-debug.js'),
  coreNode('common/90-comment.js'),
  coreNode('function/10-function.js'),
  coreNode('function/10-switch.js'),
];
const PHOTO = path.join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample1.jpg');
const skip = !fs.existsSync(PHOTO) ? 'needs the @vladmandic/face-api demo photos (devDependency)' : false;

describe('example 07 - Several cameras', { skip }, () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'emotionnet-cams-'));
  const saved = process.env.EMOTIONNET_DEFAULT_SAMPLE;
  before(async () => {
    // 3 s of one photo (three faces) at 10 fps: both default sources play it (looped).
    const clip = await photoClip(PHOTO, work, 3);
    process.env.EMOTIONNET_DEFAULT_SAMPLE = clip;
    await new Promise<void>((r) => helper.startServer(r));
  });
  after(async () => {
    await helper.unload();
    await new Promise<void>((r) => helper.stopServer(r));
    if (saved === undefined) delete process.env.EMOTIONNET_DEFAULT_SAMPLE;
    else process.env.EMOTIONNET_DEFAULT_SAMPLE = saved;
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('analyses both cameras in one face node with a worker thread; each camera reaches its own preview; no face in the ignore zone', async () => {
    const nodes = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', '07 - Several cameras.json'), 'utf8')) as any[];
    await helper.load(NODES, [{ id: 'tab', type: 'tab' }, ...nodes.map((n) => ({ ...n, z: 'tab' }))]);
    const statuses = watchStatus(helper.getNode('ex07.face'));
    const lines: string[] = [];
    helper.getNode('ex07.debug').on('input', (m: any) => lines.push(String(m.payload)));
    const previews: Record<string, string[]> = { 'ex07.preview1': [], 'ex07.preview2': [] };
    const faces: any[] = [];
    for (const id of Object.keys(previews)) {
      helper.getNode(id).on('input', (m: any) => {
        previews[id].push(m.topic);
        faces.push(...m.payload.map((f: any) => ({ ...f, frame: m.frame, zones: m.zones })));
      });
    }
    await until(() => lines.some((l) => l.startsWith('living room: #')) && lines.some((l) => l.startsWith('kitchen: #')), 60000, () => `both cameras with faces (${lines.slice(-4).join(' | ')})`);
    assert.ok(statuses.some((s) => s.text === 'wasm x1 ready'), JSON.stringify(statuses.slice(0, 3)));
    assert.deepEqual([...new Set(previews['ex07.preview1'])], ['living room']);
    assert.deepEqual([...new Set(previews['ex07.preview2'])], ['kitchen']);
    assert.ok(faces.length > 0);
    for (const f of faces) {
      const cx = (f.box.x + f.box.width / 2) / f.frame.width;
      const cy = (f.box.y + f.box.height / 2) / f.frame.height;
      assert.ok(!(cx >= 0.75 && cy < 0.35), `no face centred in the ignore zone (${cx.toFixed(2)}, ${cy.toFixed(2)})`);
      assert.deepEqual(f.zones, { roi: null, ignore: [{ x: 0.75, y: 0, width: 0.25, height: 0.35 }] });
    }
    await helper.unload();
  });
});
