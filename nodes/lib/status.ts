/**
 * One status helper with a fixed vocabulary, throttled so a 30 fps pipeline never floods the
 * editor's websocket (node-red#5280):
 *
 * - ready: green ring     - running: green dot     - busy/loading/starting: yellow ring
 * - count: blue dot + n   - failed: red ring       - error: red dot     - stopped: grey ring
 *
 * Text is short (≤ ~20 chars); callers pass already translated text (from `RED._`).
 */
import type { Node, NodeStatus } from 'node-red';

export type StatusKind = 'ready' | 'running' | 'busy' | 'count' | 'failed' | 'error' | 'stopped';

const LOOK: Record<StatusKind, Pick<NodeStatus, 'fill' | 'shape'>> = {
  ready: { fill: 'green', shape: 'ring' },
  running: { fill: 'green', shape: 'dot' },
  busy: { fill: 'yellow', shape: 'ring' },
  count: { fill: 'blue', shape: 'dot' },
  failed: { fill: 'red', shape: 'ring' },
  error: { fill: 'red', shape: 'dot' },
  stopped: { fill: 'grey', shape: 'ring' },
};

export class Status {
  #node: Node;
  #minIntervalMs: number;
  #last = 0;
  #pending: NodeStatus | null = null;
  #timer: NodeJS.Timeout | null = null;
  #current = '';

  /** @param minIntervalMs throttle for `running`/`count` updates (others apply at once). @default 500 */
  constructor(node: Node, minIntervalMs = 500) {
    this.#node = node;
    this.#minIntervalMs = minIntervalMs;
  }

  /**
   * Sets the status. State changes (`ready`, `busy`, `failed`, `error`, `stopped`) apply at
   * once; frequent `running`/`count` updates are throttled and the latest one wins. `throttle`
   * throttles any kind: a failure status that counts the messages it refuses (one per frame).
   */
  set(kind: StatusKind, text: string, options: { throttle?: boolean } = {}): void {
    const s: NodeStatus = { ...LOOK[kind], text: text.length > 32 ? `${text.slice(0, 31)}…` : text };
    const throttled = kind === 'running' || kind === 'count' || options.throttle === true;
    if (!throttled) {
      this.#cancel();
      this.#apply(s);
      return;
    }
    // At most one interval: after the clock stepped back (NTP, a manual change) `#last` lies in
    // the future, and waiting for it would freeze the status for as long as the step.
    const wait = Math.min(this.#last + this.#minIntervalMs - Date.now(), this.#minIntervalMs);
    if (wait <= 0 && !this.#timer) {
      this.#apply(s);
      return;
    }
    this.#pending = s;
    if (!this.#timer) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        if (this.#pending) this.#apply(this.#pending);
        this.#pending = null;
      }, Math.max(0, wait));
    }
  }

  /** Clears the status (on close). */
  clear(): void {
    this.#cancel();
    this.#current = '';
    this.#node.status({});
  }

  #apply(s: NodeStatus): void {
    const key = `${s.fill}|${s.shape}|${s.text}`;
    this.#last = Date.now();
    if (key === this.#current) return;
    this.#current = key;
    this.#node.status(s);
  }

  #cancel(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#pending = null;
  }
}

/**
 * Re-shows a rate status once its input has gone quiet: `show` runs every `idleMs` while nothing
 * was `mark`ed for at least `idleMs` (and something was marked before), so a rate falls to 0 when
 * messages stop (a camera outage) instead of the last value staying up. Monotonic clock; `stop`
 * on close.
 */
export function refreshWhenIdle(show: () => void, idleMs = 1000): { mark(): void; stop(): void } {
  let lastAt = 0;
  const timer = setInterval(() => {
    if (lastAt > 0 && performance.now() - lastAt >= idleMs) show();
  }, idleMs);
  return {
    mark: () => {
      lastAt = performance.now();
    },
    stop: () => clearInterval(timer),
  };
}
