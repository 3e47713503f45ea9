import { FIELDS } from './fields.js';
import type { WorkerConfig } from './types.js';

export const MASK = '********';

/** What `studio-worker config` prints: snake_case keys, secrets masked, unset keys as null. */
export function configForDisplay(c: WorkerConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of FIELDS) {
    const value = c[f.key];
    out[f.toml] = value === undefined ? null : f.secret ? MASK : value;
  }
  return out;
}
