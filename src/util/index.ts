export * from './errors.js';
export * from './timers.js';
export { linkSignals } from './abort-link.js';
export { loadSharp, useImageCodecProcess } from './sharp.js';
export { freeLoopbackPort, insecureProblem, isLoopbackHost, listenOn } from './net.js';
export { ffmpegPath } from './ffmpeg.js';
export { CoalescedFileWriter, pidAlive } from './files.js';
export {
  acquireFileLock,
  holdOsLock,
  readLockRecord,
  FileLockHeldError,
  FileLockTimeoutError,
} from './file-lock.js';
export type { FileLockOptions, HeldLock, LockRecord, OsLockHolder } from './file-lock.js';
export { currentProgressListener, reportProgress, withProgressListener } from './progress-scope.js';
export type { ProgressListener } from './progress-scope.js';
export { builtModulePath } from './built-path.js';
export { childTrees, type ChildTree } from './rss.js';
export { undici } from './undici.js';
export { fullGc } from './full-gc.js';
export { HttpAgents, HttpTimeoutError, httpRequest } from './http-request.js';
export type { HttpAnswer, HttpRequestOptions } from './http-request.js';
