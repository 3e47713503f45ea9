import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  ActionErrorResponse,
  CatalogEntryView,
  CatalogResponse,
  ModelActionResponse,
  StatusResponse,
} from '../../src/dashboard/api-types.js';
import type { Dashboard } from '../../src/dashboard/index.js';
import { CatalogStore } from '../../src/local-api/index.js';
import type { Harness, RunningWorker } from '../support/harness.js';
import { startHarness } from '../support/harness.js';
import { rawRequest, startTestDashboard } from './support.js';

// The real tiny model beside the clone (see ../shared/models/README.md), as test/local-api uses it.
const MODEL = join(import.meta.dirname, '../../../shared/models/stories260K.gguf');
const HAS_MODEL = existsSync(MODEL);
const cli = { cfgScale: 1, steps: 4, width: 64, height: 48 };

describe('the dashboard Models tab API (real worker, real dev studio, no local API)', () => {
  let h: Harness;
  let w: RunningWorker;
  let dashboard: Dashboard;
  let token: string;
  const auth = () => ({ authorization: `Bearer ${token}` });
  const get = async <T>(path: string) =>
    JSON.parse((await rawRequest(dashboard.port, path, { headers: auth() })).body) as T;
  const post = async <T>(path: string, headers: Record<string, string> = auth()) => {
    const res = await rawRequest(dashboard.port, path, { method: 'POST', headers });
    return { status: res.status, body: (res.body.startsWith('{') ? JSON.parse(res.body) : res.body) as T };
  };
  const entry = async (id: string) =>
    (await get<CatalogResponse>('/api/catalog')).models?.find((m) => m.id === id);

  beforeAll(async () => {
    // CPU only, two threads: the llama-cpp engine as this machine runs it (see ../shared/ecosystem.md).
    h = await startHarness({ config: { gpuOffload: false, llmThreads: 2 } });
    const catalog = new CatalogStore(h.configDir);
    await catalog.upsert({
      id: 'synthetic-image',
      displayName: 'Synthetic image',
      kind: 'image',
      vramGbEstimate: 1.5,
      source: { engine: 'synthetic', files: [], cliDefaults: cli },
    });
    await catalog.upsert({
      id: 'stories',
      kind: 'llm',
      vramGbEstimate: 0.1,
      source: {
        engine: 'llama-cpp',
        files: [{ role: 'model', url: pathToFileURL(MODEL).href, filename: 'stories260K.gguf' }],
        cliDefaults: { ...cli, contextSize: 512 },
      },
    });
    // No local API (`localApi` off, as an embedder or a test runs it): the Models tab works all the same.
    w = h.startWorker();
    await w.next('session:welcomed');
    dashboard = await startTestDashboard(h, w);
    token = (dashboard.url.split('token=')[1] ?? '').trim();
  });
  afterAll(async () => {
    await dashboard?.close();
    await h?.close();
  });

  it('lists every models.json entry with its state, kind, engine, estimate and whether it can be kept loaded', async () => {
    const { models } = await get<CatalogResponse>('/api/catalog');
    expect(models?.map((m) => m.id)).toEqual(['synthetic-image', 'stories']);
    expect(models?.[0]).toMatchObject({
      id: 'synthetic-image',
      displayName: 'Synthetic image',
      kind: 'image',
      engine: 'synthetic',
      vramGbEstimate: 1.5,
      state: 'unloaded',
      resident: false,
      loadable: false,
      origin: 'local',
    } satisfies Partial<CatalogEntryView>);
    expect(models?.[1]).toMatchObject({ engine: 'llama-cpp', state: 'unloaded', loadable: true });
  });

  it('refuses to load a model whose engine loads it per job, saying so, and changes nothing', async () => {
    const res = await post<ActionErrorResponse>('/api/models/synthetic-image/load');
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('not_loadable');
    expect(res.body.message).toBe(
      "model 'synthetic-image' runs on synthetic, which loads its model per job; only llama-cpp and parakeet models can be loaded ahead",
    );
    expect(await entry('synthetic-image')).toMatchObject({ state: 'unloaded', resident: false });
  });

  it('answers 404 for a model the catalogue does not hold', async () => {
    const res = await post<ActionErrorResponse>('/api/models/nope/load');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({
      error: 'unknown_model',
      message: "unknown model 'nope' (not in the local catalog)",
    });
  });

  it('refuses a load without the dashboard token, or from another origin, and loads nothing', async () => {
    const anonymous = await post<string>('/api/models/stories/load', {});
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toContain('dashboard token');
    const foreign = await post<string>('/api/models/stories/load', {
      ...auth(),
      origin: 'http://evil.example',
    });
    expect(foreign.status).toBe(403);
    expect(foreign.body).toContain('origin http://evil.example');
    const reset = await post<string>('/api/registration/reset', { origin: 'http://evil.example' });
    expect(reset.status).toBe(403);
    expect(await entry('stories')).toMatchObject({ state: 'unloaded', resident: false });
  });

  it('answers 409 not_rejected to a registration reset while the worker is approved', async () => {
    const res = await post<ActionErrorResponse>('/api/registration/reset');
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('not_rejected');
    expect(res.body.message).toContain('approved');
    expect(w.worker.getStatus().registration.state).toBe('approved');
  });

  it.skipIf(!HAS_MODEL)(
    'loads a llama-cpp model (real stories260K.gguf): loading, then loaded and resident; unload gives it back',
    async () => {
      const load = await post<ModelActionResponse>('/api/models/stories/load');
      expect(load).toEqual({ status: 202, body: { id: 'stories', state: 'loading' } });
      // The engine's child process starts and reads the file: the catalogue says loading meanwhile.
      expect(await entry('stories')).toMatchObject({ state: 'loading', resident: true });
      await expect.poll(async () => (await entry('stories'))?.state, { timeout: 30_000 }).toBe('loaded');
      const loaded = await entry('stories');
      expect(loaded?.resident).toBe(true);
      expect(Date.parse(loaded?.since ?? '')).toBeGreaterThan(0);
      // The status feed's warm models carry it too.
      const { status } = await get<StatusResponse>('/api/status');
      expect(status.models.find((m) => m.model === 'stories')).toMatchObject({ state: 'loaded', kept: true });
      // Loading it again does nothing.
      expect(await post<ModelActionResponse>('/api/models/stories/load')).toEqual({
        status: 200,
        body: { id: 'stories', state: 'loaded' },
      });

      const unload = await post<ModelActionResponse>('/api/models/stories/unload');
      expect(unload).toEqual({ status: 202, body: { id: 'stories', state: 'unloading' } });
      await expect.poll(async () => (await entry('stories'))?.state, { timeout: 30_000 }).toBe('unloaded');
      expect((await entry('stories'))?.resident).toBe(false);
      expect(await post<ModelActionResponse>('/api/models/stories/unload')).toEqual({
        status: 200,
        body: { id: 'stories', state: 'unloaded' },
      });
      expect(h.logText()).toContain('load of model stories asked from the dashboard');
    },
  );

  it('shows a failed load with its reason, and Retry (a load again) tries once more', async () => {
    const catalog = new CatalogStore(h.configDir);
    await catalog.upsert({
      id: 'missing-llm',
      kind: 'llm',
      source: {
        engine: 'llama-cpp',
        files: [
          {
            role: 'model',
            url: pathToFileURL(join(h.configDir, 'absent.gguf')).href,
            filename: 'absent.gguf',
          },
        ],
        cliDefaults: { ...cli, contextSize: 512 },
      },
    });
    expect((await post<ModelActionResponse>('/api/models/missing-llm/load')).status).toBe(202);
    // One load at a time (the one-job gate): another is refused meanwhile and changes nothing.
    const busy = await rawRequest(dashboard.port, '/api/models/stories/load', {
      method: 'POST',
      headers: auth(),
    });
    expect(busy.status).toBe(503);
    expect(busy.headers['retry-after']).toBe('2');
    expect(JSON.parse(busy.body)).toMatchObject({ error: 'busy' });
    expect(await entry('stories')).toMatchObject({ state: 'unloaded', resident: false });
    await expect.poll(async () => (await entry('missing-llm'))?.state, { timeout: 30_000 }).toBe('failed');
    const failed = await entry('missing-llm');
    expect(failed?.error).toMatch(/absent\.gguf/);
    expect(failed?.resident).toBe(true);
    expect((await post<ModelActionResponse>('/api/models/missing-llm/load')).body.state).toBe('loading');
    await expect.poll(async () => (await entry('missing-llm'))?.state, { timeout: 30_000 }).toBe('failed');
    // Unloading a failed model clears it to unloaded, and its residency.
    expect(await post<ModelActionResponse>('/api/models/missing-llm/unload')).toEqual({
      status: 200,
      body: { id: 'missing-llm', state: 'unloaded' },
    });
    expect(await entry('missing-llm')).toMatchObject({ state: 'unloaded', resident: false });
    expect((await entry('missing-llm'))?.error).toBeUndefined();
  });
});

