import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyResult } from '../../src/results/index.js';
import type { Harness, RunningWorker } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

// The real tiny model from ../shared/models beside the clone (see shared/models/README.md).
const MODEL = join(import.meta.dirname, '../../../shared/models/stories260K.gguf');
const SHA256 = '270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d';
const present = existsSync(MODEL);

describe.skipIf(!present)(
  `a real llm job end to end: dev studio → llama-cpp engine → stories260K.gguf${present ? '' : ` (skipped: ${MODEL} is absent)`}`,
  () => {
    let h: Harness;
    let w: RunningWorker;
    let modelUrl: string;
    beforeAll(async () => {
      h = await startHarness({ config: { gpuOffload: false, llmThreads: 1 } });
      await h.store.update((c) => {
        c.modelsRoot = join(h.configDir, 'models');
      });
      modelUrl = h.studio.admin.addFile('stories260K.gguf', readFileSync(MODEL), 'application/octet-stream');
      w = h.startWorker();
      await w.next('session:welcomed');
    });
    afterAll(async () => {
      await h?.close();
    });

    const job = () =>
      h.studio.admin.enqueueJob({
        task: {
          kind: 'llm',
          messages: [{ role: 'user', content: 'Once upon a time' }],
          maxTokens: 24,
          temperature: 0,
        },
        model: 'stories260K',
        modelSource: {
          engine: 'llama-cpp',
          files: [{ role: 'model', url: modelUrl, filename: 'stories260K.gguf', sha256: SHA256 }],
          cliDefaults: { cfgScale: 1, steps: 1, width: 1, height: 1, contextSize: 512 },
        },
      });

    it('downloads the model through provisioning and answers with a chat.completion', async () => {
      const done = await h.studio.admin.waitForJob(job().jobId, { timeoutMs: 60_000 });
      expect(done.error).toBeUndefined();
      expect(done.status).toBe('completed');
      const result = h.studio.admin.jobResult(done.jobId);
      expect(result.type).toBe('json');
      if (result.type !== 'json') return;
      expect(await verifyResult('llm', { json: result.value })).toMatchObject({ ok: true });
      expect(JSON.stringify(result.value)).toContain('"model":"stories260K"');
      // On the studio wire in the original's completion_json shape: elapsed_ms and real counts.
      const value = result.value as { elapsed_ms: number; usage: Record<string, number> };
      expect(Number.isInteger(value.elapsed_ms) && value.elapsed_ms >= 0).toBe(true);
      expect(value.usage['total_tokens']).toBe(
        value.usage['prompt_tokens']! + value.usage['completion_tokens']!,
      );
      expect((h.logText().match(/llama-cpp loaded a model/g) ?? []).length).toBe(1);
      expect(existsSync(join(h.configDir, 'models', 'stories260K', 'stories260K.gguf'))).toBe(true);
    });

    it('answers a second job from the model already loaded', async () => {
      const loads = () => (h.logText().match(/llama-cpp loaded a model/g) ?? []).length;
      const before = loads();
      const done = await h.studio.admin.waitForJob(job().jobId, { timeoutMs: 60_000 });
      expect(done.status).toBe('completed');
      expect(loads()).toBe(before);
    });
  },
);
