import type { LlmTaskInputShape } from './types.js';
import { ApiError } from './errors.js';

type Body = Record<string, unknown>;

/**
 * An OpenAI `POST /v1/chat/completions` body as the contract's llm task: `messages` (content as a
 * string, or OpenAI's list of text parts), `max_tokens` (or `max_completion_tokens`, default 512),
 * `temperature` (0.7), `top_p`, `stop`, `chat_template_kwargs`, and `response_format` with a JSON
 * schema as the task's `jsonSchema`.
 */
export function chatTask(body: Body): LlmTaskInputShape {
  const messages = body['messages'];
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new ApiError(400, 'bad_request', 'bad input: "messages" must be a non-empty list');
  }
  const converted = messages.map((m: unknown, i) => {
    const msg = m as { role?: unknown; content?: unknown };
    if (typeof msg?.role !== 'string')
      throw new ApiError(400, 'bad_request', `bad input: messages[${i}].role must be a string`);
    return { role: msg.role, content: textOf(msg.content, i) };
  });
  const numberOr = (key: string, fallback?: number): number | undefined => {
    const v = body[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new ApiError(400, 'bad_request', `bad input: "${key}" must be a number`);
    return v;
  };
  const stop = body['stop'];
  if (
    stop !== undefined &&
    stop !== null &&
    typeof stop !== 'string' &&
    !(Array.isArray(stop) && stop.every((s) => typeof s === 'string'))
  ) {
    throw new ApiError(400, 'bad_request', 'bad input: "stop" must be a string or a list of strings');
  }
  const format = body['response_format'] as
    { type?: unknown; json_schema?: { schema?: unknown } } | undefined;
  const jsonSchema = format?.type === 'json_schema' ? format.json_schema?.schema : undefined;
  const kwargs = body['chat_template_kwargs'];
  const maxTokens = numberOr('max_completion_tokens') ?? numberOr('max_tokens', 512);
  const topP = numberOr('top_p');
  return {
    kind: 'llm',
    messages: converted,
    maxTokens: maxTokens ?? 512,
    temperature: numberOr('temperature', 0.7) ?? 0.7,
    ...(topP !== undefined ? { topP } : {}),
    ...(typeof stop === 'string' || Array.isArray(stop) ? { stop: stop } : {}),
    ...(jsonSchema !== undefined ? { jsonSchema } : {}),
    ...(typeof kwargs === 'object' && kwargs !== null && !Array.isArray(kwargs)
      ? { chatTemplateKwargs: kwargs as Record<string, unknown> }
      : {}),
  };
}

function textOf(content: unknown, i: number): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part: unknown) => {
        const p = part as { type?: unknown; text?: unknown };
        if (p?.type === 'text' && typeof p.text === 'string') return p.text;
        throw new ApiError(
          400,
          'bad_request',
          `bad input: messages[${i}] has a ${String(p?.type)} part; only text is served`,
        );
      })
      .join('');
  }
  throw new ApiError(
    400,
    'bad_request',
    `bad input: messages[${i}].content must be a string or a list of text parts`,
  );
}

/** One `chat.completion.chunk` of a stream. */
export function completionChunk(
  id: string,
  created: number,
  model: string,
  delta: { role?: string; content?: string; reasoning_content?: string },
  finishReason: string | null,
): Body {
  return {
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  };
}

/** OpenAI's error body, so its clients report the message. */
export function openAiError(e: ApiError): Body {
  return {
    error: {
      message: e.message,
      type: e.status >= 500 ? 'server_error' : 'invalid_request_error',
      code: e.code,
    },
  };
}
