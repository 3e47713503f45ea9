import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let found: (() => void) | null | undefined;

/**
 * V8's full garbage collection as a function, or undefined where it cannot be had. Node has no API
 * for it: the `gc` of `--expose-gc` when node was started with it, else the same function from a
 * context made after turning the flag on (V8 installs it in contexts created from then on; the flag
 * changes nothing else).
 */
export function fullGc(): (() => void) | undefined {
  if (found === undefined) {
    const own = (globalThis as { gc?: unknown }).gc;
    if (typeof own === 'function') found = own as () => void;
    else {
      try {
        setFlagsFromString('--expose-gc');
        const made: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
        found = typeof made === 'function' ? (made as () => void) : null;
      } catch {
        found = null;
      }
    }
  }
  return found ?? undefined;
}
