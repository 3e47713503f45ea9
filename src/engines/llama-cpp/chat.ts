import { randomUUID } from 'node:crypto';
import type {
  ChatHistoryItem,
  ChatWrapper,
  GbnfJsonSchema,
  LLamaChatGenerateResponseOptions,
  LlamaChatResponse,
  LlamaChatResponseChunk,
  LlamaGrammar,
} from 'node-llama-cpp';
import type { LlmTask } from '../../protocol/index.js';
import { unwrapJsonSchema } from '../../results/index.js';
import { toError } from '../../util/index.js';
import { abortError } from '../abort.js';
import { EngineError, jsonSchemaOf, type EngineRunContext } from '../types.js';
import { generationError } from './errors.js';
import type { NodeLlamaCpp } from './runtime.js';
import type { LoadedModel } from './slot.js';
import { planBudget } from './budget.js';
import { splitReasoning } from './think.js';

/**
 * The `chat.completion` a llama-cpp job answers with: the original's shape (its `completion_json`:
 * `reasoning_content` split off, `elapsed_ms`), plus OpenAI's `id` and `created`.
 */
export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: [
    {
      index: 0;
      message: { role: 'assistant'; content: string; reasoning_content?: string };
      finish_reason: 'stop' | 'length';
    },
  ];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  /** From the start of the job's generation: the prompt rendered, read and answered. */
  elapsed_ms: number;
}

/**
 * The conversation as node-llama-cpp's history: `system` first, then the messages, ending in the
 * model turn to generate. A trailing assistant message is continued (a prefill), as llama-server does.
 */
export function toHistory(task: LlmTask): ChatHistoryItem[] {
  if (task.messages.length === 0) throw new EngineError('llm task has no messages to answer', false);
  const history: ChatHistoryItem[] = task.system === undefined ? [] : [{ type: 'system', text: task.system }];
  for (const { role, content } of task.messages) {
    if (role === 'system' || role === 'developer') history.push({ type: 'system', text: content });
    else if (role === 'user') history.push({ type: 'user', text: content });
    else if (role === 'assistant') history.push({ type: 'model', response: [content] });
    else {
      throw new EngineError(
        `llm message role "${role}" is not supported (use system, user or assistant)`,
        false,
      );
    }
  }
  if (history.at(-1)?.type !== 'model') history.push({ type: 'model', response: [] });
  return history;
}

/**
 * The model's own chat template, with the job's template kwargs. Without kwargs node-llama-cpp's
 * `resolveChatWrapper` picks the wrapper equivalent to the model's template (handling thoughts and
 * tool calls natively). Kwargs exist only for the Jinja template, so with kwargs it is rendered
 * directly. Built once per kwargs per loaded model.
 */
export function chatWrapperFor(
  mod: NodeLlamaCpp,
  loaded: LoadedModel,
  kwargs: Record<string, unknown>,
  reasoning: LlmTask['reasoning'],
): ChatWrapper {
  const jinja = {
    ...(Object.keys(kwargs).length > 0 ? { additionalRenderParameters: kwargs } : {}),
    ...(typeof reasoning === 'boolean' ? { reasoning } : {}),
  };
  const key = JSON.stringify(jinja);
  const cached = loaded.wrappers.get(key);
  if (cached) return cached;
  const template = loaded.model.fileInfo.metadata.tokenizer?.chat_template;
  let wrapper: ChatWrapper;
  if (template && jinja.additionalRenderParameters) {
    try {
      wrapper = new mod.JinjaTemplateChatWrapper({ ...jinja, template, tokenizer: loaded.model.tokenizer });
    } catch (e) {
      throw new EngineError(
        `the model's chat template cannot be rendered with chatTemplateKwargs: ${toError(e).message}`,
        false,
        { cause: e },
      );
    }
  } else {
    wrapper = mod.resolveChatWrapper(loaded.model, {
      customWrapperSettings: { jinjaTemplate: jinja },
      warningLogs: false,
    });
  }
  loaded.wrappers.set(key, wrapper);
  return wrapper;
}

export interface GenerateInput {
  mod: NodeLlamaCpp;
  loaded: LoadedModel;
  task: LlmTask;
  chatWrapper: ChatWrapper;
  ctx: EngineRunContext;
}

