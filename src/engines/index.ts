export * from './types.js';
export { abortError, throwIfAborted } from './abort.js';
export { EngineDispatcher, type DispatcherCapabilities } from './dispatcher.js';
export { SyntheticEngine, SYNTHETIC_MODELS } from './synthetic/index.js';
export { createEngines } from './defaults.js';
