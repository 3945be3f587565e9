/**
 * The face node's edit dialog in a real browser (headless Chromium via playwright-core): the
 * Region, Ignore and Threads fields and their validation. Skips, saying why, when Chromium or
 * playwright-core is missing. Run `npm run build` first.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- page globals (RED, $) are untyped */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Editor, editorSkip, startEditor } from '../helpers/editor';

describe('emotionnet-face edit dialog (browser)', { skip: editorSkip, timeout: 60_000 }, () => {
  let editor: Editor | undefined, page: any;
  const errors: string[] = [];

  before(async () => {
    const flow = [
      { id: 't1', type: 'tab', label: 'face' },
      // As saved before Region, Ignore and Threads existed (an older flow): they start empty.
      { id: 'face', z: 't1', type: 'emotionnet-face', name: '', backend: 'auto', minConfidence: 0.45, minFaceSize: 0, maxFaces: 10, inputSize: 192, detectEvery: 1,
        maxMissed: 10, framing: 'fer2013', margin: 0, jpeg: false, policy: 'latest', version: 1, x: 100, y: 60, wires: [[]] },
    ];
    editor = await startEditor({ flow, waitFor: 'face', prefix: 'emotionnet-face-editor-', errors });
    page = editor.page;
  });

  after(async () => {
    await editor?.stop();
  });

  it('validates Region (one zone), Ignore (up to 16) and Threads (0-8)', async () => {
    // A string, not a function: tsx would wrap the page function's inner names in a helper the page lacks.
    const verdicts = await page.evaluate(`(() => {
      const d = RED.nodes.getType('emotionnet-face').defaults;
      const v = (key, value) => d[key].validate.call({}, value);
      return {
        roi: ['', '25,10,50,80', ' 0 , 0 , 100 , 100 ', '60,0,50,100', '10,10,10', '0,0,0,10', 'a,b,c,d', '0,0,10,10;20,20,10,10'].map((x) => v('roi', x)),
        ignore: ['', '0,0,10,10; 90,90,10,10', Array(16).fill('0,0,1,1').join(';'), Array(17).fill('0,0,1,1').join(';'), '0,0,10,10;x'].map((x) => v('ignore', x)),
        threads: [0, '2', 8, 9, -1, 1.5].map((x) => v('threads', x)),
      };
    })()`);
    assert.deepEqual(verdicts.roi, [true, true, true, false, false, false, false, false]);
    assert.deepEqual(verdicts.ignore, [true, true, true, false, false]);
    assert.deepEqual(verdicts.threads, [true, true, true, false, false, false]);
  });

  it('shows the fields with their labels and placeholders, and a new zone is saved', async () => {
    await page.evaluate(() => (window as any).RED.editor.edit((window as any).RED.nodes.node('face')));
    await page.waitForSelector('#node-input-roi', { timeout: 10_000 });
    const shown = await page.evaluate(`(() => {
      const label = (id) => $('label[for="node-input-' + id + '"]').first().text().trim();
      return { roi: label('roi'), ignore: label('ignore'), threads: label('threads'), placeholder: $('#node-input-roi').attr('placeholder') };
    })()`);
    assert.deepEqual([shown.roi, shown.ignore, shown.threads], ['Region', 'Ignore', 'Threads']);
    assert.match(shown.placeholder, /left,top,width,height in %/);
    await page.evaluate(() => (window as any).$('#node-input-roi').val('10,10,80,80').trigger('change'));
    await page.evaluate(() => (window as any).$('#node-dialog-ok').trigger('click'));
    await page.waitForFunction(() => (window as any).RED.nodes.node('face').roi === '10,10,80,80', null, { timeout: 10_000 });
    const node = await page.evaluate(`(() => { const n = RED.nodes.node('face'); const d = RED.nodes.getType('emotionnet-face').defaults; return { valid: n.valid, bad: Object.keys(d).filter((k) => d[k].validate && !d[k].validate.call(n, n[k])), props: Object.fromEntries(Object.keys(d).map((k) => [k, n[k]])) }; })()`);
    assert.equal(node.valid, true, JSON.stringify(node));
    assert.deepEqual(errors, []);
  });
});
