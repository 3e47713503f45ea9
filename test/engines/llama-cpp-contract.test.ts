import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe } from 'vitest';
import type { Engine } from '../../src/engines/index.js';
import { LlamaCppEngine } from '../../src/engines/llama-cpp/index.js';
import { ModelCache } from '../../src/models/index.js';
import type { ModelFile } from '../../src/protocol/index.js';
import { engineContract } from './contract.js';
import { haveStories, ModelHost, readStories, STORIES_PATH } from './llama-cpp-fixtures.js';

const log = pino({ enabled: false });
const engine = new LlamaCppEngine({ gpu: false, threads: 1, models: ['stories260K'], log });

let host: ModelHost;
let root: string;
let cache: ModelCache;
let stories: ModelFile;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'llama-cpp-contract-'));
  cache = new ModelCache({ root, log });
  host = new ModelHost();
  await host.start();
  if (haveStories) stories = host.add('stories260K.gguf', await readStories());
  await engine.init();
});

afterAll(async () => {
  await engine.close();
  await cache.close();
  await host.close();
  await rm(root, { recursive: true, force: true });
});

/**
 * The engine as the worker runs it: the shared contract builds claims without model files or a
 * model cache, so each run gets the offer's GGUF (served over HTTP) and the real ModelCache.
 */
const asWorkerRunsIt: Engine = {
  name: engine.name,
  capabilities: () => engine.capabilities(),
  refuse: (claim) => engine.refuse(claim),
  run: (task, modelSource, ctx) =>
    engine.run(
      task,
      { ...modelSource, files: [stories], cliDefaults: { ...modelSource.cliDefaults, contextSize: 1024 } },
      { ...ctx, models: cache },
    ),
};

const title = haveStories
  ? 'llama-cpp on the real stories260K model (CPU)'
  : `llama-cpp on the real stories260K model (skipped: ${STORIES_PATH} is absent)`;

describe.skipIf(!haveStories)(title, () => {
  engineContract(asWorkerRunsIt, [
    {
      kind: 'llm',
      model: 'stories260K',
      // Greedy sampling, so the same conversation gives the same completion.
      task: (prompt) => ({
        kind: 'llm',
        messages: [{ role: 'user', content: prompt }],
        maxTokens: 24,
        temperature: 0,
      }),
      fingerprint: (result) =>
        Promise.resolve(
          JSON.stringify(result.type === 'json' ? result.value : null, ['choices', 'message', 'content']),
        ),
      badTask: () => ({ kind: 'llm', messages: [] }),
      slowTask: () => ({
        kind: 'llm',
        messages: [{ role: 'user', content: 'Tell a long story' }],
        maxTokens: 5000,
      }),
    },
  ]);
});
