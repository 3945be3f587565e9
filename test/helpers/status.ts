/* eslint-disable @typescript-eslint/no-explicit-any -- node-red-node-test-helper nodes are untyped */
/** Records every status a node sets (it still reaches the runtime); returns the live list. */
export function watchStatus(n: any): any[] {
  const seen: any[] = [];
  const orig = n.status.bind(n);
  n.status = (s: any) => {
    seen.push(s);
    orig(s);
  };
  return seen;
}
