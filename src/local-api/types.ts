import type { TaskInput } from '../protocol/index.js';

/** The llm task a chat request becomes (before the contract's schema fills its defaults). */
export type LlmTaskInputShape = Extract<TaskInput, { kind: 'llm' }>;
