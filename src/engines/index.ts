export * from './types.js';
export { abortError, throwIfAborted } from './abort.js';
export { EngineDispatcher, type DispatcherCapabilities } from './dispatcher.js';
export { SyntheticEngine, SYNTHETIC_MODELS } from './synthetic/index.js';
export { createEngines, createLlamaCppEngine, engineMaxRssBytes, watchdogLimits } from './defaults.js';
export { JobWatchdog, WatchdogStop, DEFAULT_WATCHDOG_LIMITS, type WatchdogLimits } from './watchdog.js';
export {
  SupervisedEngine,
  EngineCrashError,
  type EngineCrash,
  type SupervisedEngineOptions,
} from './supervise/index.js';
export { splitReasoning, ThinkSplitter, type StreamDelta } from './llama-cpp/think.js';
export { planBudget } from './llama-cpp/budget.js';
