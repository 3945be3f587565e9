#!/usr/bin/env node
'use strict';
/**
 * `npm start`: the demo. Starts Node-RED embedded (node-red is a devDependency) with its own
 * user directory inside the project (.demo/, git-ignored) on port 1880 or $PORT, loads this
 * package's nodes and runs the full example flow ("01 - Full pipeline camera to MQTT") on the
 * embedded default video: a clip rendered at first start from the MIT-licensed demo photos of
 * @vladmandic/face-api (.cache/demo/default.mp4). Alert events appear in this log and in the
 * editor's debug sidebar; if an MQTT broker listens on localhost:1883 they are published too.
 *
 *   npm start                    # http://localhost:1880
 *   PORT=1990 npm start
 *   npm start -- --reset         # rewrite .demo/flows.json from the example
 *
 * Also usable from tests: `require('./scripts/demo').startDemo({ port, userDir })`.
 */
const fs = require('fs');
const http = require('http');
const net = require('net');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const EXAMPLE = path.join(ROOT, 'examples', '01 - Full pipeline camera to MQTT.json');

function brokerListening(host = '127.0.0.1', port = 1883, ms = 400) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(ms, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * The demo flow: the full-pipeline example on a tab, alerts also logged to the console, and
 * without the MQTT nodes when no broker is given/listening.
 */
function demoFlow({ mqtt = null } = {}) {
  const nodes = JSON.parse(fs.readFileSync(EXAMPLE, 'utf8'));
  const tab = { id: 'demo.tab', type: 'tab', label: 'EmotionNet demo', disabled: false, info: 'The full pipeline on the embedded default video (see the comment node).' };
  let out = nodes.map((n) => ({ ...n }));
  if (mqtt) {
    for (const n of out) if (n.type === 'mqtt-broker') Object.assign(n, { broker: mqtt.host, port: String(mqtt.port) });
  } else {
    const drop = new Set(out.filter((n) => n.type === 'mqtt out' || n.type === 'mqtt-broker').map((n) => n.id));
    out = out.filter((n) => !drop.has(n.id));
    for (const n of out) if (n.wires) n.wires = n.wires.map((port) => port.filter((id) => !drop.has(id)));
  }
  for (const n of out) {
    if ('x' in n) n.z = tab.id;
    // Alerts in the log too ("visible in the log and the debug sidebar").
    if (n.type === 'debug') n.console = true;
  }
  return [tab, ...out];
}

function linkPackage(userDir) {
  // Node-RED loads node packages from <userDir>/node_modules (also their examples/).
  const modDir = path.join(userDir, 'node_modules');
  const link = path.join(modDir, 'node-red-contrib-emotionnet');
  fs.mkdirSync(modDir, { recursive: true });
  try {
    const st = fs.lstatSync(link);
    if (st.isSymbolicLink() && fs.realpathSync(link) === ROOT) return;
    fs.rmSync(link, { recursive: true, force: true });
  } catch {
    /* not there yet */
  }
  fs.symlinkSync(ROOT, link, 'junction');
}

/**
 * Starts the demo; resolves with { url, port, RED, server, stop() }.
 * `host` (else the environment variable HOST) is the address to listen on: 127.0.0.1 by default,
 * because the demo's editor has no login and whoever reaches it can deploy code (function nodes);
 * HOST=0.0.0.0 opens it to the network (e.g. a headless Pi viewed from a laptop), with a warning.
 * @param {{port?: number, host?: string, userDir?: string, reset?: boolean, mqtt?: {host: string, port: number} | null | 'auto', logLevel?: string, flow?: object[]}} opts
 */
async function startDemo(opts = {}) {
  const port = opts.port ?? Number(process.env.PORT || 1880);
  const host = opts.host ?? (process.env.HOST || '127.0.0.1');
  const userDir = path.resolve(opts.userDir ?? path.join(ROOT, '.demo'));
  fs.mkdirSync(userDir, { recursive: true });
  linkPackage(userDir);

  // The embedded default video: real faces, rendered once from MIT-licensed photos.
  const { ensureDemoClip } = require(path.join(ROOT, 'dist', 'src', 'pipeline'));
  const { consoleLogger } = require(path.join(ROOT, 'dist', 'src', 'log'));
  await ensureDemoClip({ logger: consoleLogger('emotionnet demo') });

  let mqtt = opts.mqtt === undefined ? 'auto' : opts.mqtt;
  if (mqtt === 'auto') mqtt = (await brokerListening()) ? { host: 'localhost', port: 1883 } : null;
  const flowFile = path.join(userDir, 'flows.json');
  if (opts.flow || opts.reset || !fs.existsSync(flowFile)) {
    fs.writeFileSync(flowFile, JSON.stringify(opts.flow ?? demoFlow({ mqtt }), null, 2));
  }

  const RED = require('node-red');
  const express = require('express');
  const app = express();
  const server = http.createServer(app);
  const settings = {
    uiPort: port,
    httpAdminRoot: '/',
    httpNodeRoot: '/api',
    userDir,
    flowFile: 'flows.json',
    credentialSecret: false,
    functionGlobalContext: {},
    logging: { console: { level: opts.logLevel ?? 'info', metrics: false, audit: false } },
    editorTheme: {
      tours: false,
      projects: { enabled: false },
      palette: { catalogues: [], categories: ['emotionnet', 'common', 'function', 'network', 'sequence', 'parser', 'storage'] },
    },
    // No update-check dialog and no data sent anywhere from a demo.
    telemetry: { enabled: false },
    diagnostics: { enabled: false },
    runtimeState: { enabled: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
  };
  RED.init(server, settings);
  app.use(settings.httpAdminRoot, RED.httpAdmin);
  app.use(settings.httpNodeRoot, RED.httpNode);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  await RED.start();
  const loopback = host === 'localhost' || host === '::1' || host.startsWith('127.');
  const everywhere = host === '0.0.0.0' || host === '::';
  const url = `http://${loopback || everywhere ? 'localhost' : host.includes(':') ? `[${host}]` : host}:${server.address().port}/`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await RED.stop();
    server.closeAllConnections?.();
    await new Promise((r) => server.close(r));
  };
  return { url, port: server.address().port, host, loopback, RED, server, stop, mqtt, userDir };
}

module.exports = { startDemo, demoFlow, brokerListening };

if (require.main === module) {
  const reset = process.argv.includes('--reset');
  startDemo({ reset }).then(
    (d) => {
      console.log('');
      console.log(`EmotionNet demo running: open ${d.url}`);
      if (!d.loopback) {
        console.log(`Listening on ${d.host}: the editor has no login, so anyone who can reach this address can deploy code here.`);
      } else {
        console.log('Only this machine can open it (HOST=0.0.0.0 npm start opens it to the network; the editor has no login).');
      }
      console.log(d.mqtt ? `Alerts are published to MQTT ${d.mqtt.host}:${d.mqtt.port} (emotionnet/alert/#).` : 'No MQTT broker on localhost:1883: alerts go to the debug sidebar and this log.');
      console.log('Watch the live preview in the "emotion preview" node\'s edit dialog. Ctrl+C to stop.');
      const shutdown = () => {
        d.stop().then(() => process.exit(0), () => process.exit(1));
        global.setTimeout(() => process.exit(1), 8000).unref();
      };
      process.once('SIGINT', shutdown);
      process.once('SIGTERM', shutdown);
    },
    (err) => {
      console.error(`demo failed to start: ${err && err.stack ? err.stack : err}`);
      process.exit(1);
    },
  );
}
