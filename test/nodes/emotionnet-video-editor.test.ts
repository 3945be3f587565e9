/**
 * The video source's edit dialog in a real browser (headless Chromium via playwright-core):
 * palette entry, fields shown per source type, validation, credentials kept out of the label and
 * the flow, help. Starts an embedded Node-RED on a free loopback port. Skips, saying why, when
 * Chromium or playwright-core is missing. Run `npm run build` first.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- page globals (RED, $) are untyped */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Editor, editorSkip, startEditor } from '../helpers/editor';

const skip = editorSkip;

describe('emotionnet-video edit dialog (browser)', { skip, timeout: 60_000 }, () => {
  let editor: Editor | undefined, page: any;
  const errors: string[] = [];
  const js = <T>(fn: () => T): Promise<T> => page.evaluate(fn);

  before(async () => {
    const flow = [
      { id: 't1', type: 'tab', label: 'video' },
      { id: 'cam', z: 't1', type: 'emotionnet-video', name: '', sourceType: 'url', source: 'rtsp://cam.local:554/stream1', autostart: false,
        fps: 10, width: 640, height: 0, format: 'rgb24', quality: 80, pacing: 'realtime', watchdog: 10, highWater: 8, statsInterval: 0, x: 100, y: 60, wires: [[], []] },
    ];
    editor = await startEditor({ flow, waitFor: 'cam', prefix: 'emotionnet-video-editor-', errors });
    page = editor.page;
  });

  after(async () => {
    await editor?.stop();
  });

  const openDialog = async () => {
    await js(() => (window as any).RED.editor.edit((window as any).RED.nodes.node('cam')));
    await page.waitForSelector('#node-input-sourceType', { timeout: 10_000 });
  };
  const closeDialog = async () => {
    await js(() => (window as any).$('#node-dialog-ok').trigger('click'));
    await page.waitForFunction(() => !(window as any).$('#node-input-sourceType').length);
  };
  const visible = () =>
    js(() => {
      const $ = (window as any).$;
      return {
        source: $('.emotionnet-video-source-row').is(':visible'),
        creds: $('#node-input-username').is(':visible'),
        pacing: $('#node-input-pacing').is(':visible'),
        quality: $('#node-input-quality').is(':visible'),
      };
    });

  it('is in the emotionnet palette category with two outputs and its icon', async () => {
    const got = await js(() => {
      const def = (window as any).RED.nodes.getType('emotionnet-video');
      return [def.category, def.outputs, def.icon, (window as any).$('.red-ui-palette-node[data-palette-type="emotionnet-video"]').length];
    });
    assert.deepEqual(got, ['emotionnet', 2, 'emotionnet-video.svg', 1]);
  });

  it('shows the fields each source type needs; JPEG quality only for JPEG output', async () => {
    await openDialog();
    assert.equal(await js(() => (window as any).$('#node-input-watchdog').closest('.form-row').text().replace(/\s+/g, ' ').trim()), 'Watchdog s (0 = off)');
    assert.deepEqual(await visible(), { source: true, creds: true, pacing: false, quality: false });
    await page.selectOption('#node-input-sourceType', 'default');
    assert.deepEqual(await visible(), { source: false, creds: false, pacing: false, quality: false });
    await page.selectOption('#node-input-sourceType', 'file');
    await page.selectOption('#node-input-format', 'jpeg');
    assert.deepEqual(await visible(), { source: true, creds: false, pacing: true, quality: true });
    await page.selectOption('#node-input-sourceType', 'url');
    await page.selectOption('#node-input-format', 'rgb24');
    await closeDialog();
  });

  it('credentials go to the credential store; the label never shows them', async () => {
    await openDialog();
    await js(() => {
      const $ = (window as any).$;
      $('#node-input-username').val('admin');
      $('#node-input-password').val('hunter2');
      $('#node-input-source').val('rtsp://admin:inline-secret@cam.local:554/stream1');
    });
    await closeDialog();
    const got = await js(() => {
      const n = (window as any).RED.nodes.node('cam');
      const exported = JSON.stringify((window as any).RED.nodes.createCompleteNodeSet({ credentials: false }));
      return { label: (window as any).RED.utils.getNodeLabel(n), user: n.credentials.username, exportedHasPassword: exported.includes('hunter2') };
    });
    assert.equal(got.label, 'rtsp://cam.local:554');
    assert.equal(got.user, 'admin');
    assert.equal(got.exportedHasPassword, false);
  });

  it('validation: a URL that is not a URL, a negative fps, "-i" in the input args mark the node invalid', async () => {
    const cases = [['source', 'not a url'], ['fps', '-1'], ['inputArgs', '-i other.mp4'], ['inputArgs', "'-i' other.mp4"], ['inputArgs', '-analyzeduration "1000'], ['width', '12.5']];
    for (const [field, value] of cases) {
      await openDialog();
      await page.evaluate(([f, v]: string[]) => (window as any).$(`#node-input-${f}`).val(v), [field, value]);
      await closeDialog();
      const valid = await js(() => (window as any).RED.nodes.node('cam').valid);
      assert.equal(valid, false, `${field} = "${value}" should be invalid`);
      await openDialog();
      await page.evaluate(([f]: string[]) => {
        const ok: Record<string, string> = { source: 'rtsp://cam.local:554/stream1', fps: '10', inputArgs: '', width: '640' };
        (window as any).$(`#node-input-${f}`).val(ok[f]);
      }, [field]);
      await closeDialog();
      assert.equal(await js(() => (window as any).RED.nodes.node('cam').valid), true, `restored ${field}`);
    }
  });

  it('a hidden field does not mark the node invalid: JPEG quality cleared, then raw output', async () => {
    await openDialog();
    await page.selectOption('#node-input-format', 'jpeg');
    await js(() => (window as any).$('#node-input-quality').val(''));
    await closeDialog();
    assert.equal(await js(() => (window as any).RED.nodes.node('cam').valid), false, 'JPEG output needs a quality');
    await openDialog();
    await page.selectOption('#node-input-format', 'rgb24');
    await closeDialog();
    assert.equal(await js(() => (window as any).RED.nodes.node('cam').valid), true, 'raw output ignores the quality');
    await openDialog();
    await js(() => (window as any).$('#node-input-quality').val('80'));
    await closeDialog();
  });

  it("the editor's input-args splitter is the runtime's splitArgs (same words, same refusals)", async () => {
    const samples = ['', '-rtsp_transport tcp', '  -a  b  ', '-x "a b" c', "-y 'it''s'", '-z a\\ b', '"-i"', "'-i' x", '-i', '-x "unclosed', "-x 'unclosed", '-x "esc \\" q"', 'a\\'];
    const { splitArgs } = await import('../../src/ffmpeg/args');
    const runtime = samples.map((t) => { try { return splitArgs(t); } catch { return 'error'; } });
    const editor = await page.evaluate((list: string[]) => {
      const def = (window as any).RED.nodes.getType('emotionnet-video').defaults.inputArgs;
      return list.map((t) => def.validate.call({}, t));
    }, samples);
    assert.deepEqual(editor, runtime.map((w) => w !== 'error' && !w.includes('-i')));
    // Word for word: run the editor's copy of the function outside the browser.
    const html = fs.readFileSync(path.join(__dirname, '..', '..', 'nodes', 'emotionnet-video', 'emotionnet-video.html'), 'utf8');
    const src = /\n {2}(function splitArgs\(s\) \{[\s\S]*?\n {2}\})\n/.exec(html);
    assert.ok(src, 'function splitArgs(s) in emotionnet-video.html');
    const editorSplit = new Function(`${src[1]}; return splitArgs;`)() as (t: string) => string[];
    assert.deepEqual(samples.map((t) => { try { return editorSplit(t); } catch { return 'error'; } }), runtime);
  });

  it('has Node-RED style help and no page errors', async () => {
    const help = await js(() => {
      const div = document.createElement('div');
      div.innerHTML = (window as any).RED.nodes.getNodeHelp('emotionnet-video') as string;
      return {
        first: div.querySelector('p')?.textContent ?? '',
        ports: div.querySelectorAll('ol.node-ports > li').length,
        props: div.querySelectorAll('dl.message-properties').length,
        text: (div.textContent ?? '').replace(/\s+/g, ' '),
      };
    });
    assert.match(help.first, /^Decodes a video file/);
    assert.match(help.text, /Watchdog 0 turns the no-frame check off/);
    assert.match(help.text, /ffmpeg's synthetic test pattern plays instead: it has no faces/);
    assert.match(help.text, /When durations matter use Real time; for video time in your own logic use msg\.frame\.pts/);
    assert.equal(help.ports, 2);
    assert.ok(help.props >= 3);
    assert.deepEqual(errors, []);
  });
});
