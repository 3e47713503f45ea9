import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineError, type EngineResult, type ModelProvider } from '../../src/engines/index.js';
import { LlamaCppEngine, type ChatCompletion } from '../../src/engines/llama-cpp/index.js';
import { ModelCache } from '../../src/models/index.js';
import { TaskSchema, type ModelFile, type TaskInput } from '../../src/protocol/index.js';
import { validateJsonSubset, verifyResult } from '../../src/results/index.js';
import { claimFor } from './contract.js';
import { haveStories, ModelHost, readStories, STORIES_PATH, withChatTemplate } from './llama-cpp-fixtures.js';

const log = pino({ enabled: false });
const cpu = { gpu: false, threads: 1 } as const;
const withStories = haveStories
  ? 'with the real stories260K model on the CPU'
  : `with the real stories260K model (skipped: ${STORIES_PATH} is absent)`;

let host: ModelHost;
let root: string;
let cache: ModelCache;
let stories: ModelFile;
let corrupt: ModelFile;
let templated: ModelFile;
const engine = new LlamaCppEngine({ ...cpu, models: ['stories260K'], log });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'llama-cpp-test-'));
  cache = new ModelCache({ root: join(root, 'models'), log });
  host = new ModelHost();
  await host.start();
  corrupt = host.add('corrupt.gguf', randomBytes(64 * 1024));
  if (haveStories) {
    const bytes = await readStories();
    stories = host.add('stories260K.gguf', bytes);
    templated = host.add(
      'stories260K-templated.gguf',
      withChatTemplate(
        bytes,
        '{% if house_style %}<|style|>{{ house_style }}\n{% endif %}' +
          '{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}' +
          '{% if add_generation_prompt %}<|assistant|>{% endif %}',
      ),
    );
  }
  await engine.init();
});

afterAll(async () => {
  await engine.close();
  await cache.close();
  await host.close();
  await rm(root, { recursive: true, force: true });
});

interface RunOptions {
  files?: ModelFile[];
  contextSize?: number;
  signal?: AbortSignal;
  models?: ModelProvider | null;
  onProgress?: () => void;
  on?: LlamaCppEngine;
}

