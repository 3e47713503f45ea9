export * from './errors.js';
export * from './timers.js';
export { loadSharp } from './sharp.js';
export { freeLoopbackPort, insecureProblem, isLoopbackHost } from './net.js';
export { ffmpegPath } from './ffmpeg.js';
export { CoalescedFileWriter, pidAlive } from './files.js';
export { acquireFileLock, readLockRecord, FileLockHeldError } from './file-lock.js';
export type { FileLockOptions, HeldLock, LockRecord } from './file-lock.js';
