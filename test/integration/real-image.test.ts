import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelHost } from '../../src/demo/index.js';
import { TaskSchema } from '../../src/protocol/index.js';
import { verifyResult } from '../../src/results/index.js';
import type { Harness, RunningWorker } from '../support/harness.js';
import { startHarness } from '../support/harness.js';
import { SD_CLI, SDCPP_MODEL, sdcppLoads, sdcppReady, sdcppSkipReason } from '../support/sdcpp-real.js';

// The studio's main job end to end on the REAL stable-diffusion.cpp: the dev studio offers an
// sd-cpp image job whose model (the random-weight SD 1.x file, 2.1 GB) is served over loopback as
// a model host would; the worker downloads it into its cache, runs the real sd-server and uploads
// the image as multipart.
describe.skipIf(!sdcppReady)(
  `an image job from the studio on the real sd.cpp, model provisioned over HTTP${sdcppSkipReason}`,
  { timeout: 240_000 },
  () => {
    let h: Harness;
    let w: RunningWorker;
    let host: ModelHost;
    let modelUrl: string;
    const cached = () => join(h.configDir, 'models', 'sd1x-random', 'sd1x-random.gguf');
    let downloadedAt = 0;
    beforeAll(async () => {
      host = new ModelHost();
      await host.start();
      modelUrl = host.add('sd1x-random.gguf', SDCPP_MODEL ?? '');
      h = await startHarness({ config: { sdCliPath: SD_CLI } });
      await h.store.update((c) => {
        c.modelsRoot = join(h.configDir, 'models');
      });
      w = h.startWorker();
      await w.next('session:welcomed');
    });
    afterAll(async () => {
      await h?.close();
      await host?.close();
    });

    const job = (prompt: string) =>
      h.studio.admin.enqueueJob({
        task: { kind: 'image', prompt, width: 64, height: 64, steps: 2, seed: 7, ext: 'webp' },
        model: 'sd1x-random',
        vramGbEstimate: 2,
        modelSource: {
          engine: 'sd-cpp',
          files: [{ role: 'model', url: modelUrl, filename: 'sd1x-random.gguf' }],
          cliDefaults: { cfgScale: 7, steps: 2, width: 64, height: 64 },
        },
      });

    async function completedImage(prompt: string): Promise<Buffer> {
      const done = await h.studio.admin.waitForJob(job(prompt).jobId, { timeoutMs: 200_000 });
      expect(done.error).toBeUndefined();
      expect(done.status).toBe('completed');
      const result = h.studio.admin.jobResult(done.jobId);
      if (result.type !== 'file') throw new Error(`expected an uploaded file, got ${result.type}`);
      const bytes = await readFile(result.path);
      const verdict = await verifyResult(
        'image',
        { bytes, ext: result.ext },
        TaskSchema.parse({ kind: 'image', prompt, width: 64, height: 64, steps: 2, ext: 'webp' }),
      );
      expect(verdict, verdict.summary).toMatchObject({ ok: true });
      return bytes;
    }

    it('downloads the model into the cache, runs sd-server and delivers a decodable image', async () => {
      await completedImage('a lighthouse at dusk');
      expect(existsSync(cached())).toBe(true);
      expect((await stat(cached())).size).toBe((await stat(SDCPP_MODEL ?? '')).size);
      downloadedAt = (await stat(cached())).mtimeMs;
      expect(h.logText()).toMatch(/sd-server for sd1x-random is loaded/);
      expect(sdcppLoads(h.logText())).toBe(1);
      expect(h.studio.admin.violations()).toEqual([]);
    });

    it('serves the next job from the warm sd-server without downloading or loading again', async () => {
      await completedImage('a lighthouse at dawn');
      expect((await stat(cached())).mtimeMs).toBe(downloadedAt);
      expect(sdcppLoads(h.logText())).toBe(1);
      expect(h.studio.admin.violations()).toEqual([]);
    });
  },
);
