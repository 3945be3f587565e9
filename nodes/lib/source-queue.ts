/**
 * A node's StageQueue whose waiting items are counted per source (`item.sourceId`) and reported to
 * FlowControl under that source: a video source playing a file "as fast as the flow takes them"
 * pauses while the node holds more than its limit of that source's frames, whatever other sources
 * send. A source leaves the count when its last item leaves the queue, so the count stays bounded
 * by the queue however many source ids pass through. Used by the face and classify nodes.
 */
import { OverloadError, OverloadPolicy, SourceDepths, StageQueue } from '../../src/overload';
import { framesInFlight } from '../../src/worker-pool';
import { Done, settledWithin } from './node';

/** On close, wait at most this long for the item in flight (then the model is disposed under it). */
export const CLOSE_WAIT_MS = 3000;

export interface SourceItem {
  /** The frame's source (`msg.frame.sourceId`), when it has one. */
  sourceId?: string;
  done: Done;
}

export interface SourceQueue<T> {
  readonly queue: StageQueue<T>;
  /** Queues `item`; a full queue completes it with `queueFull()` (Catch nodes see it). */
  enqueue(item: T): void;
  /**
   * On close: closes the queue and waits for it and `alsoWait` (e.g. messages held while loading),
   * at most {@link CLOSE_WAIT_MS}; then withdraws this node's reports for the sources still
   * counted. Resolves with false when the wait timed out (a worker thread that hangs).
   */
  close(alsoWait?: Promise<unknown>): Promise<boolean>;
}

export interface SourceQueueOptions {
  /** The node's overload policy. */
  policy: OverloadPolicy;
  /**
   * The node's worker threads: items of different sources are worked on at once, one per thread
   * and one more (so no worker idles while this thread sends the next; see the README).
   */
  threads: unknown;
  /** An item was superseded by a newer one of its source (`latest`): counted in the status. */
  onSuperseded: () => void;
  /** The error for an item the full queue refuses (Catch nodes see it). */
  queueFull: () => Error;
}

/**
 * `work` runs each item; sources take turns by `item.sourceId`. An item that leaves without being
 * worked on (superseded, discarded on close, or offered after the close began) is completed with `done()`.
 */
export function sourceQueue<T extends SourceItem>(nodeId: string, work: (item: T) => Promise<void>, options: SourceQueueOptions): SourceQueue<T> {
  const depths = new SourceDepths(nodeId);
  /** `item` left the queue (started, superseded or discarded on close). */
  const leave = (item: T) => depths.remove(item.sourceId);
  const queue = new StageQueue<T>(
    (item) => {
      leave(item);
      return work(item);
    },
    {
      policy: options.policy,
      concurrency: framesInFlight(options.threads),
      key: (item) => item.sourceId, // sources take turns under `latest`
      onDrop: (item, reason) => {
        leave(item);
        if (reason === 'superseded') options.onSuperseded();
        item.done();
      },
    },
  );
  let closing = false;
  return {
    queue,
    enqueue(item: T): void {
      // Node-RED still delivers messages to a node while it closes (a redeploy: the video node
      // upstream sends until it is stopped too). They complete like the items the close
      // discards from the queue, not as "stage queue is closed" errors in the log at every deploy.
      if (closing) return item.done();
      const sid = item.sourceId;
      // Counted before the push: a `latest` push may supersede (and uncount) an older item of the
      // same source synchronously.
      depths.add(sid);
      try {
        queue.push(item);
      } catch (e) {
        depths.remove(sid, false); // refused: the depth already reported is unchanged
        item.done(e instanceof OverloadError ? options.queueFull() : (e as Error));
        return;
      }
      depths.report(sid);
    },
    async close(alsoWait: Promise<unknown> = Promise.resolve()): Promise<boolean> {
      closing = true;
      // Discarded items leave through onDrop: their sources report 0.
      const settled = await settledWithin(Promise.all([alsoWait, queue.close()]), CLOSE_WAIT_MS);
      depths.forgetAll();
      return settled;
    },
  };
}
