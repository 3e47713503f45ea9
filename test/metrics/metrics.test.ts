import { afterEach, describe, expect, it } from 'vitest';
import { parseListen, WorkerMetrics } from '../../src/metrics/index.js';
import type { Harness } from '../support/harness.js';
import { startHarness } from '../support/harness.js';
import { startRun } from '../support/cli.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('Prometheus metrics and /healthz', () => {
  it('counts jobs by kind and outcome, times them, and reports the session, outbox, GPU and process', async () => {
    h = await startHarness();
    const w = h.startWorker();
    const metrics = new WorkerMetrics(w.worker);
    try {
      await w.next('session:welcomed');
      expect(metrics.health()).toMatchObject({ status: 200, body: { ok: true, session: 'welcomed' } });
      const job = h.studio.admin.enqueueJob({
        task: { kind: 'image', prompt: 'a fox', width: 32, height: 32 },
      });
      await h.studio.admin.waitForJob(job.jobId);
      await w.next('job:completed').catch(() => undefined);
      const text = await metrics.text();
      expect(text).toMatch(/^studio_worker_jobs_total\{kind="image",outcome="completed"\} 1$/m);
      expect(text).toMatch(/^studio_worker_job_duration_seconds_count\{kind="image"\} 1$/m);
      expect(text).toMatch(/^studio_worker_session_connected 1$/m);
      expect(text).toMatch(/^studio_worker_outbox_pending 0$/m);
      expect(text).toMatch(/^studio_worker_model_download_bytes_total 0$/m);
      expect(text).toMatch(/^studio_worker_gpu_memory_free_bytes Nan$/im);
      expect(text).toMatch(/^studio_worker_gpu_temperature_celsius Nan$/im);
      // This machine has no display to read presence from.
      expect(text).toMatch(/^studio_worker_user_present Nan$/im);
      expect(text).toMatch(/^process_cpu_user_seconds_total /m);
      expect(text).toMatch(/^nodejs_heap_size_used_bytes /m);
      await w.stop();
      expect(metrics.health()).toMatchObject({
        status: 503,
        body: { ok: false, reason: 'the worker has stopped' },
      });
    } finally {
      metrics.stop();
    }
  });

  it('reports the GPU and the user’s presence as the worker reads them, and follows their changes', async () => {
    h = await startHarness();
    let idleMs: number | undefined = 0;
    let freeBytes = 6e9;
    const w = h.startWorker({
      idleProbe: () =>
        Promise.resolve(idleMs === undefined ? { reason: 'no display' } : { idleMs, source: 'test' }),
      gpuProbe: () => Promise.resolve({ source: 'test', freeBytes, temperatureC: 61 }),
      gpuCheckMs: 20,
    });
    const metrics = new WorkerMetrics(w.worker);
    const value = async (name: string): Promise<string | undefined> =>
      new RegExp(`^${name} (\\S+)$`, 'm').exec(await metrics.text())?.[1];
    try {
      await w.next('session:welcomed');
      expect(await value('studio_worker_user_present')).toBe('1');
      await expect.poll(() => value('studio_worker_gpu_memory_free_bytes')).toBe('6000000000');
      expect(await value('studio_worker_gpu_temperature_celsius')).toBe('61');
      freeBytes = 2e9;
      await expect.poll(() => value('studio_worker_gpu_memory_free_bytes')).toBe('2000000000');
      // Presence is sampled every 5 s; the test asks for a sample at once.
      const presence = (w.worker as unknown as { presence: { sample: () => Promise<void> } }).presence;
      idleMs = 10 * 60_000;
      await presence.sample();
      await expect.poll(() => value('studio_worker_user_present')).toBe('0');
      idleMs = undefined;
      await presence.sample();
      await expect.poll(() => value('studio_worker_user_present')).toBe('Nan');
    } finally {
      metrics.stop();
    }
  });

  it('says 503 with the reason while the studio has not approved the worker', async () => {
    h = await startHarness({ autoApprove: false });
    const w = h.startWorker();
    const metrics = new WorkerMetrics(w.worker);
    try {
      await w.next('registration:state', (s) => s.state === 'pending');
      expect(metrics.health()).toEqual({
        status: 503,
        body: expect.objectContaining({
          ok: false,
          reason: 'waiting for the studio operator to approve this worker',
        }) as unknown,
      });
    } finally {
      metrics.stop();
    }
  });

  it('reads --metrics-listen as [host:]port, loopback when no host is given', () => {
    expect(parseListen('9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseListen('0.0.0.0:9464')).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(parseListen('[::1]:9464')).toEqual({ host: '::1', port: 9464 });
    expect(() => parseListen('nine')).toThrow('--metrics-listen expects [HOST:]PORT');
  });

  it('run --metrics-listen serves /metrics and /healthz without a token', async () => {
    h = await startHarness();
    await h.register();
    const run = startRun(h.configDir, ['--metrics-listen', '127.0.0.1:0']);
    try {
      await expect
        .poll(() => /metrics on (http:\/\/[^/]+)\/metrics/.exec(run.stdout())?.[1], { timeout: 20_000 })
        .toBeTruthy();
      const base = /metrics on (http:\/\/[^/]+)\/metrics/.exec(run.stdout())?.[1] ?? '';
      await expect.poll(async () => (await fetch(`${base}/healthz`)).status, { timeout: 20_000 }).toBe(200);
      const text = await (await fetch(`${base}/metrics`)).text();
      expect(text).toContain('studio_worker_session_connected 1');
      expect((await fetch(`${base}/other`)).status).toBe(404);
    } finally {
      await run.stop();
    }
  });
});
