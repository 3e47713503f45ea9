/** studio-worker as a library: the worker, its parts, and the dev studio to run it against. */
export { Worker } from './worker/index.js';
export type { WorkerOptions, WorkerStatus } from './worker/index.js';
export { WorkerEventBus } from './events/index.js';
export type { WorkerEvents, WorkerLifecycleState } from './events/index.js';
export { ConfigStore, resolveConfigDir } from './config/index.js';
export { createLogger, LogShipper } from './logs/index.js';
export { EngineDispatcher, EngineError, SyntheticEngine } from './engines/index.js';
export type { Engine, EngineResult, EngineRunContext } from './engines/index.js';
export { startDevStudio } from './dev-studio/index.js';
export { runDemo } from './demo/index.js';
export { VERSION } from './version.js';