/** Runs one completion on the loaded model's context and shapes it as a `chat.completion`. */
export async function generate({
  mod,
  loaded,
  task,
  chatWrapper,
  ctx,
}: GenerateInput): Promise<ChatCompletion> {
  const { signal } = ctx;
  const startedAt = performance.now();
  const history = toHistory(task);
  const jsonSchema = jsonSchemaOf(task);
  const grammar = jsonSchema ? await grammarFor(loaded, jsonSchema) : undefined;
  if (signal.aborted) throw abortError(signal);

  // The prompt must leave room to answer; the answer gets at most that room (the original's budget).
  const contextSize = loaded.context.contextSize;
  const promptTokens = chatWrapper
    .generateContextState({ chatHistory: history })
    .contextText.tokenize(loaded.model.tokenizer).length;
  const maxTokens = planBudget(promptTokens, task.maxTokens, contextSize);
  const sequence = loaded.context.getSequence();
  const chat = new mod.LlamaChat({ contextSequence: sequence, chatWrapper });
  let completionTokens = 0;
  try {
    const stops = (typeof task.stop === 'string' ? [task.stop] : (task.stop ?? [])).filter((s) => s !== '');
    const options: LLamaChatGenerateResponseOptions = {
      signal,
      maxTokens,
      temperature: task.temperature,
      ...(task.topP === undefined ? {} : { topP: task.topP }),
      ...(stops.length > 0 ? { customStopTriggers: stops } : {}),
      ...(task.reasoning === false ? { budgets: { thoughtTokens: 0 } } : {}),
      ...(grammar ? { grammar } : {}),
      ...(ctx.onText ? { onResponseChunk: streamWithThoughts(ctx.onText) } : {}),
      onToken: (tokens) => {
        completionTokens += tokens.length;
        ctx.onProgress?.({ fraction: Math.min(1, completionTokens / maxTokens), message: 'generating' });
      },
    };
    const response = await chat.generateResponse(history, options);
    const finish = response.metadata.stopReason === 'maxTokens' ? 'length' : 'stop';
    const { content, reasoning } = splitReasoning(withThoughts(response.fullResponse));
    return {
      id: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: ctx.claim.model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content,
            ...(reasoning !== undefined ? { reasoning_content: reasoning } : {}),
          },
          finish_reason: finish,
        },
      ],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
      },
      elapsed_ms: Math.round(performance.now() - startedAt),
    };
  } catch (e) {
    if (signal.aborted) throw abortError(signal);
    if (e instanceof EngineError) throw e;
    throw generationError(e, contextSize);
  } finally {
    chat.dispose();
    await sequence.dispose();
  }
}

async function grammarFor(loaded: LoadedModel, jsonSchema: Record<string, unknown>): Promise<LlamaGrammar> {
  try {
    // The wire carries arbitrary JSON; node-llama-cpp checks it while building the grammar.
    const schema = unwrapJsonSchema(jsonSchema) as GbnfJsonSchema;
    return await loaded.model.llama.createGrammarForJsonSchema<GbnfJsonSchema>(schema);
  } catch (e) {
    throw new EngineError(`jsonSchema cannot be turned into a grammar: ${toError(e).message}`, false, {
      cause: e,
    });
  }
}

/**
 * The answer as text, the model's thoughts in `<think>` tags: a chat template node-llama-cpp knows
 * hands thoughts over as segments, a template it does not leaves the tags in the text; both end up
 * the same here, for splitReasoning.
 */
function withThoughts(full: LlamaChatResponse['fullResponse']): string {
  return full
    .map((part) => {
      if (typeof part === 'string') return part;
      if (part.segmentType !== 'thought') return '';
      return `<think>${part.text}${part.ended ? '</think>' : ''}`;
    })
    .join('');
}

/** The same for a stream: thought segments are sent on wrapped in their tags, other segments dropped. */
function streamWithThoughts(onText: (chunk: string) => void): (chunk: LlamaChatResponseChunk) => void {
  return (chunk) => {
    if (chunk.type === undefined) {
      if (chunk.text !== '') onText(chunk.text);
      return;
    }
    if (chunk.segmentType !== 'thought') return;
    const text = `${chunk.segmentStartTime ? '<think>' : ''}${chunk.text}${chunk.segmentEndTime ? '</think>' : ''}`;
    if (text !== '') onText(text);
  };
}
