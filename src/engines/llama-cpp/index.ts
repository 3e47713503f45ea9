export { LlamaCppEngine, prebuiltBackends, type LlamaCppEngineOptions } from './engine.js';
export type { LlamaChildOptions } from './child.js';
export { MISSING_MESSAGE as LLAMA_CPP_MISSING_MESSAGE } from './errors.js';
export type { ChatCompletion } from './chat.js';
