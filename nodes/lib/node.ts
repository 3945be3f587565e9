/**
 * Shared Node-RED plumbing for our nodes: safe async input handling and close handling.
 *
 * `onInput` guarantees the contract the runtime expects: `done` is called exactly once per
 * message (`done(err)` on failure, so Catch nodes see it), and a rejected promise can never
 * become an unhandled rejection (which would exit Node-RED).
 */
import type { Node, NodeMessage, NodeMessageInFlow } from 'node-red';
import type { Logger } from '../../src/log';
import { toError } from './errors';

export type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;
export type Done = (err?: Error) => void;

/** A once-only wrapper around `done` (a second call is ignored and logged at debug level). */
export function once(node: Node, done: Done): Done {
  let called = false;
  return (err?: Error) => {
    if (called) {
      node.debug(`done() called twice${err ? ` (${err.message})` : ''}`);
      return;
    }
    called = true;
    done(err);
  };
}

/**
 * Registers an async input handler. The handler calls `done` itself — at once, or later when a
 * buffered message is finally released; if it throws or rejects first, `done(err)` is called
 * for it (later calls of the once-only `done` are ignored).
 */
export function onInput(
  node: Node,
  handler: (msg: NodeMessageInFlow, send: Send, done: Done) => Promise<void> | void,
): void {
  node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
    const finish = once(node, done);
    let result: Promise<void> | void;
    try {
      result = handler(msg, send, finish);
    } catch (err) {
      finish(toError(err));
      return;
    }
    if (result && typeof (result as Promise<void>).then === 'function') {
      (result as Promise<void>).then(
        () => undefined,
        (err) => finish(toError(err)),
      );
    }
  });
}

/**
 * Registers a close handler with the `(removed, done)` arity; `cleanup` may be async and is
 * bounded by `timeoutMs` (well inside Node-RED's 15 s close timeout). Errors are logged, and
 * `done` is always called.
 */
export function onClose(node: Node, cleanup: (removed: boolean) => Promise<void> | void, timeoutMs = 10_000): void {
  node.on('close', (removed: boolean, done: () => void) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        node.warn(`close took longer than ${timeoutMs} ms; continuing`);
        resolve();
      }, timeoutMs);
    });
    Promise.race([Promise.resolve().then(() => cleanup(removed)), timeout])
      .catch((err) => node.error(toError(err).message))
      .finally(() => {
        if (timer) clearTimeout(timer);
        done();
      });
  });
}

/**
 * Resolves with true once `work` settles, or with false after `ms`, whichever comes first: a close
 * waits for the frame or batch in flight, but not for a worker thread that hangs.
 */
export function settledWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const settled = work.then(
    () => true,
    () => true,
  );
  return Promise.race([settled, late]).finally(() => clearTimeout(timer));
}

/** A core `Logger` (src/log.ts) that writes to the node's log. */
export function nodeLogger(node: Node): Logger {
  return { debug: (m) => node.debug(m), info: (m) => node.log(m), warn: (m) => node.warn(m), error: (m) => node.error(m) };
}
