import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expandHome } from '../../src/config/index.js';
import { loadOrCreateDashboardToken, startDashboard, type Dashboard } from '../../src/dashboard/index.js';
import type {
  DaemonStatus,
  EditableConfig,
  JobLog,
  LocalJobRow,
  LogsPage,
} from '../../src/local-api/index.js';
import { CatalogStore } from '../../src/local-api/index.js';
import { GatedEngine } from '../support/gated-engine.js';
import type { Harness, RunningWorker } from '../support/harness.js';
import { startHarness } from '../support/harness.js';
import { localApiCaller } from '../support/local-api.js';

// The original's daemon-control routes on the local API, over real HTTP, against a real worker
// connected to the dev studio with its dashboard (which keeps the history and logs they answer from).

const cli = { cfgScale: 1, steps: 4, width: 64, height: 48 };

async function localApiOf(h: Harness, w: RunningWorker): Promise<{ url: string; token: string }> {
  const url = w.worker.getStatus().localApi.url ?? '';
  const { token } = JSON.parse(await readFile(join(h.configDir, 'local-api.json'), 'utf8')) as {
    token: string;
  };
  return { url, token };
}

async function dashboardFor(h: Harness, w: RunningWorker, assets: string): Promise<Dashboard> {
  return startDashboard({
    worker: w.worker,
    store: h.store,
    log: w.log,
    port: 0,
    token: await loadOrCreateDashboardToken(h.configDir),
    assetsDir: assets,
  });
}

