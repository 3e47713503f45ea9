import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResidencyStore } from '../../src/config/index.js';
import { EngineDispatcher } from '../../src/engines/index.js';
import { LlamaCppEngine } from '../../src/engines/llama-cpp/index.js';
import { LocalFirstModels } from '../../src/generate/index.js';
import { InsufficientMemoryError } from '../../src/local-api/admission.js';
import type { CatalogModelInput } from '../../src/local-api/catalog.js';
import { ApiError, CatalogStore } from '../../src/local-api/index.js';
import { ModelLifecycle } from '../../src/local-api/lifecycle.js';
import { ModelCache } from '../../src/models/index.js';
import { JobGate } from '../../src/runner/index.js';

// The real tiny model beside the clone (see ../shared/models/README.md), as server.test.ts uses it.
const MODEL = join(import.meta.dirname, '../../../shared/models/stories260K.gguf');
const HAS_MODEL = existsSync(MODEL);
const GIB = 1024 ** 3;
const cli = { cfgScale: 1, steps: 4, width: 64, height: 48 };

const stories = (id: string, extra: Partial<CatalogModelInput> = {}): CatalogModelInput => ({
  id,
  kind: 'llm',
  vramGbEstimate: 2,
  source: {
    engine: 'llama-cpp',
    files: [{ role: 'model', url: pathToFileURL(MODEL).href, filename: 'stories260K.gguf' }],
    cliDefaults: { ...cli, contextSize: 512 },
  },
  ...extra,
});

let dir: string;
let dispatcher: EngineDispatcher;
let catalog: CatalogStore;
let residency: ResidencyStore;
let models: LocalFirstModels;
let gate: JobGate;
const log = pino({ enabled: false });

/** A lifecycle on the shared real engine, with this GPU reading (undefined: no GPU). */
const lifecycleWith = (freeGib?: number) =>
  new ModelLifecycle({
    catalog,
    residency,
    dispatcher,
    models,
    gate,
    log,
    gpuFree: () => (freeGib === undefined ? undefined : { freeBytes: freeGib * GIB }),
  });

async function settle(lifecycle: ModelLifecycle, id: string): Promise<string> {
  for (let i = 0; i < 600; i++) {
    const { state } = await lifecycle.state(id);
    if (state !== 'loading' && state !== 'unloading') return state;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${id} did not settle`);
}

const refusal = async (p: Promise<unknown>) => {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ApiError);
  return e as ApiError;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lifecycle-admission-'));
  const cache = new ModelCache({ root: join(dir, 'models'), log });
  models = new LocalFirstModels(cache, false);
  dispatcher = new EngineDispatcher([new LlamaCppEngine({ gpu: false, threads: 2, idleUnloadMs: 0, log })]);
  await dispatcher.init();
  catalog = new CatalogStore(dir);
  await catalog.upsert(stories('off', { enabled: false }));
  await catalog.upsert(stories('big', { vramGbEstimate: 6 }));
  await catalog.upsert(stories('group-a', { exclusiveGroup: 'chat' }));
  await catalog.upsert(stories('group-b', { exclusiveGroup: 'chat' }));
  residency = new ResidencyStore(dir);
  await residency.load();
  gate = new JobGate();
});

afterAll(async () => {
  for (const w of dispatcher?.warmModels() ?? []) await dispatcher.unloadModel(w.model, 'test over');
  await dispatcher?.close?.();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!HAS_MODEL)('model lifecycle: admission before a load (real llama-cpp, stories260K)', () => {
  it('refuses a model disabled in the catalogue with 400 model_disabled, changing nothing', async () => {
    const lifecycle = lifecycleWith(80);
    const e = await refusal(lifecycle.load('off'));
    expect(e.status).toBe(400);
    expect(e.code).toBe('model_disabled');
    expect(e.message).toBe("model 'off' is disabled in the catalogue");
    expect(await lifecycle.state('off')).toMatchObject({ state: 'unloaded', resident: false });
    expect(gate.holder).toBeUndefined();
  });

  it('refuses a load bigger than free GPU memory minus the 1 GiB reserve with 409 and its figures', async () => {
    const lifecycle = lifecycleWith(6.5);
    const e = await refusal(lifecycle.load('big'));
    expect(e).toBeInstanceOf(InsufficientMemoryError);
    expect(e.status).toBe(409);
    expect(e.code).toBe('insufficient_memory');
    expect(e.message).toBe('insufficient memory: needs 6.00 GiB, 6.50 GiB free (1.00 GiB kept in reserve)');
    expect((e as InsufficientMemoryError).body()).toEqual({
      error: 'insufficient_memory',
      message: e.message,
      neededGib: 6,
      freeGib: 6.5,
      marginGib: 1,
    });
    expect(await lifecycle.state('big')).toMatchObject({ state: 'unloaded', resident: false });
    expect(residency.has('big')).toBe(false);
    expect(dispatcher.warmModels().map((w) => w.model)).not.toContain('big');
    expect(gate.holder).toBeUndefined();
  });

  it('loads when the estimate fits in free memory minus the reserve, and without a GPU reading', async () => {
    const lifecycle = lifecycleWith(7);
    expect((await lifecycle.load('big')).status).toBe(202);
    expect(await settle(lifecycle, 'big')).toBe('loaded');
    expect(residency.has('big')).toBe(true);
    expect((await lifecycle.unload('big')).status).toBe(202);
    expect(await settle(lifecycle, 'big')).toBe('unloaded');

    // No GPU reading (CPU only, as this machine): admitted, the engine's RSS watchdog bounds it.
    const cpu = lifecycleWith(undefined);
    expect((await cpu.load('big')).status).toBe(202);
    expect(await settle(cpu, 'big')).toBe('loaded');
    expect((await cpu.unload('big')).status).toBe(202);
    expect(await settle(cpu, 'big')).toBe('unloaded');
  });

  it('unloads the loaded member of an exclusive group before loading another member', async () => {
    const lifecycle = lifecycleWith(80);
    expect((await lifecycle.load('group-a')).status).toBe(202);
    expect(await settle(lifecycle, 'group-a')).toBe('loaded');

    expect((await lifecycle.load('group-b')).status).toBe(202);
    expect(await settle(lifecycle, 'group-b')).toBe('loaded');
    expect(await lifecycle.state('group-a')).toMatchObject({ state: 'unloaded', resident: false });
    expect(residency.has('group-b')).toBe(true);
    expect(dispatcher.warmModels().map((w) => w.model)).toEqual(['group-b']);
  });

  it('counts the memory an exclusive-group rival gives back as free', async () => {
    // group-b (loaded above) holds its file's bytes: 2 GiB needed against (3 GiB − those bytes) free
    // minus the 1 GiB reserve is short by exactly what unloading the rival gives back.
    const rivalBytes = dispatcher.warmModels().find((w) => w.model === 'group-b')?.bytes ?? 0;
    const lifecycle = new ModelLifecycle({
      catalog,
      residency,
      dispatcher,
      models,
      gate,
      log,
      gpuFree: () => ({ freeBytes: 3 * GIB - rivalBytes }),
    });
    expect((await lifecycle.load('group-a')).status).toBe(202);
    expect(await settle(lifecycle, 'group-a')).toBe('loaded');
    expect(await lifecycle.state('group-b')).toMatchObject({ state: 'unloaded', resident: false });
  });
});
