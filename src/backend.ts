/**
 * The one TensorFlow.js backend selector used by every ML stage (detector, classifier, trainer).
 *
 * Preference order for `auto`: `tfjs-node` (native TensorFlow, where its binary loads) →
 * `wasm` (SIMD WebAssembly; the .wasm files ship inside the npm package) → `cpu` (pure JS).
 * The choice can be forced per call (node config) or for the whole process with the
 * environment variable `EMOTIONNET_BACKEND` (auto | tfjs-node | wasm | cpu), which wins.
 *
 * TensorFlow.js has one active backend per process, so the first successful selection fixes it.
 * A later request for a different backend keeps the active one and says so in `reason`
 * (switching would strand the weights that other nodes already hold on the first backend).
 */
import * as tf from '@tensorflow/tfjs-core';
import { consoleLogger, Logger } from './log';

export type BackendPreference = 'auto' | 'tfjs-node' | 'wasm' | 'cpu';
/** tfjs' own registry names: tfjs-node registers itself as `tensorflow`. */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

export interface BackendInfo {
  /** The active tfjs backend. */
  name: BackendName;
  /** Short label for status text: `tfjs-node`, `wasm`, `cpu`. */
  label: 'tfjs-node' | 'wasm' | 'cpu';
  /** What was asked for (after the environment override). */
  requested: BackendPreference;
  /** Why this backend was picked, including why better ones were skipped. */
  reason: string;
}

export const BACKEND_PREFERENCES: readonly BackendPreference[] = ['auto', 'tfjs-node', 'wasm', 'cpu'];

const LABEL: Record<BackendName, BackendInfo['label']> = { tensorflow: 'tfjs-node', wasm: 'wasm', cpu: 'cpu' };

let active: Promise<BackendInfo> | null = null;
let activeInfo: BackendInfo | null = null;

/** Parses a preference string; throws a TypeError for anything unknown. */
export function parseBackendPreference(value: unknown): BackendPreference {
  if (value === undefined || value === null || value === '') return 'auto';
  const v = String(value).trim().toLowerCase();
  const alias: Record<string, BackendPreference> = {
    auto: 'auto', 'tfjs-node': 'tfjs-node', node: 'tfjs-node', tensorflow: 'tfjs-node', native: 'tfjs-node',
    wasm: 'wasm', cpu: 'cpu',
  };
  const p = alias[v];
  if (!p) throw new TypeError(`Unknown TensorFlow.js backend "${String(value)}" (expected one of ${BACKEND_PREFERENCES.join(', ')})`);
  return p;
}

/**
 * The preference in force: `EMOTIONNET_BACKEND` when set, else `preference`. Throws a TypeError
 * for an unknown value, naming the environment variable when the value came from it (the node
 * setting may say `auto`).
 */
export function requestedBackend(preference: unknown): BackendPreference {
  const env = process.env.EMOTIONNET_BACKEND;
  if (!env || !env.trim()) return parseBackendPreference(preference);
  try {
    return parseBackendPreference(env);
  } catch (e) {
    throw new TypeError(`EMOTIONNET_BACKEND: ${(e as Error).message}`);
  }
}

async function tryTfjsNode(): Promise<string | null> {
  try {
    // tfjs-node registers the `tensorflow` backend on the shared tfjs-core as a side effect.
    // Its native binary is downloaded by an install script, which fails or is skipped on many
    // machines (ARM, offline, npm >= 11 without allowScripts): then require() throws.
    require('@tensorflow/tfjs-node');
  } catch (e) {
    return `tfjs-node not usable (${firstLine(e)})`;
  }
  try {
    if (!(await tf.setBackend('tensorflow'))) return 'tfjs-node loaded but its backend failed to initialise';
    return null;
  } catch (e) {
    return `tfjs-node backend failed (${firstLine(e)})`;
  }
}

async function tryWasm(): Promise<string | null> {
  try {
    require('@tensorflow/tfjs-backend-wasm');
    if (!(await tf.setBackend('wasm'))) return 'wasm backend failed to initialise';
    return null;
  } catch (e) {
    return `wasm backend failed (${firstLine(e)})`;
  }
}

async function tryCpu(): Promise<string | null> {
  try {
    require('@tensorflow/tfjs-backend-cpu');
    if (!(await tf.setBackend('cpu'))) return 'cpu backend failed to initialise';
    return null;
  } catch (e) {
    return `cpu backend failed (${firstLine(e)})`;
  }
}

function firstLine(e: unknown): string {
  const s = e instanceof Error ? e.message : String(e);
  return s.split('\n')[0].slice(0, 160);
}

async function select(requested: BackendPreference, log: Logger): Promise<BackendInfo> {
  const order: Array<[BackendName, () => Promise<string | null>]> =
    requested === 'tfjs-node' || requested === 'auto'
      ? [['tensorflow', tryTfjsNode], ['wasm', tryWasm], ['cpu', tryCpu]]
      : requested === 'wasm'
        ? [['wasm', tryWasm], ['cpu', tryCpu]]
        : [['cpu', tryCpu]];
  const skipped: string[] = [];
  for (const [name, attempt] of order) {
    const why = await attempt();
    if (why === null) {
      await tf.ready();
      const reason =
        skipped.length === 0
          ? `${LABEL[name]}: ${requested === 'auto' ? 'first choice' : 'as requested'}`
          : `${LABEL[name]}: ${skipped.join('; ')}`;
      const info: BackendInfo = { name, label: LABEL[name], requested, reason };
      // A forced backend that did not load is worth a warning; under `auto` falling back is normal.
      if (requested !== 'auto' && skipped.length > 0) log.warn(`TensorFlow.js backend ${reason} (${requested} was requested)`);
      else log.info(`TensorFlow.js backend ${reason}`);
      return info;
    }
    skipped.push(why);
  }
  throw new Error(`No TensorFlow.js backend could be initialised: ${skipped.join('; ')}`);
}

export interface SelectBackendOptions {
  /** Preference from config; `EMOTIONNET_BACKEND` overrides it. @default 'auto' */
  backend?: BackendPreference | string;
  logger?: Logger;
}

/**
 * Selects (once per process) and returns the active TensorFlow.js backend.
 *
 * @example
 * ```ts
 * const info = await selectBackend({ backend: 'auto' });
 * console.log(info.label, info.reason); // "wasm", "wasm: tfjs-node not usable (...)"
 * ```
 */
export async function selectBackend(options: SelectBackendOptions = {}): Promise<BackendInfo> {
  const log = options.logger ?? consoleLogger();
  const requested = requestedBackend(options.backend);
  if (!active) {
    active = select(requested, log).then(
      (info) => (activeInfo = info),
      (err) => {
        active = null;
        throw err;
      },
    );
    return active;
  }
  const info = await active;
  const wantedName: BackendName | null =
    requested === 'auto' ? null : requested === 'tfjs-node' ? 'tensorflow' : requested;
  if (wantedName && wantedName !== info.name) {
    const note = `${info.label}: already active in this process (${requested} was requested; one backend per process)`;
    log.warn(`TensorFlow.js backend ${note}`);
    return { ...info, requested, reason: note };
  }
  return info;
}

/** The active backend, or null before the first {@link selectBackend}. */
export function activeBackend(): BackendInfo | null {
  return activeInfo;
}

export { tf };
