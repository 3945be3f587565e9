/**
 * Invalid node configuration: reported once at construction (failed status, node.error), then
 * every input is refused (see refusals.ts): Catch nodes get the error at most once per 5 s, not
 * once per frame, and the status counts every refused message (`config error (12)`).
 */
import type { Node } from 'node-red';
import { onClose, onInput } from './node';
import { Refusals } from './refusals';
import type { Status } from './status';

export function rejectInputs(node: Node, status: Status, err: Error, statusText: string): void {
  status.set('failed', statusText);
  node.error(err.message);
  const refusals = new Refusals(status);
  onInput(node, (_msg, _send, done) => refusals.refuse(done, statusText, () => err));
  // The count is a throttled status: its pending update must not land after close (a redeployed
  // node has the same id, so it would cover the new node's status).
  onClose(node, () => status.clear());
}
