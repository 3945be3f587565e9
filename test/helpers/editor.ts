/* eslint-disable @typescript-eslint/no-explicit-any -- playwright (optional) and page globals (RED, $) are untyped */
/**
 * Editor tests in a real browser (headless Chromium via playwright-core): an embedded Node-RED on a
 * free loopback port with this package installed (symlinked) in a temp userDir, and a page opened
 * on its editor. `editorSkip` says why such tests must skip (no Chromium, no playwright-core).
 * Run `npm run build` first.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import type { AddressInfo } from 'net';

const ROOT = path.resolve(__dirname, '..', '..');
const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => p && fs.existsSync(p));
function tryRequire(id: string): any {
  try {
    return require(id);
  } catch {
    return null;
  }
}
const playwright = tryRequire('playwright-core');

/** Why browser tests cannot run here (for `describe(..., { skip })`), or false. */
export const editorSkip: string | false = !CHROMIUM
  ? 'Chromium not found (apt-get install chromium, or set CHROMIUM_PATH)'
  : !playwright
    ? 'playwright-core is not installed'
    : false;

export interface Editor {
  RED: any;
  browser: any;
  page: any;
  server: http.Server;
  userDir: string;
  /** Closes the browser, stops Node-RED and the server, removes the userDir. */
  stop(): Promise<void>;
}

/**
 * Starts Node-RED with `flow` as its flow file and opens the editor; resolves once the editor
 * knows the node `waitFor`. Page errors are pushed to `errors`.
 */
export async function startEditor(o: { flow: unknown[]; waitFor: string; prefix: string; errors: string[] }): Promise<Editor> {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), o.prefix));
  const ed: Partial<Editor> & { userDir: string } = { userDir };
  ed.stop = async () => {
    await ed.browser?.close();
    await ed.RED?.stop();
    ed.server?.close();
    fs.rmSync(userDir, { recursive: true, force: true });
  };
  try {
    await launch(ed, userDir, o);
  } catch (e) {
    await ed.stop().catch(() => undefined);
    throw e;
  }
  return ed as Editor;
}

async function launch(ed: Partial<Editor>, userDir: string, o: { flow: unknown[]; waitFor: string; errors: string[] }): Promise<void> {
  fs.mkdirSync(path.join(userDir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(userDir, 'node_modules', 'node-red-contrib-emotionnet'), 'dir');
  fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(o.flow));
  const RED = (ed.RED = require('node-red'));
  const server = (ed.server = http.createServer());
  RED.init(server, {
    userDir,
    flowFile: 'flows.json',
    httpAdminRoot: '/',
    credentialSecret: 'test',
    logging: { console: { level: 'error' } },
    editorTheme: { tours: false },
  });
  server.on('request', RED.httpAdmin);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  await RED.start();
  ed.browser = await playwright.chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const page = (ed.page = await ed.browser.newPage({ viewport: { width: 1400, height: 1000 } }));
  page.on('pageerror', (e: Error) => o.errors.push(e.message));
  await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  await page.waitForFunction((id: string) => (window as any).RED?.nodes?.node(id), o.waitFor, { timeout: 30_000 });
}