async function run(task: TaskInput, opts: RunOptions = {}): Promise<EngineResult> {
  const claim = claimFor('llama-cpp', 'stories260K', task);
  const modelSource = {
    ...claim.modelSource,
    files: opts.files ?? [stories],
    cliDefaults: { ...claim.modelSource.cliDefaults, contextSize: opts.contextSize ?? 1024 },
  };
  const workDir = await mkdtemp(join(root, 'job-'));
  try {
    return await (opts.on ?? engine).run(claim.task, modelSource, {
      signal: opts.signal ?? new AbortController().signal,
      log,
      workDir,
      claim,
      ...(opts.models === null ? {} : { models: opts.models ?? cache }),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

function completion(result: EngineResult): ChatCompletion {
  if (result.type !== 'json') throw new Error(`expected JSON, got ${result.type}`);
  return result.value as ChatCompletion;
}

const story = (extra: Partial<Extract<TaskInput, { kind: 'llm' }>> = {}): TaskInput => ({
  kind: 'llm',
  system: 'You tell short stories.',
  messages: [{ role: 'user', content: 'Once upon a time' }],
  maxTokens: 24,
  temperature: 0,
  ...extra,
});

describe.skipIf(!haveStories)(`llama-cpp ${withStories}`, () => {
  it('answers with an OpenAI chat.completion that the result check accepts', async () => {
    const task = story();
    const result = completion(await run(task));
    const verdict = await verifyResult('llm', { json: result }, TaskSchema.parse(task));
    expect(verdict, verdict.summary).toMatchObject({ ok: true });
    expect(result).toMatchObject({ object: 'chat.completion', model: 'stories260K' });
    expect(result.id).toMatch(/^chatcmpl-/);
    expect(result.choices[0].message.content.trim()).not.toBe('');
    expect(result.usage.prompt_tokens).toBeGreaterThan(5);
    expect(result.usage.completion_tokens).toBeGreaterThan(0);
    expect(Number.isInteger(result.elapsed_ms) && result.elapsed_ms >= 0).toBe(true);
    // A story has no </think>: no reasoning_content key at all, and the answer trimmed.
    expect(result.choices[0].message).not.toHaveProperty('reasoning_content');
    expect(result.choices[0].message.content).toBe(result.choices[0].message.content.trim());
  });

  it("refuses a prompt that leaves no room to answer, in the original's words, and gives an answer no more than the room left", async () => {
    const prompt = (n: number) => ({
      role: 'user' as const,
      content: 'Once upon a time there was a cat. '.repeat(n),
    });
    const err = await run(story({ messages: [prompt(200)] }), { contextSize: 512 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    const words =
      /^prompt is (\d+) tokens but the context holds (\d+); raise contextSize or shorten the prompt$/.exec(
        (err as Error).message,
      );
    expect(words, (err as Error).message).not.toBeNull();
    expect((err as EngineError).retryable).toBe(false);
    const contextSize = Number(words![2]);
    // Tokens per repetition, from two short prompts; then a prompt that leaves about 6 tokens.
    const tokens = async (n: number) =>
      completion(await run(story({ messages: [prompt(n)], maxTokens: 1 }), { contextSize: 512 })).usage
        .prompt_tokens;
    const [t1, t2] = [await tokens(1), await tokens(2)];
    const n = Math.floor((contextSize - 6 - t1) / (t2 - t1)) + 1;
    const answer = completion(
      await run(story({ messages: [prompt(n)], maxTokens: 5000, temperature: 0.9 }), { contextSize: 512 }),
    );
    const room = contextSize - answer.usage.prompt_tokens;
    expect(room).toBeGreaterThan(0);
    expect(room).toBeLessThan(30);
    expect(answer.usage.completion_tokens).toBeLessThanOrEqual(room);
    if (answer.choices[0].finish_reason === 'length') expect(answer.usage.completion_tokens).toBe(room);
  });

  it('serves the next job for the same model from memory, without loading it again', async () => {
    await run(story());
    const loads = engine.loadCount;
    const again = completion(await run(story({ messages: [{ role: 'user', content: 'A cat sat' }] })));
    expect(engine.loadCount).toBe(loads);
    expect(again.choices[0].message.content).not.toBe('');
  });

  it('skips provisioning for a warm job from the same files (the loaded model holds them), not for other files', async () => {
    const provisioned: string[] = [];
    const counting: ModelProvider = {
      fetchInput: (...args) => cache.fetchInput(...args),
      provision: (files, signal) => {
        provisioned.push(files.map((f) => f.filename).join());
        return cache.provision(files, signal);
      },
    };
    const fresh = new LlamaCppEngine({ ...cpu, log });
    try {
      await run(story(), { on: fresh, models: counting });
      const warm = completion(await run(story(), { on: fresh, models: counting }));
      expect(warm.choices[0].message.content).not.toBe('');
      expect(provisioned).toEqual(['stories260K.gguf']);
      await run(story(), { on: fresh, models: counting, files: [templated] });
      await run(story(), { on: fresh, models: counting });
      expect(provisioned).toEqual(['stories260K.gguf', 'stories260K-templated.gguf', 'stories260K.gguf']);
      expect(fresh.loadCount).toBe(3);
    } finally {
      await fresh.close();
    }
  });

  it('loads again when the context size changes', async () => {
    const loads = engine.loadCount;
    await run(story(), { contextSize: 512 });
    expect(engine.loadCount).toBe(loads + 1);
  });

  it('writes JSON matching the jsonSchema (as a grammar)', async () => {
    const jsonSchema = {
      type: 'object',
      properties: { name: { type: 'string' }, age: { type: 'integer' }, happy: { type: 'boolean' } },
      required: ['name', 'age', 'happy'],
    };
    const task = story({ jsonSchema, maxTokens: 200 });
    const result = completion(await run(task));
    expect(result.choices[0].finish_reason).toBe('stop');
    const value: unknown = JSON.parse(result.choices[0].message.content);
    expect(validateJsonSubset(jsonSchema, value)).toEqual([]);
    const verdict = await verifyResult('llm', { json: result }, TaskSchema.parse(task));
    expect(verdict, verdict.summary).toMatchObject({ ok: true });
  });

  it('stops before the first stop string, with finish_reason "stop"', async () => {
    const free = completion(await run(story({ maxTokens: 40 }))).choices[0].message.content;
    const word = free.split(/\s+/).filter((w) => w.length > 2)[2];
    expect(word, `no third word in ${JSON.stringify(free)}`).toBeDefined();
    const stopped = completion(await run(story({ maxTokens: 40, stop: [String(word)] })));
    expect(stopped.choices[0].message.content).toBe(free.slice(0, free.indexOf(String(word))).trim());
    expect(stopped.choices[0].finish_reason).toBe('stop');
  });

  it('ends with finish_reason "length" after maxTokens tokens', async () => {
    const result = completion(await run(story({ maxTokens: 7 })));
    expect(result.choices[0].finish_reason).toBe('length');
    expect(result.usage.completion_tokens).toBe(7);
    expect(result.usage.total_tokens).toBe(result.usage.prompt_tokens + 7);
  });

  it('rejects with an AbortError when cancelled mid-generation', async () => {
    const controller = new AbortController();
    const running = run(story({ maxTokens: 5000, temperature: 0.8 }), {
      signal: controller.signal,
      onProgress: () => controller.abort(),
    });
    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
  });

  it("renders the model's own chat template with the job's chatTemplateKwargs", async () => {
    const styled = (house_style: string) =>
      run(story({ chatTemplateKwargs: { house_style } }), { files: [templated] }).then(completion);
    const terse = await styled('short');
    const wordy = await styled('gentle and very short, for small children who are about to sleep');
    expect(wordy.usage.prompt_tokens).toBeGreaterThan(terse.usage.prompt_tokens + 10);
    const verdict = await verifyResult('llm', { json: wordy });
    expect(verdict, verdict.summary).toMatchObject({ ok: true });
  });

  it('refuses a message role it does not know as the job’s fault', async () => {
    const error = await run(story({ messages: [{ role: 'wizard', content: 'hi' }] })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ retryable: false });
    expect((error as Error).message).toContain('wizard');
  });

  it('unloads an idle model and lets the cache have its file back', async () => {
    let releases = 0;
    let unloaded: () => void = () => undefined;
    const released = new Promise<void>((ok) => (unloaded = ok));
    const counting: ModelProvider = {
      fetchInput: (...args) => cache.fetchInput(...args),
      provision: async (files, signal) => {
        const held = await cache.provision(files, signal);
        return {
          ...held,
          release: () => {
            held.release();
            if (++releases === 1) unloaded();
          },
        };
      },
    };
    const idle = new LlamaCppEngine({ ...cpu, idleUnloadMs: 20, log });
    try {
      await run(story(), { on: idle, models: counting });
      expect(releases).toBe(0); // the loaded model still holds its file
      await released;
      await run(story(), { on: idle, models: counting });
      expect(idle.loadCount).toBe(2);
    } finally {
      await idle.close();
    }
  });
});

describe('llama-cpp failures', () => {
  it('classifies a corrupt GGUF as a non-retryable EngineError', async () => {
    const error = await run(story(), { files: [corrupt] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ retryable: false });
    expect((error as Error).message).toContain('corrupt.gguf');
  });

  it('fails an offer without a "model" file as a non-retryable EngineError', async () => {
    const error = await run(story(), { files: [{ ...corrupt, role: 'vae' }] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'EngineError', retryable: false });
    expect((error as Error).message).toContain('role "model"');
  });

  it('fails without model provisioning as a non-retryable EngineError', async () => {
    const error = await run(story(), { models: null }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'EngineError', retryable: false });
  });

  it('rejects with an AbortError when the job is already cancelled', async () => {
    await expect(run(story(), { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('llama-cpp without node-llama-cpp installed', () => {
  const missing = new LlamaCppEngine({
    log,
    loadLlama: () => Promise.reject(new Error("Cannot find package 'node-llama-cpp'")),
  });

  it('advertises nothing and refuses llm offers with what to install', async () => {
    await missing.init();
    expect(missing.capabilities().taskKinds).toEqual([]);
    const reason = missing.refuse(claimFor('llama-cpp', 'stories260K', story()));
    expect(reason).toMatch(/node-llama-cpp is not installed/);
    expect(reason).toMatch(/--include=optional/);
  });

  it('fails a job that reaches it anyway as a non-retryable EngineError with the same reason', async () => {
    const error = await run(story(), { on: missing }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ retryable: false });
    expect((error as Error).message).toContain('npm i -g');
  });
});
