/**
 * Details of the smooth, preview, face and alert edit dialogs in a real browser (headless Chromium
 * via playwright-core): hidden fields never make a node invalid, the preview dialog says why there
 * is no live image, labels come from the message catalogues, checkbox texts toggle their box.
 * Skips, saying why, when Chromium or playwright-core is missing. Run `npm run build` first.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- page globals (RED, $) are untyped */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Editor, editorSkip, startEditor } from '../helpers/editor';

describe('edit dialogs: smooth, preview, face, alert (browser)', { skip: editorSkip, timeout: 90_000 }, () => {
  let editor: Editor | undefined, page: any;
  const errors: string[] = [];
  const js = <T, A>(fn: (a: A) => T, arg?: A): Promise<T> => page.evaluate(fn, arg);

  before(async () => {
    const flow = [
      { id: 't1', type: 'tab', label: 'dialogs' },
      { id: 'sm', z: 't1', type: 'emotionnet-smooth', name: '', method: 'ema', halfLife: 500, window: 1000, minDwell: 300, margin: 0.1, trackTimeout: 2000, version: 1, x: 100, y: 40, wires: [[]] },
      { id: 'pvOff', z: 't1', type: 'emotionnet-preview', name: '', maxFps: 10, quality: 70, maxWidth: 640, bars: true, caption: true, stream: false, version: 1, x: 100, y: 100, wires: [[]] },
      { id: 'cl', z: 't1', type: 'emotionnet-classify', name: '', model: '', x: 300, y: 40, wires: [[]] },
      { id: 'fc', z: 't1', type: 'emotionnet-face', name: '', x: 100, y: 160, wires: [[]] },
      { id: 'al', z: 't1', type: 'emotionnet-alert', name: '', rules: [{ name: 'visitor', type: 'presence', labels: '', threshold: 2, duration: 1, cooldown: '', scope: 'any', source: 'auto' }], topic: '', updateInterval: 0, faceTimeout: 2, x: 100, y: 220, wires: [[]] },
      { id: 'al2', z: 't1', type: 'emotionnet-alert', name: '', rules: [{ name: 'sad', type: 'emotion', labels: 'sadness', threshold: 0.6, duration: 3, cooldown: 30, scope: 'face', source: 'auto' }, { name: 'joy', type: 'emotion', labels: 'happy', threshold: 0.6, duration: 3, cooldown: 30, scope: 'face', source: 'auto' }], topic: '', updateInterval: 0, faceTimeout: 2, x: 100, y: 280, wires: [[]] },
    ];
    editor = await startEditor({ flow, waitFor: 'al2', prefix: 'emotionnet-dialogs-editor-', errors });
    page = editor.page;
  });

  after(async () => {
    await editor?.stop();
  });

  const open = async (id: string, selector: string) => {
    await js((nid: string) => (window as any).RED.editor.edit((window as any).RED.nodes.node(nid)), id);
    await page.waitForSelector(selector, { state: 'attached', timeout: 10_000 });
  };
  const close = async (selector: string, button: 'ok' | 'cancel' = 'ok') => {
    await js((b: string) => (window as any).$(`#node-dialog-${b}`).trigger('click'), button);
    await page.waitForFunction((s: string) => !(window as any).$(s).length, selector);
  };
  const valid = (id: string) => js((nid: string) => (window as any).RED.nodes.node(nid).valid, id);

  it('smooth: the half-life hidden by a window method may be empty; a bad shown value is flagged', async () => {
    await open('sm', '#node-input-halfLife');
    await js(() => (window as any).$('#node-input-halfLife').val(''));
    await close('#node-input-halfLife');
    assert.equal(await valid('sm'), false, 'EMA needs a half-life');
    await open('sm', '#node-input-halfLife');
    await page.selectOption('#node-input-method', 'mean');
    await close('#node-input-halfLife');
    assert.equal(await valid('sm'), true, 'a mean ignores the half-life');
    await open('sm', '#node-input-halfLife');
    await js(() => (window as any).$('#node-input-window').val('-5'));
    await close('#node-input-halfLife');
    assert.equal(await valid('sm'), false, 'the window a mean uses must be > 0');
    await open('sm', '#node-input-halfLife');
    await page.selectOption('#node-input-method', 'ema');
    await js(() => { (window as any).$('#node-input-window').val('1000'); (window as any).$('#node-input-halfLife').val('500'); });
    await close('#node-input-halfLife');
    assert.equal(await valid('sm'), true);
  });

  it('node labels come from the catalogues: smooth, alert (one and several rules), classify', async () => {
    const labels = await js(() => {
      const RED = (window as any).RED;
      return Object.fromEntries(['sm', 'al', 'al2', 'cl'].map((id) => [id, RED.utils.getNodeLabel(RED.nodes.node(id))]));
    });
    assert.deepEqual(labels, { sm: 'smooth EMA 500 ms', al: 'alert: visitor', al2: 'alert: 2 rules', cl: 'emotion classify' });
  });

  it('alert: a presence rule with a stale threshold (hidden) is valid', async () => {
    assert.equal(await valid('al'), true);
    await open('al', '.node-input-rule-type');
    const row = await js(() => {
      const $ = (window as any).$;
      const source = $('.node-input-rule-source').first();
      return { sourceLabel: source.parent().children().first().text().trim(), sourceWidth: source.outerWidth() };
    });
    assert.equal(row.sourceLabel, 'from');
    assert.ok(row.sourceWidth >= 170, `source select ${row.sourceWidth} px`);
    await close('.node-input-rule-type', 'cancel');
  });

  it('preview: with the stream off the dialog says so, and shows no dead link', async () => {
    await open('pvOff', '#node-input-maxFps');
    const got = await js(() => {
      const $ = (window as any).$;
      return { none: $('#emotionnet-preview-none').is(':visible') ? $('#emotionnet-preview-none').text() : null, link: $('#emotionnet-preview-open').is(':visible'), img: $('#emotionnet-preview-live').is(':visible') };
    });
    assert.deepEqual(got, { none: 'The live stream is off: tick \u201cServe a live MJPEG stream\u201d and deploy to see it here.', link: false, img: false });
    await close('#node-input-maxFps', 'cancel');
  });

  it('face: clicking the JPEG text toggles its checkbox; no page errors', async () => {
    await open('fc', '#node-input-jpeg');
    const before = await js(() => (window as any).$('#node-input-jpeg').prop('checked'));
    // A DOM click on the text (the editor's notification prompt would take a pointer click).
    await js(() => (window as any).$('label[for="node-input-jpeg"]').last()[0].click());
    assert.equal(await js(() => (window as any).$('#node-input-jpeg').prop('checked')), !before);
    await close('#node-input-jpeg', 'cancel');
    assert.deepEqual(errors, []);
  });
});

