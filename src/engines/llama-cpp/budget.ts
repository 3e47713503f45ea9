import { EngineError } from '../types.js';

/**
 * How many tokens an answer may have, as the original plans it: what the job asks for (at least
 * one), at most the room the prompt leaves in the context. A prompt that leaves no room is refused
 * (never cut: a cut conversation answers another question).
 */
export function planBudget(promptTokens: number, maxTokens: number, contextSize: number): number {
  const room = contextSize - promptTokens;
  if (room <= 0) {
    throw new EngineError(
      `prompt is ${promptTokens} tokens but the context holds ${contextSize}; raise contextSize or shorten the prompt`,
      false,
    );
  }
  return Math.min(Math.max(maxTokens, 1), room);
}
