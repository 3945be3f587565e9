/* eslint-disable @typescript-eslint/no-explicit-any -- node-red-node-test-helper and Node-RED objects are untyped */
/**
 * The editor in a real browser: headless Chromium (Debian package `chromium`) driven by
 * playwright-core opens the Node-RED editor of the embedded demo, finds our six nodes in the
 * palette, imports and deploys the demo flow, opens the preview node's edit dialog and sees the
 * live preview image change. With EMOTIONNET_SCREENSHOT=<file.png> it also saves a screenshot
 * of the running demo (used for the README).
 * Skips (with the reason) when chromium is not installed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { demo, flowWithModel, pipelineModel, tmpDir, which } from './support';

const chromium = which('chromium', ['/usr/bin/chromium']);
const skip = chromium ? false : 'chromium is not installed (Debian package `chromium`; .ci/run installs it)';
const OUR_TYPES = ['emotionnet-video', 'emotionnet-face', 'emotionnet-classify', 'emotionnet-smooth', 'emotionnet-alert', 'emotionnet-preview'];

describe('editor in headless Chromium', { skip, timeout: 150_000 }, () => {
  let running: { url: string; stop(): Promise<void> } | null = null;
  let context: any = null;
  let page: any = null;
  let flow: Array<Record<string, any>> = [];

  before(async () => {
    const m = await pipelineModel();
    flow = flowWithModel(m.model, null);
    running = await demo.startDemo({ port: 0, host: '127.0.0.1', userDir: tmpDir('emotionnet-browser-demo-'), flow: [], logLevel: 'warn' });
        const { chromium: browserType } = require('playwright-core');
    context = await browserType.launchPersistentContext(tmpDir('emotionnet-chromium-'), {
      executablePath: chromium,
      headless: true,
      viewport: { width: 1600, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = context.pages()[0] ?? (await context.newPage());
  });

  after(async () => {
    await context?.close();
    await running?.stop();
  });

  it('shows our nodes in the palette under "emotionnet"', async () => {
    await page.goto(running!.url, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('.red-ui-palette-node[data-palette-type="emotionnet-classify"]', { timeout: 30_000 });
    for (const type of OUR_TYPES) {
      assert.equal(await page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`).count(), 1, `${type} in the palette`);
    }
    const category = await page.locator('#red-ui-palette-emotionnet').count();
    assert.equal(category, 1, 'palette category "emotionnet"');
    // Import › Examples lists the package's examples/ (what the editor's import dialog fetches).
    const examples = await page.evaluate(() => fetch('library/examples/flows/node-red-contrib-emotionnet').then((r) => r.json()));
    const names = (examples as Array<{ fn: string }>).map((e) => e.fn);
    assert.ok(names.includes('01 - Full pipeline camera to MQTT'), names.join(', '));
  });

  it('imports and deploys the demo flow from the editor', async () => {
    // touchImport places the nodes at their coordinates instead of attaching them to the mouse.
    await page.evaluate((nodes: unknown) => (window as any).RED.view.importNodes(nodes, { generateIds: false, touchImport: true }), flow);
    await page.waitForFunction(() => (window as any).RED.nodes.dirty(), null, { timeout: 10_000 });
    await page.click('#red-ui-header-button-deploy');
    await page.waitForFunction(() => !(window as any).RED.nodes.dirty(), null, { timeout: 20_000 });
    const deployed = await page.evaluate(() => (window as any).RED.nodes.node('ex01.preview')?.type);
    assert.equal(deployed, 'emotionnet-preview');
  });

  it('opens the preview node edit dialog and the live preview image changes', async () => {
    // Double-click the node on the canvas (as a user does); if it is scrolled out of view, open
    // the same dialog through the editor API.
    const node = page.locator('g[id="ex01.preview"] > rect').first();
    await node.dblclick({ timeout: 5000 }).catch(() => page.evaluate(() => (window as any).RED.editor.edit((window as any).RED.nodes.node('ex01.preview'))));
    await page.waitForSelector('#emotionnet-preview-live', { state: 'visible', timeout: 10_000 });
    // The edit dialog validates its inputs: the max rate field is there with its default.
    assert.equal(await page.inputValue('#node-input-maxFps'), '10');
    await page.waitForFunction(() => {
      const img = document.getElementById('emotionnet-preview-live') as HTMLImageElement | null;
      return !!img && img.naturalWidth > 0;
    }, null, { timeout: 60_000 });
    const img = page.locator('#emotionnet-preview-live');
    const a = await img.screenshot();
    let changed = false;
    for (let i = 0; i < 20 && !changed; i++) {
      await page.waitForTimeout(500);
      changed = !a.equals(await img.screenshot());
    }
    assert.ok(changed, 'the live preview did not change within 10 s');
    const size = await page.evaluate(() => {
      const el = document.getElementById('emotionnet-preview-live') as HTMLImageElement;
      return [el.naturalWidth, el.naturalHeight];
    });
    assert.deepEqual(size, [640, 480]);
    if (process.env.EMOTIONNET_SCREENSHOT) {
      // README screenshot: the demo tab, zoomed so the flow shows beside the dialog, and the
      // debug sidebar with the alert events.
      await page.evaluate(() => {
        const RED = (window as any).RED;
        RED.workspaces.show('demo.tab');
        RED.sidebar.show('debug');
        for (let i = 0; i < 3; i++) RED.actions.invoke('core:zoom-out');
      });
      await page.waitForTimeout(Number(process.env.EMOTIONNET_SCREENSHOT_DELAY || 1000));
      await page.screenshot({ path: process.env.EMOTIONNET_SCREENSHOT });
    }
    await page.click('#node-dialog-cancel');
  });
});