describe('the daemon-control routes of the local API (real worker, dev studio, real HTTP)', () => {
  let h: Harness;
  let w: RunningWorker;
  let engine: GatedEngine;
  let dashboard: Dashboard;
  let assets: string;
  let url: string;
  let token: string;

  const call = localApiCaller(
    () => url,
    () => token,
  );
  const json = async <T>(path: string, init?: RequestInit): Promise<T> => {
    const res = await call(path, init);
    expect(res.status).toBe(200);
    return (await res.json()) as T;
  };
  const status = () => json<DaemonStatus>('/daemon/status');

  beforeAll(async () => {
    h = await startHarness();
    await new CatalogStore(h.configDir).upsert({
      id: 'synthetic-image',
      kind: 'image',
      source: { engine: 'synthetic', files: [], cliDefaults: cli },
    });
    engine = new GatedEngine();
    w = h.startWorker({ engines: [engine], localApi: { port: 0 } });
    await w.next('session:welcomed');
    assets = await mkdtemp(join(tmpdir(), 'sw-daemon-assets-'));
    dashboard = await dashboardFor(h, w, assets);
    ({ url, token } = await localApiOf(h, w));
  });
  afterAll(async () => {
    await dashboard?.close();
    await h?.close();
    await rm(assets, { recursive: true, force: true });
  });

  it('answers 401 without the token and 403 for a foreign Host or Origin, like every route', async () => {
    expect((await fetch(`${url}/daemon/status`)).status).toBe(401);
    expect((await call('/daemon/status', { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    expect((await fetch(`${url}/jobs`)).status).toBe(401);
    const origin = await call('/daemon/pause', {
      method: 'POST',
      headers: { origin: 'https://evil.example' },
    });
    expect(origin.status).toBe(403);
    expect(await origin.json()).toMatchObject({ error: 'forbidden' });
    const host = await request(`${url}/daemon/status`, {
      headers: { host: 'rebind.example:4787', authorization: `Bearer ${token}` },
    });
    expect(host.statusCode).toBe(403);
    await host.body.dump();
    expect(w.worker.getStatus().paused).toBe(false);
  });

  it('serves /healthz without a token: liveness, busy, the engine and the models root with its free space', async () => {
    const res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      ok: true,
      busy: false,
      engine: 'multi',
      modelsRoot: expandHome((await h.store.load()).modelsRoot),
    });
    expect(body['version']).toMatch(/^\d+\.\d+\.\d+/);
    expect(body['modelsRootFreeBytes']).toBeGreaterThan(0);
    expect(body).toHaveProperty('gpuRuntime');
  });

  it('answers the status snapshot with every field, and no credential', async () => {
    const res = await call('/daemon/status');
    expect(res.status).toBe(200);
    const text = await res.text();
    const s = JSON.parse(text) as DaemonStatus;
    const config = await h.store.load();
    expect(s).toMatchObject({
      pid: process.pid,
      configPath: h.store.path,
      paused: false,
      busy: false,
      registered: true,
      workerId: config.workerId,
      registration: { state: 'approved' },
      session: { state: 'connected' },
      heartbeat: { outcome: 'ok' },
      vramTotalGb: 24,
      localApiUrl: url,
      currentJobId: null,
      activeJobs: [],
      config: {
        apiBaseUrl: config.apiBaseUrl,
        vramThresholdGb: config.vramThresholdGb,
        startMinimised: config.startMinimised,
        autoUpdateEnabled: config.autoUpdateEnabled,
        autoUpdateIntervalSecs: config.autoUpdateIntervalSecs,
        autoUpdateFeed: config.autoUpdateFeed,
        autoUpdatePrerelease: config.autoUpdatePrerelease,
        modelsRoot: config.modelsRoot,
      },
    });
    expect(Object.keys(s).sort()).toEqual(
      [
        'version',
        'pid',
        'configPath',
        'paused',
        'busy',
        'registered',
        'workerId',
        'registration',
        'config',
        'session',
        'heartbeat',
        'gpuRuntime',
        'vramTotalGb',
        'localApiUrl',
        'currentJobId',
        'activeJobs',
        'recentJobs',
        'localJobs',
        'logsSeq',
      ].sort(),
    );
    expect(Date.parse(s.heartbeat?.lastAttemptAt ?? '')).toBeGreaterThan(0);
    expect(s.logsSeq).toBeGreaterThan(0);
    const secrets = [config.authToken, config.localApiToken, await loadOrCreateDashboardToken(h.configDir)];
    for (const secret of secrets) {
      expect(secret).toBeTruthy();
      expect(text).not.toContain(secret);
    }
    expect(text).not.toMatch(/token|secret/i);
  });

  it('answers the worker log incrementally by sequence number, and the whole ring for an `after` beyond it', async () => {
    const first = await json<LogsPage>('/daemon/logs');
    expect(first.entries.length).toBeGreaterThan(0);
    expect(first.seq).toBeGreaterThanOrEqual(first.entries.length);
    for (const e of first.entries) {
      expect(Object.keys(e).filter((k) => k !== 'jobId')).toEqual(['ts', 'level', 'category', 'message']);
      expect(['info', 'warn', 'error']).toContain(e.level);
    }
    // A pause logs a line: the next page is that line (and whatever came with it), nothing older.
    await call('/daemon/pause', { method: 'POST' });
    await call('/daemon/resume', { method: 'POST' });
    const next = await json<LogsPage>(`/daemon/logs?after=${first.seq}`);
    expect(next.seq).toBeGreaterThan(first.seq);
    expect(next.entries.length).toBe(next.seq - first.seq);
    expect(next.entries.map((e) => e.message)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^paused/), expect.stringMatching(/^resumed/)]),
    );
    expect(await json<LogsPage>(`/daemon/logs?after=${next.seq}`)).toEqual({ entries: [], seq: next.seq });
    const restarted = await json<LogsPage>(`/daemon/logs?after=${next.seq + 1000}`);
    expect(restarted.entries.length).toBe(Math.min(next.seq, 1000));
    expect(restarted.entries.at(-1)).toEqual(next.entries.at(-1));
  });

  it('pauses and resumes the worker: the answer, the status and the worker agree', async () => {
    expect(await json('/daemon/pause', { method: 'POST' })).toEqual({ paused: true });
    expect(w.worker.getStatus().paused).toBe(true);
    expect((await status()).paused).toBe(true);
    expect(await json('/daemon/resume', { method: 'POST' })).toEqual({ paused: false });
    expect(w.worker.getStatus().paused).toBe(false);
    expect((await status()).paused).toBe(false);
  });

  it('reads and saves the editable config, refusing a bad value by name without touching the file', async () => {
    const config = await json<EditableConfig>('/daemon/config');
    expect(config).toEqual((await status()).config);
    const put = (body: unknown) => call('/daemon/config', { method: 'PUT', body: JSON.stringify(body) });

    const saved = await put({ ...config, vramThresholdGb: 7.5, autoUpdateIntervalSecs: 3600 });
    expect(saved.status).toBe(200);
    expect(await saved.json()).toEqual({ ...config, vramThresholdGb: 7.5, autoUpdateIntervalSecs: 3600 });
    expect(await json<EditableConfig>('/daemon/config')).toMatchObject({ vramThresholdGb: 7.5 });
    const onDisk = await h.store.load();
    expect([onDisk.vramThresholdGb, onDisk.autoUpdateIntervalSecs]).toEqual([7.5, 3600]);
    expect(onDisk.authToken).toBeTruthy(); // the credentials stay

    const before = await readFile(h.store.path, 'utf8');
    const refusals: [Partial<EditableConfig>, string][] = [
      [{ apiBaseUrl: 'ftp://studio.example' }, 'apiBaseUrl'],
      [{ vramThresholdGb: -1 }, 'vramThresholdGb'],
      [{ autoUpdateIntervalSecs: 5 }, 'autoUpdateIntervalSecs'],
      [{ autoUpdateFeed: 'not a url' }, 'autoUpdateFeed'],
      [{ modelsRoot: '' }, 'modelsRoot'],
    ];
    for (const [change, name] of refusals) {
      const res = await put({ ...config, ...change });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: string; message: string };
      expect(body.error).toBe('invalid_config');
      expect(body.message).toContain(name);
    }
    const missing = await put({ ...config, modelsRoot: undefined });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({
      error: 'bad_request',
      message: 'bad input: "modelsRoot" is required',
    });
    expect(await readFile(h.store.path, 'utf8')).toBe(before);
    await put(config);
  });

  it('refuses a registration reset while the registration is approved (409 not_rejected)', async () => {
    const res = await call('/daemon/registration/reset', { method: 'POST' });
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({
      error: 'not_rejected',
      message: 'registration is not rejected; nothing to reset',
    });
    expect((await status()).registration).toEqual({ state: 'approved' });
  });

  it('shows a running studio job, then lists it among the recent studio jobs', async () => {
    const job = h.studio.admin.enqueueJob({
      jobId: 'held-studio-1',
      task: { kind: 'image', prompt: 'a fox' },
    });
    await engine.whenStarted('held-studio-1');
    const running = await status();
    expect(running.busy).toBe(true);
    expect(running.currentJobId).toBe('held-studio-1');
    expect(running.activeJobs).toEqual([
      expect.objectContaining({
        jobId: 'held-studio-1',
        kind: 'image',
        prompt: 'a fox',
        source: 'studio',
        status: 'running',
        hasThumbnail: false,
      }),
    ]);
    engine.release('held-studio-1');
    expect((await h.studio.admin.waitForJob(job.jobId)).status).toBe('completed');
    await expect.poll(async () => (await status()).recentJobs[0]?.jobId).toBe('held-studio-1');
    const done = await status();
    expect(done.activeJobs).toEqual([]);
    // A studio image job has its thumbnail too (made from the result the dashboard previews).
    expect(done.recentJobs[0]).toMatchObject({ source: 'studio', status: 'completed', hasThumbnail: true });
    expect((await call('/jobs/held-studio-1/thumbnail')).headers.get('content-type')).toBe('image/png');
    expect(Date.parse(done.recentJobs[0]?.finishedAt ?? '')).toBeGreaterThanOrEqual(
      Date.parse(done.recentJobs[0]?.startedAt ?? ''),
    );
    expect(done.localJobs.map((j) => j.jobId)).not.toContain('held-studio-1');
  });

  it('lists a local job, with its log and a PNG thumbnail of at most 384 px', async () => {
    const res = await call('/image', {
      method: 'POST',
      body: JSON.stringify({ prompt: 'a lighthouse at dusk', width: 800, height: 600, ext: 'webp' }),
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const jobs = await json<LocalJobRow[]>('/jobs');
    expect(jobs[0]).toMatchObject({
      kind: 'image',
      model: 'synthetic-image',
      prompt: 'a lighthouse at dusk',
      status: 'completed',
      reason: null,
    });
    const jobId = jobs[0]?.jobId ?? '';
    expect(jobId).toMatch(/^local-/);
    const local = (await status()).localJobs[0];
    expect(local).toMatchObject({ jobId, source: 'local', status: 'completed', hasThumbnail: true });

    const log = await json<JobLog>(`/jobs/${jobId}/log`);
    expect(log.dropped).toBe(0);
    expect(log.lines.map((l) => l.message)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^job started/),
        expect.stringContaining(`local image job ${jobId}`),
        expect.stringMatching(/^job finished: completed/),
      ]),
    );
    for (const line of log.lines) expect(Object.keys(line)).toEqual(['ts', 'level', 'target', 'message']);

    const thumb = await call(`/jobs/${jobId}/thumbnail`);
    expect(thumb.status).toBe(200);
    expect(thumb.headers.get('content-type')).toBe('image/png');
    const meta = await sharp(Buffer.from(await thumb.arrayBuffer())).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 384, 288]);

    const unknownLog = await call('/jobs/nope/log');
    expect(unknownLog.status).toBe(404);
    expect(await unknownLog.json()).toEqual({
      error: 'unknown_job',
      message: 'no log captured for that job',
    });
    const noThumb = await call('/jobs/nope/thumbnail');
    expect(noThumb.status).toBe(404);
    expect(((await noThumb.json()) as { error: string }).error).toBe('no_thumbnail');
  });

  it('answers 503 daemon_control_unavailable while no dashboard keeps the history, and 404 for no such route', async () => {
    expect((await call('/daemon/nope')).status).toBe(404);
    await dashboard.close();
    const off = await call('/daemon/status');
    expect(off.status).toBe(503);
    expect(((await off.json()) as { error: string }).error).toBe('daemon_control_unavailable');
    expect((await call('/jobs')).status).toBe(503);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    dashboard = await dashboardFor(h, w, assets);
    expect((await call('/daemon/status')).status).toBe(200);
  });

  it('shuts the worker down gracefully after answering 202', async () => {
    const res = await call('/daemon/shutdown', { method: 'POST' });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ ok: true });
    expect(await w.done).toBeUndefined();
    expect(w.worker.getStatus().state).toBe('stopped');
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});

