import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { DEFAULT_CONFIG } from '../src/config/index.js';
import { createLlamaCppEngine, EngineDispatcher, watchdogLimits } from '../src/engines/index.js';
import { ModelCache } from '../src/models/index.js';
import { ClaimSchema, type Claim } from '../src/protocol/index.js';
import { ModelHost } from '../src/demo/index.js';
import { progress } from './progress.js';
import { median } from './stats.js';

/** The repository root: this file runs from dist-bench/bench/. */
const repoRoot = resolve(import.meta.dirname, '..', '..');
/** The real tiny model shared beside the clone (see ../shared/models/README.md). */
export const STORIES_PATH = resolve(repoRoot, '..', 'shared', 'models', 'stories260K.gguf');
export const LLM_SYSTEM = 'You write short stories for children.';
export const LLM_PROMPT = 'Once upon a time, there was a little girl who';
export const LLM = { contextSize: 512, threads: 1, maxTokens: 64, temperature: 0 } as const;

export interface LlmFigures {
  directMs: number;
  workerMs: number;
  overheadPct: number;
  runs: number;
  directSamplesMs: number[];
  workerSamplesMs: number[];
  /** The two completions, which must be the same text for the comparison to mean anything. */
  directText: string;
  workerText: string;
}

const log = pino({ level: 'silent' });

/** One prompt on node-llama-cpp directly, the model loaded once: a fresh session per prompt. */
async function directBackend() {
  const { getLlama, LlamaChatSession, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: STORIES_PATH });
  const context = await model.createContext({ contextSize: LLM.contextSize, threads: LLM.threads });
  return {
    prompt: async (): Promise<string> => {
      const sequence = context.getSequence();
      const session = new LlamaChatSession({ contextSequence: sequence, systemPrompt: LLM_SYSTEM });
      try {
        return await session.prompt(LLM_PROMPT, { maxTokens: LLM.maxTokens, temperature: LLM.temperature });
      } finally {
        session.dispose();
        await sequence.dispose();
      }
    },
    close: async (): Promise<void> => {
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}

/** The same prompt as an llm job: EngineDispatcher → llama-cpp's engine process → a real ModelCache. */
async function workerBackend() {
  const root = await mkdtemp(join(tmpdir(), 'sw-bench-llm-'));
  const host = new ModelHost();
  await host.start();
  const bytes = await readFile(STORIES_PATH);
  const file = {
    role: 'model' as const,
    url: host.add('stories260K.gguf', STORIES_PATH),
    filename: 'stories260K.gguf',
    approxBytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
  const cache = new ModelCache({ root: join(root, 'models'), log });
  // As the worker runs it: llama.cpp in its engine process, the job under the watchdog.
  const config = { ...DEFAULT_CONFIG, gpuOffload: false, llmThreads: LLM.threads };
  const dispatcher = new EngineDispatcher([createLlamaCppEngine(config, log, {})], {
    limits: watchdogLimits(config),
  });
  await dispatcher.init();
  let n = 0;
  const claim = (): Claim =>
    ClaimSchema.parse({
      jobId: `llm-${n++}`,
      gameId: 'bench',
      assetName: 'story',
      model: 'stories260K',
      vramGbEstimate: 0,
      task: {
        kind: 'llm',
        system: LLM_SYSTEM,
        messages: [{ role: 'user', content: LLM_PROMPT }],
        maxTokens: LLM.maxTokens,
        temperature: LLM.temperature,
      },
      modelSource: {
        engine: 'llama-cpp',
        files: [file],
        cliDefaults: { cfgScale: 1, steps: 1, width: 64, height: 64, contextSize: LLM.contextSize },
      },
    });
  const workDir = join(root, 'work');
  return {
    prompt: async (): Promise<string> => {
      const c = claim();
      const result = await dispatcher.run(c, {
        signal: new AbortController().signal,
        log,
        workDir,
        claim: c,
        models: cache,
      });
      if (result.type !== 'json') throw new Error(`llm job gave a ${result.type} result`);
      const value = result.value as { choices: [{ message: { content: string } }] };
      return value.choices[0].message.content;
    },
    close: async (): Promise<void> => {
      await dispatcher.close();
      await cache.close();
      await host.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

async function timed(fn: () => Promise<string>): Promise<{ ms: number; text: string }> {
  const t0 = performance.now();
  const text = await fn();
  return { ms: performance.now() - t0, text };
}

/**
 * The worker's overhead on a real llm job: the same prompt on the same warm model, directly and as
 * a job, `runs` measured prompts each after `warmup` unmeasured ones (the first loads the model),
 * interleaved and alternating which goes first so that drift hits both alike. Undefined when the
 * model file is absent.
 */
export async function measureLlm(runs = 20, warmup = 2): Promise<LlmFigures | undefined> {
  if (!existsSync(STORIES_PATH)) return undefined;
  const direct = await directBackend();
  try {
    const worker = await workerBackend();
    try {
      const directSamplesMs: number[] = [];
      const workerSamplesMs: number[] = [];
      let directText = '';
      let workerText = '';
      for (let i = 0; i < warmup + runs; i++) {
        let d: { ms: number; text: string };
        let w: { ms: number; text: string };
        if (i % 2 === 0) {
          d = await timed(direct.prompt);
          w = await timed(worker.prompt);
        } else {
          w = await timed(worker.prompt);
          d = await timed(direct.prompt);
        }
        directText = d.text;
        workerText = w.text;
        if (i < warmup) continue;
        directSamplesMs.push(d.ms);
        workerSamplesMs.push(w.ms);
      }
      const directMs = median(directSamplesMs);
      const workerMs = median(workerSamplesMs);
      if (directText !== workerText)
        progress(`llm: the completions differ:\n  direct: ${directText}\n  worker: ${workerText}`);
      return {
        directMs,
        workerMs,
        overheadPct: ((workerMs - directMs) / directMs) * 100,
        runs,
        directSamplesMs,
        workerSamplesMs,
        directText,
        workerText,
      };
    } finally {
      await worker.close();
    }
  } finally {
    await direct.close();
  }
}
