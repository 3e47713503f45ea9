export { LlamaCppEngine, type LlamaCppEngineOptions } from './engine.js';
export { MISSING_MESSAGE as LLAMA_CPP_MISSING_MESSAGE } from './errors.js';
export type { ChatCompletion } from './chat.js';
