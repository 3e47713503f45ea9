import { DEFAULT_CONFIG, FIELDS, RawConfigSchema } from '../config/index.js';
import type { ConfigStore, WorkerConfig } from '../config/index.js';
import type { ConfigFieldView, ConfigResponse } from './api-types.js';

type Value = boolean | number | string;

/** What the Config tab may show and edit: operator fields only, never a secret or internal state. */
const EDITABLE = FIELDS.filter((f) => f.group === 'operator' && !f.secret);

export function configView(config: WorkerConfig, path: string): ConfigResponse {
  return {
    path,
    fields: EDITABLE.map((f): ConfigFieldView => {
      const value = config[f.key];
      const fallback = DEFAULT_CONFIG[f.key];
      return {
        toml: f.toml,
        type: typeOf(fallback ?? value),
        optional: fallback === undefined,
        value: isValue(value) ? value : null,
        defaultValue: isValue(fallback) ? fallback : null,
      };
    }),
  };
}

export type SaveOutcome = { ok: true; view: ConfigResponse } | { ok: false; errors: Record<string, string> };

/**
 * Validates `values` (TOML names → values; null or '' unsets an optional field) with the schema the
 * TOML file is read with, then writes them through the store (atomic, 0600, unknown keys kept).
 * Every problem is reported at once, keyed by TOML name.
 */
export async function saveConfig(store: ConfigStore, values: unknown): Promise<SaveOutcome> {
  if (values === null || typeof values !== 'object' || Array.isArray(values)) {
    return { ok: false, errors: { '': 'expected a JSON object of config values' } };
  }
  const errors: Record<string, string> = {};
  const set: Record<string, Value> = {};
  const unset: string[] = [];
  for (const [toml, value] of Object.entries(values)) {
    const spec = EDITABLE.find((f) => f.toml === toml);
    if (!spec) errors[toml] = 'not an editable setting';
    else if (value === null || value === '') {
      if (DEFAULT_CONFIG[spec.key] === undefined) unset.push(toml);
      else errors[toml] = 'required';
    } else set[toml] = value as Value;
  }
  const parsed = RawConfigSchema.safeParse(set);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = typeof issue.path[0] === 'string' ? issue.path[0] : '';
      errors[key] ??= issue.message;
    }
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };

  const saved = await store.update((c) => {
    for (const f of EDITABLE) {
      if (f.toml in set) Object.assign(c, { [f.key]: set[f.toml] });
      else if (unset.includes(f.toml)) Object.assign(c, { [f.key]: undefined });
    }
  });
  return { ok: true, view: configView(saved, store.path) };
}

function typeOf(value: unknown): ConfigFieldView['type'] {
  return typeof value === 'boolean' ? 'boolean' : typeof value === 'number' ? 'number' : 'string';
}

function isValue(value: unknown): value is Value {
  return typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string';
}
