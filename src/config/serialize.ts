import { stringify } from 'smol-toml';
import { DEFAULT_CONFIG } from './defaults.js';
import { FIELDS } from './fields.js';
import type { WorkerConfig } from './types.js';

export const INTERNAL_COMMENT = '# internal state: managed by studio-worker, do not edit';
const UNKNOWN_COMMENT = '# keys this version of studio-worker does not know, kept as found';

/**
 * Keys written only once someone chose a value: at their default and absent from the file, they
 * stay absent, so "the operator set it" stays tellable (`auto_start` decides whether `ui` writes a
 * login entry; the default must not turn into a choice by being saved).
 */
const ONLY_WHEN_CHOSEN: ReadonlySet<string> = new Set(['auto_start']);

/** WorkerConfig (+ keys kept from the file) → TOML with a stable key order. Undefined keys are omitted. */
export function serializeConfig(
  config: WorkerConfig,
  unknown: Record<string, unknown> = {},
  present: readonly string[] = [],
): string {
  const out: string[] = [];
  for (const group of ['operator', 'internal'] as const) {
    if (group === 'internal') out.push('', INTERNAL_COMMENT);
    for (const f of FIELDS) {
      const value = config[f.key];
      if (f.group !== group || value === undefined) continue;
      if (ONLY_WHEN_CHOSEN.has(f.toml) && !present.includes(f.toml) && value === DEFAULT_CONFIG[f.key])
        continue;
      out.push(stringify({ [f.toml]: value }).trimEnd());
    }
  }
  // Last, because a kept table would swallow any plain key written after it.
  if (Object.keys(unknown).length > 0) out.push('', UNKNOWN_COMMENT, stringify(unknown).trimEnd());
  return `${out.join('\n')}\n`;
}
