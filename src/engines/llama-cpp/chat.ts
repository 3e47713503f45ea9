import { randomUUID } from 'node:crypto';
import type {
  ChatHistoryItem,
  ChatWrapper,
  GbnfJsonSchema,
  LLamaChatGenerateResponseOptions,
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

/** The OpenAI `chat.completion` object a llama-cpp job answers with. */
export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: [{ index: 0; message: { role: 'assistant'; content: string }; finish_reason: 'stop' | 'length' }];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
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
  const history = toHistory(task);
  const jsonSchema = jsonSchemaOf(task);
  const grammar = jsonSchema ? await grammarFor(loaded, jsonSchema) : undefined;
  if (signal.aborted) throw abortError(signal);

  const sequence = loaded.context.getSequence();
  const chat = new mod.LlamaChat({ contextSequence: sequence, chatWrapper });
  let completionTokens = 0;
  try {
    const stops = (typeof task.stop === 'string' ? [task.stop] : (task.stop ?? [])).filter((s) => s !== '');
    const options: LLamaChatGenerateResponseOptions = {
      signal,
      maxTokens: task.maxTokens,
      temperature: task.temperature,
      ...(task.topP === undefined ? {} : { topP: task.topP }),
      ...(stops.length > 0 ? { customStopTriggers: stops } : {}),
      ...(task.reasoning === false ? { budgets: { thoughtTokens: 0 } } : {}),
      ...(grammar ? { grammar } : {}),
      ...(ctx.onText ? { onTextChunk: ctx.onText } : {}),
      onToken: (tokens) => {
        completionTokens += tokens.length;
        ctx.onProgress?.({ fraction: Math.min(1, completionTokens / task.maxTokens), message: 'generating' });
      },
    };
    const response = await chat.generateResponse(history, options);
    const promptTokens = chatWrapper
      .generateContextState({ chatHistory: history })
      .contextText.tokenize(loaded.model.tokenizer).length;
    const finish = response.metadata.stopReason === 'maxTokens' ? 'length' : 'stop';
    return {
      id: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: ctx.claim.model,
      choices: [
        { index: 0, message: { role: 'assistant', content: response.response }, finish_reason: finish },
      ],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
      },
    };
  } catch (e) {
    if (signal.aborted) throw abortError(signal);
    if (e instanceof EngineError) throw e;
    throw generationError(e, loaded.context.contextSize);
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
