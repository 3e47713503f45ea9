import { toError } from '../util/index.js';

/**
 * An error with its causes, joined with ": " (the original's anyhow `{:#}`), so "could not open a
 * stream" names what underneath failed.
 */
export function errorChain(e: unknown): string {
  const parts: string[] = [];
  let current: unknown = e;
  while (current !== undefined && current !== null && parts.length < 8) {
    const error = toError(current);
    parts.push(error.message);
    current = error.cause;
  }
  return parts.join(': ');
}
