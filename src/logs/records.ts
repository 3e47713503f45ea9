import pino from 'pino';
import { LogLevelSchema, type LogEntry } from '../protocol/index.js';

export const DEFAULT_CATEGORY = 'worker';

/** One pino JSON record → the entry shipped to the studio (contract: `{ts, level, category, message, jobId?}`). */
export function toLogEntry(raw: Record<string, unknown>): LogEntry {
  const label = typeof raw.level === 'number' ? pino.levels.labels[raw.level] : raw.level;
  const level = LogLevelSchema.safeParse(label);
  const time = typeof raw.time === 'number' || typeof raw.time === 'string' ? new Date(raw.time) : new Date();
  const entry: LogEntry = {
    ts: Number.isNaN(time.getTime()) ? new Date().toISOString() : time.toISOString(),
    level: level.success ? level.data : 'info',
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
