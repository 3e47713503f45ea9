import { z } from 'zod';
import type { Task } from '../protocol/index.js';
import { unwrapJsonSchema, validateJsonSubset } from './json-subset.js';
import { failed, type VerifyOutcome } from './types.js';

const count = z.number().int().nonnegative();

/** The parts of OpenAI's `chat.completion` object a consumer relies on. */
export const ChatCompletionSchema = z
  .object({
    id: z.string().min(1),
    object: z.literal('chat.completion'),
    created: z.number().int(),
    model: z.string(),
    choices: z
      .array(
        z.object({
          index: z.number().int(),
          message: z.object({ role: z.literal('assistant'), content: z.string() }),
          finish_reason: z.string().nullable(),
        }),
      )
      .min(1),
    usage: z.object({ prompt_tokens: count, completion_tokens: count, total_tokens: count }),
  })
  .refine((c) => c.usage.total_tokens === c.usage.prompt_tokens + c.usage.completion_tokens, {
    message: 'usage.total_tokens must be prompt_tokens + completion_tokens',
    path: ['usage', 'total_tokens'],
  });

const seconds = z.number().nonnegative();

/** whisper's verbose JSON: text plus timed segments (and words when asked for). */
export const WhisperTranscriptSchema = z.object({
  text: z.string(),
  language: z.string().optional(),
  duration: seconds.optional(),
  segments: z.array(
    z
      .object({
        id: z.number().int().optional(),
        start: seconds,
        end: seconds,
        text: z.string(),
        words: z
          .array(z.object({ word: z.string(), start: seconds, end: seconds }).refine((w) => w.start <= w.end))
          .optional(),
      })
      .refine((s) => s.start <= s.end, { message: 'segment start must not be after its end' }),
  ),
});

export function verifyLlm(json: unknown, task?: Task): VerifyOutcome {
  const parsed = ChatCompletionSchema.safeParse(json);
  if (!parsed.success) return failed(`not a chat.completion: ${z.prettifyError(parsed.error)}`);
  const completion = parsed.data;
  const choice = completion.choices[0];
  if (!choice) return failed('chat.completion has no choices');
  const content = choice.message.content;
  const schema = task?.kind === 'llm' ? task.jsonSchema : undefined;
  if (isSchemaObject(schema) && choice.finish_reason === 'stop') {
    let value: unknown;
    try {
      value = JSON.parse(content);
    } catch {
      return failed(`content is not JSON although the task gave a jsonSchema: ${content.slice(0, 80)}`);
    }
    const problems = validateJsonSubset(unwrapJsonSchema(schema), value);
    if (problems.length > 0) return failed(`content does not match the jsonSchema: ${problems.join('; ')}`);
  }
  const tokens = completion.usage.completion_tokens;
  const head = content.length > 40 ? `${content.slice(0, 40)}…` : content;
  return {
    ok: true,
    summary: `"${head}", ${tokens} token${tokens === 1 ? '' : 's'}`,
    details: {
      id: completion.id,
      model: completion.model,
      finishReason: choice.finish_reason,
      contentChars: content.length,
      usage: completion.usage,
    },
  };
}

export function verifyStt(json: unknown): VerifyOutcome {
  const parsed = WhisperTranscriptSchema.safeParse(json);
  if (!parsed.success) return failed(`not a whisper transcript: ${z.prettifyError(parsed.error)}`);
  const { segments, text, duration, language } = parsed.data;
  for (let i = 1; i < segments.length; i++) {
    const prev = segments[i - 1];
    const seg = segments[i];
    if (prev && seg && seg.start < prev.start) return failed(`segment ${i} starts before segment ${i - 1}`);
  }
  const seconds = duration ?? segments.at(-1)?.end ?? 0;
  return {
    ok: true,
    summary: `${segments.length} segment${segments.length === 1 ? '' : 's'}, ${seconds.toFixed(1)} s`,
    details: { segments: segments.length, durationSec: seconds, language, textChars: text.length },
  };
}

function isSchemaObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
