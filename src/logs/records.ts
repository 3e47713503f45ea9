import pino from 'pino';
import type { LogEntry } from '../protocol/index.js';

export const DEFAULT_CATEGORY = 'worker';

/** pino's level names: what the worker logs locally (terminal, dashboard, Sentry breadcrumbs). */
export const LOCAL_LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LocalLogLevel = (typeof LOCAL_LOG_LEVELS)[number];

/** A log record as the worker keeps it locally: the wire entry's shape, with every pino level. */
export interface LocalLogEntry extends Omit<LogEntry, 'level'> {
  level: LocalLogLevel;
}

function isLocalLevel(value: unknown): value is LocalLogLevel {
  return typeof value === 'string' && (LOCAL_LOG_LEVELS as readonly string[]).includes(value);
}

/**
 * The entry as the studio gets it in a `logBatch`, with the original's levels: `info`, `warn`,
 * `error` (`fatal` ships as `error`); debug and trace records are never shipped (undefined).
 */
export function toWireEntry(entry: LocalLogEntry): LogEntry | undefined {
  if (entry.level === 'trace' || entry.level === 'debug') return undefined;
  return { ...entry, level: entry.level === 'fatal' ? 'error' : entry.level };
}

/** One pino JSON record → a local entry (`{ts, level, category, message, jobId?}`). */
export function toLogEntry(raw: Record<string, unknown>): LocalLogEntry {
  const label = typeof raw.level === 'number' ? pino.levels.labels[raw.level] : raw.level;
  const time = typeof raw.time === 'number' || typeof raw.time === 'string' ? new Date(raw.time) : new Date();
  const entry: LocalLogEntry = {
    ts: Number.isNaN(time.getTime()) ? new Date().toISOString() : time.toISOString(),
    level: isLocalLevel(label) ? label : 'info',
    category: typeof raw.category === 'string' ? raw.category : DEFAULT_CATEGORY,
    message: messageOf(raw),
  };
  if (typeof raw.jobId === 'string') entry.jobId = raw.jobId;
  return entry;
}

/** `log.error({ err }, 'upload failed')` ships as "upload failed: <the error's message>". */
function messageOf(raw: Record<string, unknown>): string {
  const msg = typeof raw.msg === 'string' ? raw.msg : '';
  const err = raw.err as { message?: unknown } | undefined;
  const errMessage = typeof err?.message === 'string' ? err.message : '';
  if (!errMessage || msg === errMessage) return msg;
  return msg ? `${msg}: ${errMessage}` : errMessage;
}