describe('Reset registration from the dashboard (real dev studio, the operator rejects)', () => {
  let h: Harness;
  let w: RunningWorker;
  let dashboard: Dashboard;

  beforeAll(async () => {
    h = await startHarness({ autoApprove: false });
    w = h.startWorker();
    const { requestId = '' } = await w.next('registration:state', (s) => s.state === 'pending');
    const rejected = w.next('registration:state', (s) => s.state === 'rejected');
    h.studio.admin.reject(requestId, 'not this machine');
    await rejected;
    dashboard = await startTestDashboard(h, w);
  });
  afterAll(async () => {
    await dashboard?.close();
    await h?.close();
  });

  it('shows the rejection and its reason, and a reset asks the studio again', async () => {
    const token = dashboard.url.split('token=')[1] ?? '';
    const headers = { authorization: `Bearer ${token}` };
    const status = JSON.parse(
      (await rawRequest(dashboard.port, '/api/status', { headers })).body,
    ) as StatusResponse;
    expect(status.status.registration).toEqual({ state: 'rejected', reason: 'not this machine' });
    const pending = w.next('registration:state', (s) => s.state === 'pending');
    const res = await rawRequest(dashboard.port, '/api/registration/reset', { method: 'POST', headers });
    expect(res.status).toBe(200);
    const again = await pending;
    expect(h.studio.admin.listRegistrations().map((r) => r.requestId)).toContain(again.requestId);
    const second = await rawRequest(dashboard.port, '/api/registration/reset', { method: 'POST', headers });
    expect(second.status).toBe(409);
  });
});
