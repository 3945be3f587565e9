/**
 * Invalid node configuration: reported once at construction (failed status, node.error), then
 * every input is rejected with the same error so Catch nodes see it.
 */
import type { Node } from 'node-red';
import { onInput } from './node';
import type { Status } from './status';

export function rejectInputs(node: Node, status: Status, err: Error, statusText: string): void {
  status.set('failed', statusText);
  node.error(err.message);
  onInput(node, (_msg, _send, done) => done(err));
}
