/**
 * The classifier's edit dialog in a real browser (headless Chromium via playwright-core): the
 * in-the-wild default model (issue 6), wild models listed first and the CK+ models grouped as the
 * paper benchmark, models without weights marked, a saved `nano-a` node kept, the framing hint,
 * and the face node's matching default framing. Skips, saying why, when Chromium or
 * playwright-core is missing. Run `npm run build` first.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- page globals (RED, $) are untyped */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { Editor, editorSkip, startEditor } from '../helpers/editor';
import { ROOT } from './helpers';

const installed = (id: string) => fs.existsSync(path.join(ROOT, 'models', id, 'model.json'));

describe('emotionnet-classify edit dialog (browser)', { skip: editorSkip, timeout: 90_000 }, () => {
  let editor: Editor | undefined, page: any;
  const errors: string[] = [];
  const js = <T, A>(fn: (a: A) => T, arg?: A): Promise<T> => page.evaluate(fn, arg);

  before(async () => {
    // A flow saved before the default changed: its classifier explicitly uses the CK+ nano-a.
    const flow = [
      { id: 't1', type: 'tab', label: 'classify' },
      { id: 'old', z: 't1', type: 'emotionnet-classify', name: '', model: 'nano-a', modelPath: '', backend: 'auto', policy: 'latest', version: 1, x: 300, y: 60, wires: [[]] },
    ];
    editor = await startEditor({ flow, waitFor: 'old', prefix: 'emotionnet-classify-editor-', errors });
    page = editor.page;
  });

  after(async () => {
    await editor?.stop();
  });

  it('a new classifier defaults to nano-b-wild, a new face node to the matching fer2013 framing', async () => {
    const got = await js(() => {
      const RED = (window as any).RED;
      return {
        model: RED.nodes.getType('emotionnet-classify').defaults.model.value,
        framing: RED.nodes.getType('emotionnet-face').defaults.framing.value,
        palette: (window as any).$('.red-ui-palette-node[data-palette-type="emotionnet-classify"]').length,
      };
    });
    assert.deepEqual(got, { model: 'nano-b-wild', framing: 'fer2013', palette: 1 });
  });

  it('lists the in-the-wild models first, the CK+ ones after as the paper benchmark; keeps the saved nano-a', async () => {
    await js(() => (window as any).RED.editor.edit((window as any).RED.nodes.node('old')));
    await page.waitForSelector('#node-input-model', { timeout: 10_000 });
    // The model list is completed from the runtime's endpoint (weights installed or not): wait for
    // the mark on a model that is not installed, if there is one.
    const missing = ['nano-b-wild', 'nano-b-wild-7', 'nano-a-wild', 'nano-a-wild-7', 'nano-a', 'nano-b', 'nano-a-8', 'nano-b-8'].find((id) => !installed(id));
    if (missing) {
      await page.waitForFunction(
        (id: string) => /\(weights not installed\)/.test((window as any).$(`#node-input-model option[value="${id}"]`).text()),
        missing,
        { timeout: 10_000 },
      );
    }
    await page.waitForFunction(() => (window as any).$('#node-input-model').val() === 'nano-a', undefined, { timeout: 10_000 });
    const dialog = await js(() => {
      const $ = (window as any).$;
      return {
        value: $('#node-input-model').val(),
        groups: $('#node-input-model optgroup').toArray().map((g: any) => ({
          label: g.label,
          ids: $(g).find('option').toArray().map((o: any) => o.value),
        })),
        texts: Object.fromEntries($('#node-input-model option').toArray().map((o: any) => [o.value, o.textContent])),
        last: $('#node-input-model > option').last().val(),
        tip: $('#emotionnet-classify-framing-tip').text(),
      };
    });
    assert.equal(dialog.value, 'nano-a', 'the saved CK+ model is kept');
    assert.deepEqual(dialog.groups, [
      { label: 'In the wild (FER2013 / FER+) — live cameras', ids: ['nano-b-wild', 'nano-b-wild-7', 'nano-a-wild', 'nano-a-wild-7'] },
      { label: 'CK+ (posed, lab) — paper benchmark', ids: ['nano-a', 'nano-b', 'nano-a-8', 'nano-b-8'] },
    ]);
    assert.equal(dialog.last, 'custom');
    assert.match(dialog.texts['nano-b-wild'], /^nano-b-wild — in-the-wild \(FER\+\), 8 classes with neutral — default for live cameras/);
    assert.match(dialog.texts['nano-a'], /CK\+ \(posed, lab\) — paper benchmark/);
    // Models whose weights are not installed (nano-a-wild while it trains) are marked, the others not.
    for (const id of ['nano-b-wild', 'nano-b-wild-7', 'nano-a-wild', 'nano-a-wild-7', 'nano-a', 'nano-b']) {
      assert.equal(/\(weights not installed\)/.test(dialog.texts[id]), !installed(id), `${id}: ${dialog.texts[id]}`);
    }
    assert.match(dialog.tip, /ck48/);
    const tip = await js(() => {
      const $ = (window as any).$;
      $('#node-input-model').val('nano-b-wild').trigger('change');
      return $('#emotionnet-classify-framing-tip').text();
    });
    assert.match(tip, /fer2013/);
    // Cancel: the saved node keeps nano-a.
    await js(() => (window as any).$('#node-dialog-cancel').trigger('click'));
    await page.waitForFunction(() => !(window as any).$('#node-input-model').length);
    assert.equal(await js(() => (window as any).RED.nodes.node('old').model), 'nano-a');
  });

  it('help explains which model to pick when, and no page errors', async () => {
    const help = await js(() => {
      const div = document.createElement('div');
      div.innerHTML = (window as any).RED.nodes.getNodeHelp('emotionnet-classify') as string;
      return div.textContent ?? '';
    });
    assert.match(help, /Live cameras[\s\S]*nano-b-wild[\s\S]*default/);
    assert.match(help, /paper's benchmark[\s\S]*nano-a[\s\S]*ck48/);
    const faceHelp = await js(() => {
      const div = document.createElement('div');
      div.innerHTML = (window as any).RED.nodes.getNodeHelp('emotionnet-face') as string;
      return div.textContent ?? '';
    });
    assert.match(faceHelp, /fer2013, the default/);
    assert.deepEqual(errors, []);
  });
});
