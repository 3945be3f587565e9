/* eslint-disable @typescript-eslint/no-explicit-any -- node-red-node-test-helper and Node-RED objects are untyped */
/**
 * Shared helpers for node-red-node-test-helper tests of the pipeline helper's nodes:
 * flows load the COMPILED nodes from dist/ (run `npm run build` first), exactly as Node-RED does.
 */
import * as path from 'path';
const helper = require('node-red-node-test-helper');

helper.init(require.resolve('node-red'));

export const ROOT = path.resolve(__dirname, '..', '..');
export const dist = (p: string) => path.join(ROOT, 'dist', p);
export const load = (p: string) => require(dist(p));
/** A Node-RED core node module by its path under @node-red/nodes/core (`common/21-debug.js`). */
export const coreNode = (file: string) => require(path.join(path.dirname(require.resolve('node-red/package.json')), '..', '@node-red', 'nodes', 'core', file));
export const catchNode = coreNode('common/25-catch.js');
export const completeNode = coreNode('common/24-complete.js');

export { helper };

/** Resolves with the next `n` messages a helper node receives (rejects after `ms`). */
export function collect(node: { on(ev: string, fn: (m: unknown) => void): void }, n: number, ms = 3000): Promise<any[]> {
  return new Promise((resolve, reject) => {
    const got: any[] = [];
    const timer = setTimeout(() => reject(new Error(`timed out: got ${got.length} of ${n} messages`)), ms);
    node.on('input', (m) => {
      got.push(m);
      if (got.length === n) {
        clearTimeout(timer);
        resolve(got);
      }
    });
  });
}

/** Waits until `pred()` holds (polling), or rejects after `ms`. */
export async function until(pred: () => boolean, ms = 3000, what: string | (() => string) = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Records the worker thread that each message was last posted to (a job a pool sent to one of its
 * workers), for tests that stop that worker mid-job; `restore()` undoes the spy.
 *
 * With `stopNext` set, the next worker a message is posted to is stopped first, in the same
 * synchronous run (`stopped`: its `terminate()`), and the spy clears `stopNext`: the worker can
 * never answer that job, however fast it is, while its pool (which sees the worker alive until
 * its 'exit' event) counts the job as running in it. Stopping the worker after the job was sent
 * races with the worker answering.
 */
export function watchWorkerPosts(): { last: any; stopNext: boolean; stopped: Promise<number> | null; restore(): void } {
  const { Worker } = require('worker_threads');
  const post = Worker.prototype.postMessage;
  const spy = {
    last: null as any,
    stopNext: false,
    stopped: null as Promise<number> | null,
    restore: () => {
      Worker.prototype.postMessage = post;
    },
  };
  Worker.prototype.postMessage = function (this: { terminate(): Promise<number> }, ...args: unknown[]) {
    spy.last = this;
    if (spy.stopNext) {
      spy.stopNext = false;
      spy.stopped = this.terminate();
    }
    return post.apply(this, args);
  };
  return spy;
}

/** Counts the worker threads stopped (`Worker.prototype.terminate` calls) until `restore()`. */
export function countTerminations(): { count: number; restore(): void } {
  const { Worker } = require('worker_threads');
  const terminate = Worker.prototype.terminate;
  const spy = {
    count: 0,
    restore: () => {
      Worker.prototype.terminate = terminate;
    },
  };
  Worker.prototype.terminate = function (this: unknown) {
    spy.count++;
    return terminate.call(this);
  };
  return spy;
}
