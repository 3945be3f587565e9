/**
 * The smoothing and alert edit dialogs in a real browser (headless Chromium via playwright-core):
 * palette entries, the rule list, hide/show of fields, saving, and validation. Starts an embedded
 * Node-RED on a free loopback port with examples 03 and 04 as its flow. Skips, saying why, when
 * Chromium or playwright-core is missing. Run `npm run build` first.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { Editor, editorSkip, startEditor } from '../helpers/editor';

const ROOT = path.resolve(__dirname, '..', '..');
const skip = editorSkip;

describe('smoothing and alert edit dialogs (browser)', { skip }, () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let editor: Editor | undefined, page: any;
  const errors: string[] = [];
  const js = <T>(fn: () => T): Promise<T> => page.evaluate(fn);

  before(async () => {
    const flow = ['03 - Smoothing.json', '04 - Alerts.json'].flatMap((f) => JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', f), 'utf8')));
    editor = await startEditor({
      flow: [{ id: 't1', type: 'tab', label: 'examples' }, ...flow.map((n) => ({ ...n, z: 't1' }))],
      waitFor: 'ex04.alert',
      prefix: 'emotionnet-editor-',
      errors,
    });
    page = editor.page;
  });

  after(async () => {
    await editor?.stop();
  });

  /* The functions below run in the page, where RED and $ are globals. */
  /* eslint-disable @typescript-eslint/no-explicit-any */

  it('shows both nodes in the emotionnet palette category with their labels', async () => {
    const got = await js(() =>
      ['emotionnet-smooth', 'emotionnet-alert'].map((t) => {
        const def = (window as any).RED.nodes.getType(t);
        return [def.category, (window as any).$(`.red-ui-palette-node[data-palette-type="${t}"]`).length];
      }),
    );
    assert.deepEqual(got, [['emotionnet', 1], ['emotionnet', 1]]);
  });

  it('alert dialog: one row per rule, emotion fields only for emotion rules; edits are saved', async () => {
    await js(() => (window as any).RED.editor.edit((window as any).RED.nodes.node('ex04.alert')));
    await page.waitForSelector('.node-input-rule-name', { timeout: 10_000 });
    const rows = await js(() => {
      const $ = (window as any).$;
      return $('#node-input-rule-container').editableList('items').map(function (this: any) {
        return `${$(this).find('.node-input-rule-name').val()}:${$(this).find('.node-input-rule-type').val()}:${$(this).find('.emotionnet-alert-emotion').is(':visible')}`;
      }).get();
    });
    assert.deepEqual(rows, ['sad:emotion:true', 'visitor:presence:false', 'nobody:absence:false']);
    await js(() => {
      const $ = (window as any).$;
      $('.node-input-rule-threshold').first().val('0.7');
      $('.node-input-rule-labels').first().val('sad, angry');
      $('#node-dialog-ok').trigger('click');
    });
    await page.waitForFunction(() => !(window as any).$('#node-input-rule-container').length);
    const saved = await js(() => {
      const n = (window as any).RED.nodes.node('ex04.alert');
      return { rule: n.rules[0], valid: n.valid, count: n.rules.length };
    });
    assert.deepEqual(saved, {
      rule: { name: 'sad', type: 'emotion', labels: 'sad, angry', threshold: 0.7, duration: 3, cooldown: 30, scope: 'face', source: 'auto' },
      valid: true,
      count: 3,
    });
  });

  it('alert dialog: an invalid rule name, a missing or an unknown label marks the node invalid', async () => {
    const reasons: Record<string, RegExp> = {
      name: /Rule 1: the name must be/,
      '': /Rule 1: an emotion rule needs at least one label/,
      'happy, joyful': /Rule 1: unknown label "joyful"; use one of anger, contempt, disgust, fear, happy, neutral, sadness, surprise \(the labels the models emit\) or a synonym: angry, mad, contemptuous, disgusted, fearful, scared, afraid, happiness, joy, smile, calm, sad, surprised/,
    };
    for (const [cls, value] of [['name', 'bad/name'], ['labels', ''], ['labels', 'happy, joyful']]) {
      await js(() => (window as any).RED.editor.edit((window as any).RED.nodes.node('ex04.alert')));
      await page.waitForSelector('.node-input-rule-name', { timeout: 10_000 });
      await page.evaluate(([c, v]: string[]) => {
        const $ = (window as any).$;
        $(`.node-input-rule-${c}`).first().val(v);
        $('#node-dialog-ok').trigger('click');
      }, [cls, value]);
      await page.waitForFunction(() => !(window as any).$('#node-input-rule-container').length);
      const state = await js(() => {
        const n = (window as any).RED.nodes.node('ex04.alert');
        return { valid: n.valid, reasons: (n.validationErrors ?? []).join(' ') };
      });
      assert.equal(state.valid, false, `${cls} = "${value}"`);
      assert.match(state.reasons, reasons[cls === 'name' ? 'name' : value]);
      // restore
      await js(() => {
        const n = (window as any).RED.nodes.node('ex04.alert');
        n.rules[0] = { ...n.rules[0], name: 'sad', labels: 'sadness' };
      });
    }
  });

  it('alert dialog: synonyms in any case are valid labels', async () => {
    const valid = await js(() => {
      const n = (window as any).RED.nodes.node('ex04.alert');
      const saved = n.rules[0];
      const def = (window as any).RED.nodes.getType('emotionnet-alert');
      // (no named function here: the test transpiler would wrap it in a helper the page lacks)
      return ['Happiness, SAD, joy, surprised', 'anger contempt;disgust,fear happy neutral sadness surprise', 'happy, joyful'].map(
        (labels) => def.defaults.rules.validate.call(n, [{ ...saved, labels }], {}) === true,
      );
    });
    assert.deepEqual(valid, [true, true, false]);
  });

  it('smoothing dialog: half-life for EMA, window for mean/majority; margin >= 1 is invalid', async () => {
    await js(() => (window as any).RED.editor.edit((window as any).RED.nodes.node('ex03.smooth')));
    await page.waitForSelector('#node-input-method', { timeout: 10_000 });
    const vis = () => js(() => [(window as any).$('.emotionnet-smooth-ema').is(':visible'), (window as any).$('.emotionnet-smooth-window').is(':visible')]);
    assert.deepEqual(await vis(), [true, false]);
    await page.selectOption('#node-input-method', 'majority');
    assert.deepEqual(await vis(), [false, true]);
    await js(() => {
      (window as any).$('#node-input-margin').val('1.5');
      (window as any).$('#node-dialog-ok').trigger('click');
    });
    await page.waitForFunction(() => !(window as any).$('#node-input-method').length);
    assert.deepEqual(await js(() => [(window as any).RED.nodes.node('ex03.smooth').method, (window as any).RED.nodes.node('ex03.smooth').valid]), ['majority', false]);
  });

  it('has Node-RED style help for both nodes and no page errors', async () => {
    const help = await js(() =>
      ['emotionnet-smooth', 'emotionnet-alert'].map((t) => {
        const html = (window as any).RED.nodes.getNodeHelp(t) as string;
        const div = document.createElement('div');
        div.innerHTML = html;
        return [div.querySelector('p')?.textContent?.length ?? 0, div.querySelectorAll('dl.message-properties').length, /Inputs/.test(html) && /Outputs/.test(html) && /Details/.test(html)];
      }),
    );
    for (const [firstP, dls, sections] of help) {
      assert.ok(firstP > 20 && firstP < 140, `first <p> is one short sentence (${firstP} chars)`);
      assert.ok(dls >= 2);
      assert.equal(sections, true);
    }
    assert.deepEqual(errors, []);
  });
});
