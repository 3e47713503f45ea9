import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ResidencyStore } from '../../src/config/index.js';
import { CatalogStore } from '../../src/local-api/index.js';
import type { Harness } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

// The real tiny model beside the clone (see ../shared/models/README.md).
const MODEL = join(import.meta.dirname, '../../../shared/models/stories260K.gguf');
const HAS_MODEL = existsSync(MODEL);
const cli = { cfgScale: 1, steps: 4, width: 64, height: 48, contextSize: 512 };

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function until<T>(read: () => Promise<T> | T, ok: (v: T) => boolean, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!HAS_MODEL)(
  'resident models are loaded again at start, as the original does (real stories260K.gguf)',
  () => {
    it('loads a resident llama-cpp model while registration is still pending; a resident the catalogue lacks does not stop it', async () => {
      h = await startHarness({ autoApprove: false, config: { gpuOffload: false, llmThreads: 2 } });
      const catalog = new CatalogStore(h.configDir);
      await catalog.upsert({
        id: 'stories',
        kind: 'llm',
        vramGbEstimate: 0.1,
        source: {
          engine: 'llama-cpp',
          files: [{ role: 'model', url: pathToFileURL(MODEL).href, filename: 'stories260K.gguf' }],
          cliDefaults: cli,
        },
      });
      const residency = new ResidencyStore(h.configDir);
      await residency.load();
      await residency.set('stories', true);
      await residency.set('gone-from-catalogue', true);

      const w = h.startWorker();
      const lifecycle = await until(
        () => w.worker.modelLifecycle,
        (l) => l !== undefined,
      );
      const state = await until(
        () => lifecycle!.state('stories'),
        (s) => s.state === 'loaded' || s.state === 'failed',
      );
      expect(state).toMatchObject({ id: 'stories', state: 'loaded', resident: true });
      // Nobody approved it: the model was restored beside registration, not after it.
      expect(w.worker.getStatus().registration.state).toBe('pending');
      expect(await w.stop()).toBeUndefined();
    });
  },
);
