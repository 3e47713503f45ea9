import { parse, TomlDate, TomlError } from 'smol-toml';
import { z } from 'zod';
import { DEFAULT_CONFIG } from './defaults.js';
import { ConfigError, type ConfigProblem } from './errors.js';
import { FIELDS, FIELDS_BY_TOML } from './fields.js';
import type { WorkerConfig } from './types.js';

/**
 * Keys of the Rust original's config.toml that this worker does not use (yet); kept on every save,
 * without a warning. None is left now that `stream_port` is served; the next one goes here.
 */
export const ORIGINAL_ONLY_KEYS: ReadonlySet<string> = new Set<string>();

/** The snake_case TOML shape: every known key optional, unknown keys let through (and kept). */
export const RawConfigSchema = z.looseObject(
  Object.fromEntries(FIELDS.map((f) => [f.toml, f.schema.optional()])),
);

export interface ParsedConfig {
  config: WorkerConfig;
  /** Keys this version does not know, exactly as parsed; written back on save. */
  unknown: Record<string, unknown>;
  warnings: string[];
  /** The known TOML keys the file itself sets (the rest are defaults). */
  present: string[];
}

/** Raw TOML text → validated config with defaults; throws one ConfigError listing every problem. */
export function parseConfigText(text: string, file: string): ParsedConfig {
  let raw: Record<string, unknown>;
  try {
    raw = parse(text);
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    const reason = e.message.split('\n')[0]?.replace(/^Invalid TOML document: /, '') ?? 'syntax error';
    const problem = { line: e.line, message: `invalid TOML: ${reason} (column ${e.column})` };
    throw new ConfigError(file, [problem], { cause: e, detail: e.codeblock });
  }

  const result = RawConfigSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue): ConfigProblem => {
      const key = typeof issue.path[0] === 'string' ? issue.path[0] : undefined;
      const message =
        issue.code === 'invalid_type' && key !== undefined
          ? `expected ${withArticle(issue.expected)}, got ${describe(raw[key])}`
          : issue.message;
      return { key, line: key === undefined ? undefined : lineOfKey(text, key), message };
    });
    // In file order, the order an operator fixes them in.
    problems.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
    throw new ConfigError(file, problems);
  }

  const config: WorkerConfig = { ...DEFAULT_CONFIG };
  const unknown: Record<string, unknown> = {};
  const warnings: string[] = [];
  const present: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    const spec = FIELDS_BY_TOML.get(key);
    if (spec) {
      (config as unknown as Record<string, unknown>)[spec.key] = value;
      present.push(key);
    } else {
      unknown[key] = value;
      // The original's own keys are expected in a config it wrote: kept, without a warning.
      if (ORIGINAL_ONLY_KEYS.has(key)) continue;
      const line = lineOfKey(text, key);
      warnings.push(`${file}${line === undefined ? '' : `:${line}`}: unknown key "${key}" (kept as is)`);
    }
  }
  return { config, unknown, warnings, present };
}

/**
 * The 1-based line where a top-level key is set (or a table of that name opens). Plain keys are only
 * looked for before the first table header, where top-level keys must live.
 */
export function lineOfKey(text: string, key: string): number | undefined {
  const lines = text.split(/\r?\n/);
  const k = escapeRegExp(key);
  const assignment = new RegExp(`^\\s*(?:${k}|"${k}"|'${k}')\\s*[=.]`);
  const header = new RegExp(`^\\s*\\[\\[?\\s*(?:${k}|"${k}"|'${k}')\\s*[\\].]`);
  let inTable = false;
  for (const [i, line] of lines.entries()) {
    if (/^\s*\[/.test(line)) inTable = true;
    if ((!inTable && assignment.test(line)) || header.test(line)) return i + 1;
  }
  return undefined;
}

function describe(value: unknown): string {
  if (value instanceof TomlDate) return `date ${value.toISOString()}`;
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'a table';
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`;
  return `${typeof value} ${String(value)}`;
}

function withArticle(noun: string): string {
  return /^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