describe('the registration reset route', () => {
  let h: Harness | undefined;
  let dashboard: Dashboard | undefined;
  let assets: string | undefined;
  afterAll(async () => {
    await dashboard?.close();
    await h?.close();
    if (assets) await rm(assets, { recursive: true, force: true });
  });

  it('clears a rejected registration and asks again (202), as `register --reset` does', async () => {
    h = await startHarness({ autoApprove: false });
    const w = h.startWorker({ localApi: { port: 0 } });
    await w.next('registration:state', (s) => s.state === 'pending');
    assets = await mkdtemp(join(tmpdir(), 'sw-daemon-assets-'));
    dashboard = await dashboardFor(h, w, assets);
    const { url, token } = await localApiOf(h, w);
    const post = (path: string) =>
      fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    const daemonStatus = async () =>
      (await (
        await fetch(`${url}/daemon/status`, { headers: { authorization: `Bearer ${token}` } })
      ).json()) as DaemonStatus;

    const first = h.studio.admin.listRegistrations().find((r) => r.status === 'pending');
    expect((await daemonStatus()).registration).toMatchObject({
      state: 'pending',
      requestId: first?.requestId,
    });
    expect((await daemonStatus()).session).toEqual({ state: 'waiting_for_approval' });
    h.studio.admin.reject(first?.requestId ?? '', 'not one of ours');
    await w.next('registration:state', (s) => s.state === 'rejected');
    expect((await daemonStatus()).registration).toEqual({ state: 'rejected', reason: 'not one of ours' });
    expect((await daemonStatus()).registered).toBe(false);

    const asked = w.next('registration:state', (s) => s.state === 'pending');
    const res = await post('/daemon/registration/reset');
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ ok: true });
    const again = await asked;
    expect(again.requestId).not.toBe(first?.requestId);
    expect((await post('/daemon/registration/reset')).status).toBe(409);
    expect(await w.stop()).toBeUndefined();
  });
});
