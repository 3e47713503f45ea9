import type { Breadcrumb, ErrorEvent, SeverityLevel } from '@sentry/node';
import type { LocalLogEntry as LogEntry } from '../logs/index.js';
import { toError } from '../util/index.js';
import { TelemetryScrubber } from './scrub.js';

export interface TelemetryLog {
  info: (msg: string) => void;
  warn: (msg: string) => void;
  /** The logger's live records (WorkerLogger.onRecord): breadcrumbs, and events for errors. */
  onRecord: (listener: (entry: LogEntry, raw: Record<string, unknown>) => void) => () => void;
}

export interface TelemetryOptions {
  /** Default `$SENTRY_DSN`; unset or empty = no telemetry, and @sentry/node is never loaded. */
  dsn?: string | undefined;
  version: string;
  log: TelemetryLog;
  /** Values to scrub from every event (the auth token, the registration secret). */
  secrets?: (string | undefined)[];
  /** Default `$SENTRY_ENVIRONMENT`, else 'production'. */
  environment?: string;
  /** Report every error-level log record as an event (default true). */
  captureLoggedErrors?: boolean;
  /** Capture uncaught exceptions and unhandled rejections, flush, then exit (default true). */
  captureCrashes?: boolean;
}

export interface Telemetry {
  readonly release: string;
  captureException(error: unknown): void;
  /** Scrubs `value` from every later event and breadcrumb (e.g. a token received at registration). */
  addSecret(value: string | undefined): void;
  flush(timeoutMs?: number): Promise<boolean>;
  /** Stops listening to the logger, sends what is queued and shuts Sentry down. Idempotent. */
  close(timeoutMs?: number): Promise<void>;
}

const LEVELS: Record<LogEntry['level'], SeverityLevel> = {
  trace: 'debug',
  debug: 'debug',
  info: 'info',
  warn: 'warning',
  error: 'error',
  fatal: 'fatal',
};

/**
 * Sentry error and crash reporting, on only when a DSN is set. @sentry/node is imported only then:
 * it costs ~0.7 s and ~80 MB (ecosystem.md), which a worker without telemetry must not pay. Default
 * integrations are off (no console, HTTP or OpenTelemetry instrumentation): breadcrumbs come from our
 * own logger, and every event and breadcrumb is scrubbed of secrets and prompt text before it is sent.
 */
export async function initTelemetry(opts: TelemetryOptions): Promise<Telemetry | undefined> {
  const dsn = (opts.dsn ?? process.env.SENTRY_DSN)?.trim();
  if (!dsn) return undefined;
  const Sentry = await import('@sentry/node');
  const scrubber = new TelemetryScrubber();
  for (const s of opts.secrets ?? []) scrubber.add(s);
  const release = `studio-worker@${opts.version}`;
  const crashes = opts.captureCrashes ?? true;

  const client = Sentry.init({
    dsn,
    release,
    environment: opts.environment ?? process.env.SENTRY_ENVIRONMENT ?? 'production',
    defaultIntegrations: false,
    integrations: [
      Sentry.eventFiltersIntegration(),
      Sentry.functionToStringIntegration(),
      Sentry.linkedErrorsIntegration(),
      Sentry.dedupeIntegration(),
      Sentry.nodeContextIntegration(),
      ...(crashes
        ? [
            Sentry.onUncaughtExceptionIntegration(),
            Sentry.onUnhandledRejectionIntegration({ mode: 'strict' }),
          ]
        : []),
    ],
    beforeSend: (event: ErrorEvent): ErrorEvent => {
      const clean = scrubber.value(event);
      if (clean.request) {
        delete clean.request.headers;
        delete clean.request.cookies;
        delete clean.request.data;
      }
      return clean;
    },
    beforeBreadcrumb: (crumb: Breadcrumb): Breadcrumb => scrubber.value(crumb),
  });
  if (!client) return undefined;

  const captureLogged = opts.captureLoggedErrors ?? true;
  const unsubscribe = opts.log.onRecord((entry, raw) => {
    Sentry.addBreadcrumb({
      type: 'default',
      category: entry.category,
      message: entry.message,
      level: LEVELS[entry.level],
      timestamp: Date.parse(entry.ts) / 1000,
      ...(entry.jobId ? { data: { jobId: entry.jobId } } : {}),
    });
    if (captureLogged && (entry.level === 'error' || entry.level === 'fatal')) {
      Sentry.captureException(errorOf(entry, raw), { tags: { category: entry.category } });
    }
  });
  opts.log.info(`telemetry on: errors and crashes go to Sentry as ${release}`);

  let closed: Promise<void> | undefined;
  return {
    release,
    captureException: (error: unknown) => {
      Sentry.captureException(toError(error));
    },
    addSecret: (value) => {
      scrubber.add(value);
    },
    flush: (timeoutMs = 2000) => Sentry.flush(timeoutMs),
    close: (timeoutMs = 2000) => {
      closed ??= (async () => {
        unsubscribe();
        await Sentry.close(timeoutMs);
      })();
      return closed;
    },
  };
}

/** A logged `err` keeps its type and stack; a plain error line becomes an Error of its message. */
function errorOf(entry: LogEntry, raw: Record<string, unknown>): Error {
  const err = raw.err as { type?: unknown; message?: unknown; stack?: unknown } | undefined;
  const error = new Error(typeof err?.message === 'string' ? err.message : entry.message);
  if (typeof err?.type === 'string') error.name = err.type;
  error.stack = typeof err?.stack === 'string' ? err.stack : `${error.name}: ${entry.message}`;
  return error;
}
