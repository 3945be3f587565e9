/* eslint-disable @typescript-eslint/no-explicit-any -- node-red-node-test-helper and Node-RED objects are untyped */
/** Shared set-up for the integration tests: tools on PATH, the demo clip, a usable model. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFileSync } from 'child_process';

export const ROOT = path.resolve(__dirname, '..', '..');

/** Absolute path of an executable, or null. */
export function which(bin: string, extra: string[] = []): string | null {
  for (const p of extra) if (fs.existsSync(p)) return p;
  try {
    return execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** The classifier model the full-pipeline example (and so the demo) uses. */
export function exampleModel(): string {
  const flow = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', '01 - Full pipeline camera to MQTT.json'), 'utf8')) as Array<{ type: string; model?: string }>;
  return flow.find((n) => n.type === 'emotionnet-classify')?.model ?? 'nano-a';
}

/**
 * The model the pipeline flow should use: the example's shipped model when its weights are
 * installed, else a random (untrained) Nano-B written to a temp dir — enough to exercise the
 * plumbing (presence alerts do not depend on the predicted label).
 */
export async function pipelineModel(): Promise<{ model: string; shipped: boolean }> {
  const wanted = exampleModel();
    const { listModels } = require(path.join(ROOT, 'dist', 'src', 'model'));
  const shipped = (listModels() as Array<{ id: string; available: boolean }>).find((m) => m.id === wanted && m.available);
  if (shipped) return { model: wanted, shipped: true };
    const { selectBackend } = require(path.join(ROOT, 'dist', 'src', 'backend'));
  await selectBackend({ backend: 'auto', logger: { debug() {}, info() {}, warn() {}, error() {} } });
    const { writeRandomModel } = require('../model/helpers');
  const dir = await writeRandomModel(tmpDir('emotionnet-random-model-'), 'nano-b');
  return { model: dir, shipped: false };
}

export const demo = require(path.join(ROOT, 'scripts', 'demo.js')) as {
  startDemo(o: Record<string, unknown>): Promise<{ url: string; port: number; RED: any; stop(): Promise<void> }>;
  demoFlow(o: { mqtt?: { host: string; port: number } | null }): Array<Record<string, any>>;
};

/** The demo flow with the classifier pointed at `model`. */
export function flowWithModel(model: string, mqtt: { host: string; port: number } | null): Array<Record<string, any>> {
  return demo.demoFlow({ mqtt }).map((n) => {
    if (n.type === 'emotionnet-classify' && model !== n.model) return { ...n, model: 'custom', modelPath: model };
    return n;
  });
}