describe('example flows laid out in the editor (browser)', { skip: editorSkip, timeout: 90_000 }, () => {
  it('no two nodes of an example overlap, and none starts left of the canvas', async () => {
    const dir = path.join(__dirname, '..', '..', 'examples');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
    const flow: any[] = [];
    files.forEach((f, i) => {
      flow.push({ id: `tab${i}`, type: 'tab', label: f });
      for (const n of JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))) {
        // Sources stay stopped: only the layout matters here (a running example 06 would write crops to the working directory).
        const stopped = n.type === 'emotionnet-video' ? { autostart: false } : {};
        flow.push({ ...n, ...stopped, z: `tab${i}`, id: `${i}_${n.id}`, wires: (n.wires ?? []).map((w: string[]) => w.map((x) => `${i}_${x}`)) });
      }
    });
    const errors: string[] = [];
    const editor = await startEditor({ flow, waitFor: flow[flow.length - 1].id, prefix: 'emotionnet-examples-layout-', errors });
    try {
      const problems: string[] = [];
      for (let i = 0; i < files.length; i++) {
        // Widths are computed when a tab is drawn.
        await editor.page.evaluate((tab: string) => (window as any).RED.workspaces.show(tab), `tab${i}`);
        await editor.page.waitForFunction((tab: string) => (window as any).RED.nodes.filterNodes({ z: tab }).every((n: any) => n.w > 0), `tab${i}`);
        const boxes: { id: string; x: number; y: number; w: number; h: number }[] = await editor.page.evaluate(
          (tab: string) => (window as any).RED.nodes.filterNodes({ z: tab }).map((n: any) => ({ id: n.id, x: n.x, y: n.y, w: n.w, h: n.h })),
          `tab${i}`,
        );
        for (const a of boxes) {
          if (a.x - a.w / 2 < 0) problems.push(`${files[i]}: ${a.id} starts at x ${a.x - a.w / 2}`);
          for (const b of boxes) {
            if (a.id < b.id && Math.abs(a.x - b.x) < (a.w + b.w) / 2 && Math.abs(a.y - b.y) < (a.h + b.h) / 2) problems.push(`${files[i]}: ${a.id} overlaps ${b.id}`);
          }
        }
      }
      assert.deepEqual(problems, []);
    } finally {
      await editor.stop();
    }
  });
});
