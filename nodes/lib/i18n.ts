/**
 * `RED._` with an English fallback: when the runtime has no catalogue for our namespace (e.g.
 * under node-red-node-test-helper) it returns the key itself; errors and logs must still read
 * as sentences, so fall back to the bundled en-US strings.
 */
import type { NodeAPI } from 'node-red';

export type Translate = (key: string, sub?: Record<string, string | number>) => string;

export function translator(RED: NodeAPI, type: string, messages: Record<string, unknown>): Translate {
  const fallback = (key: string): string | undefined => {
    let v: unknown = messages[type];
    for (const part of key.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
    return typeof v === 'string' ? v : undefined;
  };
  return (key, sub) => {
    const full = `${type}.${key}`;
    const s = RED._(full, sub);
    if (s && s !== full) return s;
    const f = fallback(key);
    if (f === undefined) return full;
    return f.replace(/__(\w+)__/g, (m, name: string) => (sub && name in sub ? String(sub[name]) : m));
  };
}
