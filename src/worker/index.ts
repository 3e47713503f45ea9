export { Worker } from './worker.js';
export type { WorkerOptions } from './options.js';
export type { WorkerStatus } from './status.js';
export { buildCapabilities } from './capabilities.js';
export { adjustConfigAtStart, ORIGINAL_FEED, thresholdWarning } from './switch-over.js';
export { acquireDaemonLock, LockHeldError, LOCK_FILE, PID_FILE, type HeldLock } from './daemon-lock.js';
export { readEngineHealth, ENGINE_HEALTH_FILE, type EngineHealthRecord } from './engine-health.js';
export { startIdleHeapTrim, IDLE_TRIM_DELAY_MS } from './idle-heap-trim.js';
