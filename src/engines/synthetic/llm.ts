import type { LlmTask } from '../../protocol/index.js';
import { unwrapJsonSchema } from '../../results/index.js';
import { throwIfAborted } from '../abort.js';
import { EngineError, jsonSchemaOf, type EngineResult, type EngineRunContext } from '../types.js';
import { generateFromSchema } from './json-gen.js';
import { HashRng } from './rng.js';
import { countWords, sentences } from './words.js';

/**
 * An OpenAI `chat.completion` whose content is drawn from the hash of the conversation: prose, or
 * JSON conforming to `jsonSchema`. `maxTokens` truncates (finish_reason "length") and `stop`
 * strings cut, as a real server would.
 */
export function runLlm(task: LlmTask, ctx: EngineRunContext): Promise<EngineResult> {
  throwIfAborted(ctx.signal);
  if (task.messages.length === 0) throw new EngineError('llm task has no messages to answer', false);
  const conversation = task.messages.flatMap((m) => [m.role, m.content]);
  const jsonSchema = jsonSchemaOf(task);
  const schemaText = jsonSchema ? JSON.stringify(jsonSchema) : undefined;
  const rng = new HashRng('llm', task.system, schemaText, ...conversation);
  const full = jsonSchema
    ? JSON.stringify(generateFromSchema(unwrapJsonSchema(jsonSchema), rng))
    : sentences(rng, rng.int(12, 48)).join(' ');

  let content = full;
  let finishReason: 'stop' | 'length' = 'stop';
  const words = full.split(' ');
  if (words.length > task.maxTokens) {
    content = words.slice(0, task.maxTokens).join(' ');
    finishReason = 'length';
  }
  const stops = typeof task.stop === 'string' ? [task.stop] : (task.stop ?? []);
  const cut = Math.min(
    ...stops
      .filter((s) => s !== '')
      .map((s) => content.indexOf(s))
      .filter((i) => i >= 0),
  );
  if (Number.isFinite(cut)) {
    content = content.slice(0, cut);
    finishReason = 'stop';
  }

  const promptTokens =
    countWords(task.system ?? '') + task.messages.reduce((n, m) => n + countWords(m.content), 0);
  const completionTokens = countWords(content);
  return Promise.resolve({
    type: 'json',
    value: {
      id: `chatcmpl-${rng.hex(16)}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: ctx.claim.model,
      choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: finishReason }],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
      },
    },
  });
}
