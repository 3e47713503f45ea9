import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobHistory } from '../../src/dashboard/job-history.js';
import { CatalogStore } from '../../src/local-api/index.js';
import { GatedEngine } from '../support/gated-engine.js';
import type { Harness, RunningWorker } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

let h: Harness;
let w: RunningWorker;
let engine: GatedEngine;
let url: string;
let token: string;
let history: JobHistory;
const cli = { cfgScale: 1, steps: 4, width: 64, height: 48 };

beforeAll(async () => {
  h = await startHarness();
  const catalog = new CatalogStore(h.configDir);
  await catalog.upsert({
    id: 'synthetic-image',
    kind: 'image',
    source: { engine: 'synthetic', files: [], cliDefaults: cli },
  });
  await catalog.upsert({
    id: 'synthetic-video',
    kind: 'video',
    source: { engine: 'synthetic', files: [], cliDefaults: cli },
  });
  engine = new GatedEngine();
  w = h.startWorker({ engines: [engine], localApi: { port: 0 } });
  history = new JobHistory(w.worker);
  await w.next('session:welcomed');
  const status = w.worker.getStatus().localApi;
  expect(status.on).toBe(true);
  url = status.url ?? '';
  token = (JSON.parse(await readFile(join(h.configDir, 'local-api.json'), 'utf8')) as { token: string })
    .token;
});
afterAll(async () => {
  history.stop();
  await h.close();
});

const post = (path: string, body: unknown) =>
  fetch(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('the local API inside a running worker (dev studio, one job gate)', () => {
  it('answers a local request with 503 and Retry-After while a studio job runs, and serves it after', async () => {
    const job = h.studio.admin.enqueueJob({
      jobId: 'held-studio-1',
      task: { kind: 'image', prompt: 'studio fox' },
    });
    await engine.whenStarted('held-studio-1');
    const busy = await post('/image', { prompt: 'local fox' });
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('2');
    engine.release('held-studio-1');
    expect((await h.studio.admin.waitForJob(job.jobId)).status).toBe('completed');
    // The gate opens once the worker has finished with the job (a moment after the studio has it).
    await expect
      .poll(async () => ((await (await fetch(`${url}/healthz`)).json()) as { busy: boolean }).busy)
      .toBe(false);
    const ok = await post('/image', { prompt: 'local fox' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('image/webp');
  });

  it('turns a studio offer down while a local job runs (busy, so it comes back), then runs it', async () => {
    const local = post('/video', { prompt: 'long waves', seconds: 20, width: 320, height: 240 });
    await expect
      .poll(async () => ((await (await fetch(`${url}/healthz`)).json()) as { busy: boolean }).busy)
      .toBe(true);
    const rejected = w.next('job:rejected', (e) => e.jobId === 'studio-2', 20_000);
    const job = h.studio.admin.enqueueJob({ jobId: 'studio-2', task: { kind: 'image', prompt: 'later' } });
    expect((await rejected).reason).toMatch(/^worker is busy with a local API request \(local-[0-9a-f]+\)$/);
    expect((await local).status).toBe(200);
    expect((await h.studio.admin.waitForJob(job.jobId, { timeoutMs: 30_000 })).status).toBe('completed');
  });

  it('shows local jobs in the job history, marked local', () => {
    const rows = history.snapshot().finished;
    expect(rows.some((r) => r.source === 'local' && r.kind === 'video' && r.outcome === 'completed')).toBe(
      true,
    );
    expect(rows.find((r) => r.jobId === 'studio-2')?.source).toBeUndefined();
  });

  it('adds the models the studio offers to the catalogue, never over a local entry', async () => {
    const job = h.studio.admin.enqueueJob({
      task: { kind: 'llm', messages: [{ role: 'user', content: 'hi' }] },
    });
    await h.studio.admin.waitForJob(job.jobId);
    const catalog = new CatalogStore(h.configDir);
    await expect
      .poll(async () => (await catalog.list()).find((m) => m.kind === 'llm')?.origin)
      .toBe('studio');
    expect((await catalog.get('synthetic-image'))?.origin).toBe('local');
  });
});
