/**
 * Logging: a pino logger (pretty on a TTY, JSON lines otherwise) that redacts secrets, and the
 * LogShipper buffer the session drains into `logBatch` frames.
 */
export {
  createLogger,
  REDACT_PATHS,
  type CreateLoggerOptions,
  type RecordListener,
  type WorkerLogger,
} from './logger.js';
export { LogShipper, type LogShipperOptions } from './shipper.js';
export { RotatingFile, LOG_FILE_KEEP, LOG_FILE_MAX_BYTES } from './rotating-file.js';
export type { RotatingFileOptions } from './rotating-file.js';
export { toLogEntry, toWireEntry, DEFAULT_CATEGORY, LOCAL_LOG_LEVELS } from './records.js';
export type { LocalLogEntry, LocalLogLevel } from './records.js';
export { MIN_SECRET_LENGTH, REDACTED } from './scrub.js';
