import pino, { type DestinationStream, type Logger } from 'pino';
import { createRequire } from 'node:module';
import type * as PinoPretty from 'pino-pretty';
import type { LocalLogEntry as LogEntry } from './records.js';
import { toError, UserError } from '../util/index.js';
import { toLogEntry } from './records.js';
import { REDACTED, SecretScrubber } from './scrub.js';
import { RotatingFile, type RotatingFileOptions } from './rotating-file.js';
import type { LogShipper } from './shipper.js';

export type RecordListener = (entry: LogEntry, raw: Record<string, unknown>) => void;

export interface CreateLoggerOptions {
  /** Default: `$LOG_LEVEL`, else 'info'. */
  level?: string;
  /** Human-readable lines instead of JSON; default: stdout is a TTY. */
  pretty?: boolean;
  /** A stream, or a file descriptor (default 1, stdout) written synchronously. */
  destination?: NodeJS.WritableStream | number;
  shipper?: LogShipper;
  listeners?: RecordListener[];
}

export type WorkerLogger = Logger & {
  /** Redacts this value (if at least 8 characters) from every line from now on, wherever it appears. */
  addSecret(value: string): void;
  /** Calls `listener` with every record at or above the level; returns an unsubscribe function. */
  onRecord(listener: RecordListener): () => void;
  /**
   * From now on prints JSON lines to `file` (which it rotates, see RotatingFile) instead of the
   * destination: `run --log-file`. Returns the file, for closing.
   */
  logToFile(file: string, opts?: RotatingFileOptions): RotatingFile;
};

const SECRET_FIELDS = [
  'authToken',
  'auth_token',
  'registrationSecret',
  'registration_secret',
  'secret',
  'token',
  'authorization',
  'headers.authorization',
];
export const REDACT_PATHS = [...SECRET_FIELDS, ...SECRET_FIELDS.map((p) => `*.${p}`)];

/**
 * The worker's pino logger. Every line is scrubbed of known secrets before it reaches either stream
 * of the multistream: the printed one (JSON lines, or pino-pretty formatting in-process, never a
 * worker-thread transport) and the in-process one that feeds the shipper and record listeners.
 */
export function createLogger(opts: CreateLoggerOptions = {}): WorkerLogger {
  const level = checkLevel(opts.level ?? process.env.LOG_LEVEL ?? 'info');
  const scrubber = new SecretScrubber();
  const listeners = new Set<RecordListener>(opts.listeners ?? []);
  const destination = opts.destination ?? 1;
  let sink: DestinationStream =
    typeof destination === 'number' ? pino.destination({ dest: destination, sync: true }) : destination;
  let format = (opts.pretty ?? process.stdout.isTTY === true) ? prettyFormatter(destination) : undefined;

  const printed: DestinationStream = {
    write(line: string) {
      const clean = scrubber.scrub(line);
      sink.write(format ? format(clean) : clean);
    },
  };
  const recorded: DestinationStream = {
    write(line: string) {
      if (!opts.shipper && listeners.size === 0) return;
      const raw = JSON.parse(scrubber.scrub(line)) as Record<string, unknown>;
      const entry = toLogEntry(raw);
      opts.shipper?.push(entry);
      for (const listener of listeners) {
        try {
          listener(entry, raw);
        } catch (e) {
          // Logging from here would recurse into this listener; a process warning reaches stderr.
          process.emitWarning(toError(e));
        }
      }
    },
  };

  // Per-stream levels are 'trace': the logger's own level is the one filter, and it can change at runtime.
  const streams = pino.multistream([
    { level: 'trace', stream: printed },
    { level: 'trace', stream: recorded },
  ]);
  const logger = pino({ level, redact: { paths: REDACT_PATHS, censor: REDACTED } }, streams);
  return Object.assign(logger, {
    addSecret(value: string): void {
      scrubber.add(value);
    },
    logToFile(file: string, fileOpts?: RotatingFileOptions): RotatingFile {
      const rotating = new RotatingFile(file, fileOpts);
      sink = rotating;
      format = undefined;
      return rotating;
    },
    onRecord(listener: RecordListener): () => void {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
  });
}

function checkLevel(level: string): string {
  if (level === 'silent' || level in pino.levels.values) return level;
  const known = [...Object.keys(pino.levels.values), 'silent'].join(', ');
  throw new UserError(`Unknown log level "${level}" (expected one of: ${known})`);
}

function prettyFormatter(destination: NodeJS.WritableStream | number): (line: string) => string {
  const isTTY =
    typeof destination === 'number'
      ? destination === 1 && process.stdout.isTTY === true
      : (destination as { isTTY?: boolean }).isTTY === true;
  // Loaded only for terminals: a service writing JSON lines never pays for the formatter.
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  return pretty.prettyFactory({
    colorize: isTTY,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,category',
    messageFormat: '{if category}[{category}] {end}{msg}',
  });
}
