import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigStore } from '../../src/config/index.js';
import type { Capabilities } from '../../src/protocol/index.js';
import {
  RegistrationRejectedError,
  ensureRegistered,
  registrationState,
  resetRegistration,
} from '../../src/registration/index.js';
import type { RegistrationState } from '../../src/registration/index.js';
import { StudioHttp, StudioHttpError } from '../../src/studio/index.js';
import { json, startServer, waitFor } from '../studio/servers.js';
import type { SeenRequest } from '../studio/servers.js';

const capabilities: Capabilities = {
  machineName: 'box',
  username: 'op',
  agentVersion: '0.1.0',
  engine: 'multi',
  vramTotalGb: 0,
  vramThresholdGb: 12,
  autoEnabled: true,
  autoStart: true,
  supportedModels: ['synthetic-image'],
  taskKinds: ['image'],
  supportedModelsPerKind: { image: ['synthetic-image'] },
};

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Reply = [status: number, body: unknown];

/**
 * A fake studio for the two registration routes. Posts and polls answer from their scripts in turn
 * (the last reply repeats). A poll is answered 401 unless its Bearer hashes to the posted hash, as
 * the real studio checks.
 */
async function fakeStudio(script: { post: Reply[]; poll: Reply[] }) {
  const posts: SeenRequest[] = [];
  const polls: SeenRequest[] = [];
  const hashes = new Map<string, string>();
  const pick = (replies: Reply[], n: number): Reply =>
    replies[Math.min(n, replies.length) - 1] ?? [500, 'no script'];
  const studio = await startServer((req, res) => {
    if (req.method === 'POST' && req.url === '/graphics/api/workers/register-request') {
      posts.push(req);
      const [status, body] = pick(script.post, posts.length);
      const { requestId } = (body ?? {}) as { requestId?: string };
      const { registrationSecretHash } = JSON.parse(req.body) as { registrationSecretHash: string };
      if (requestId) hashes.set(requestId, registrationSecretHash);
      return json(res, status, body);
    }
    const m = /^\/graphics\/api\/workers\/register-requests\/([^/]+)$/.exec(req.url);
    if (req.method === 'GET' && m?.[1]) {
      polls.push(req);
      const bearer = req.headers.authorization?.replace(/^Bearer /, '') ?? '';
      const known = hashes.get(decodeURIComponent(m[1]));
      if (known !== undefined && known !== sha256(bearer)) return json(res, 401, { error: 'bad secret' });
      const [status, body] = pick(script.poll, polls.length);
      return json(res, status, body);
    }
    json(res, 404, { error: 'no route' });
  });
  cleanups.push(() => studio.close());
  return { url: studio.url, posts, polls };
}

async function setUp(studioUrl: string) {
  const dir = await mkdtemp(join(tmpdir(), 'registration-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const store = new ConfigStore(dir);
  await store.update((c) => ({ ...c, apiBaseUrl: studioUrl }));
  let logText = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logText += chunk.toString('utf8');
      done();
    },
  });
  const log = pino({ level: 'debug' }, sink);
  const http = new StudioHttp({
    apiBaseUrl: studioUrl,
    userAgent: 'studio-worker/0.1.0',
    log,
    timeoutMs: 5000,
  });
  cleanups.push(() => http.close());
  const states: RegistrationState[] = [];
  const run = (signal?: AbortSignal) =>
    ensureRegistered({
      store,
      http,
      capabilities: () => capabilities,
      version: '0.1.0',
      log,
      signal,
      pollIntervalMs: 5,
      retryBackoff: { baseMs: 5, capMs: 20 },
      onState: (s) => states.push(s),
    });
  return { store, run, states, logText: () => logText };
}

describe('ensureRegistered', () => {
  it('posts a request, polls until approved, and persists the credentials with the secret forgotten', async () => {
    const studio = await fakeStudio({
      post: [[200, { requestId: 'rr-1', status: 'pending' }]],
      poll: [
        [200, { status: 'pending' }],
        [200, { status: 'approved', workerId: 'w-7', authToken: 'tok-secret-7' }],
      ],
    });
    const { store, run, states, logText } = await setUp(studio.url);

    expect(await run()).toEqual({ workerId: 'w-7', authToken: 'tok-secret-7' });

    const posted = JSON.parse(studio.posts[0]?.body ?? '') as Record<string, unknown>;
    const config = await store.load();
    expect(posted).toEqual({
      installId: config.installId,
      registrationSecretHash: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown,
      capabilities,
      userAgent: 'studio-worker/0.1.0',
    });
    const secret = studio.polls[0]?.headers.authorization?.replace(/^Bearer /, '') ?? '';
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(posted.registrationSecretHash).toBe(sha256(secret));
    expect(studio.polls).toHaveLength(2);

    expect(config).toMatchObject({ workerId: 'w-7', authToken: 'tok-secret-7' });
    expect(config.installId).toMatch(/^[0-9a-f-]{36}$/);
    expect(config.registrationRequestId).toBeUndefined();
    expect(config.registrationSecret).toBeUndefined();
    expect(config.registrationRequestedAt).toBeUndefined();
    expect(states.map((s) => s.state)).toEqual(['pristine', 'pending', 'approved']);
    expect(states[1]).toMatchObject({
      state: 'pending',
      requestId: 'rr-1',
      since: expect.any(String) as unknown,
    });

    expect(logText()).toContain('registration pending (request rr-1)');
    expect(logText()).toContain('registration approved: worker w-7');
    expect(logText()).not.toContain(secret);
    expect(logText()).not.toContain('tok-secret-7');
  });

  it('returns the saved credentials at once when already approved', async () => {
    const studio = await fakeStudio({ post: [], poll: [] });
    const { store, run } = await setUp(studio.url);
    await store.update((c) => ({ ...c, workerId: 'w-1', authToken: 'tok' }));
    expect(await run()).toEqual({ workerId: 'w-1', authToken: 'tok' });
    expect(studio.posts.length + studio.polls.length).toBe(0);
  });

  it('stops with the operator reason when rejected, and keeps stopping on later starts without asking', async () => {
    const studio = await fakeStudio({
      post: [[200, { requestId: 'rr-2', status: 'pending' }]],
      poll: [[200, { status: 'rejected', reason: 'not one of ours' }]],
    });
    const { store, run, states } = await setUp(studio.url);

    const err = await run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistrationRejectedError);
    expect(err).toMatchObject({ reason: 'not one of ours', exitCode: 3 });
    expect((err as Error).message).toContain('studio-worker register --reset');
    expect(states.at(-1)).toEqual({ state: 'rejected', reason: 'not one of ours' });

    const config = await store.load();
    expect(config.registrationRejectedReason).toBe('not one of ours');
    expect(config.registrationRequestId).toBeUndefined();
    expect(config.registrationSecret).toBeUndefined();

    await expect(run()).rejects.toBeInstanceOf(RegistrationRejectedError);
    expect(studio.posts).toHaveLength(1);
    expect(studio.polls).toHaveLength(1);
  });

  it('reads a rejection without a reason as one with an empty reason, as the original does', async () => {
    const studio = await fakeStudio({
      post: [[200, { requestId: 'rr-3', status: 'pending' }]],
      poll: [[200, { status: 'rejected' }]],
    });
    const { store, run, states } = await setUp(studio.url);
    const err = await run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistrationRejectedError);
    expect(err).toMatchObject({ reason: '', exitCode: 3 });
    expect(states.at(-1)).toEqual({ state: 'rejected', reason: '' });
    expect((await store.load()).registrationRejectedReason).toBe('');
    await expect(run()).rejects.toBeInstanceOf(RegistrationRejectedError);
    expect(studio.posts).toHaveLength(1);
  });

  it('logs a status it does not know and polls again, instead of failing', async () => {
    const studio = await fakeStudio({
      post: [[200, { requestId: 'rr-4', status: 'pending' }]],
      poll: [
        [200, { status: 'under_review', eta: 'soon' }],
        [200, { status: 'approved', workerId: 'w-4', authToken: 't4' }],
      ],
    });
    const { run, logText } = await setUp(studio.url);
    expect(await run()).toEqual({ workerId: 'w-4', authToken: 't4' });
    expect(studio.polls).toHaveLength(2);
    expect(logText()).toContain('a status this version does not know');
    expect(logText()).toContain('under_review');
  });

  it('posts a new request when the studio has forgotten the old one (404)', async () => {
    const studio = await fakeStudio({
      post: [
        [200, { requestId: 'rr-old', status: 'pending' }],
        [200, { requestId: 'rr-new', status: 'pending' }],
      ],
      poll: [
        [404, { error: 'gone' }],
        [200, { status: 'approved', workerId: 'w-2', authToken: 't2' }],
      ],
    });
    const { run, states } = await setUp(studio.url);

    expect(await run()).toEqual({ workerId: 'w-2', authToken: 't2' });
    expect(studio.polls.map((p) => p.url)).toEqual([
      '/graphics/api/workers/register-requests/rr-old',
      '/graphics/api/workers/register-requests/rr-new',
    ]);
    const [first, second] = studio.posts.map((p) => JSON.parse(p.body) as { installId: string });
    expect(second?.installId).toBe(first?.installId);
    expect(states.map((s) => s.state)).toEqual(['pristine', 'pending', 'pristine', 'pending', 'approved']);
  });

  it('retries a studio that answers 500 or 503 until it answers properly', async () => {
    const studio = await fakeStudio({
      post: [
        [500, 'db down'],
        [200, { requestId: 'rr-3', status: 'pending' }],
      ],
      poll: [
        [503, 'restarting'],
        [200, { status: 'approved', workerId: 'w-3', authToken: 't3' }],
      ],
    });
    const { run, logText } = await setUp(studio.url);

    expect(await run()).toEqual({ workerId: 'w-3', authToken: 't3' });
    expect(studio.posts).toHaveLength(2);
    expect(studio.polls).toHaveLength(2);
    expect(logText()).toContain('post register request failed (attempt 1), retrying in 5 ms');
    expect(logText()).toContain('poll register request rr-3 failed (attempt 1), retrying in 5 ms');
  });

  it('throws a 4xx other than 404, as asking again would get the same answer', async () => {
    const studio = await fakeStudio({ post: [[400, { error: 'bad capabilities' }]], poll: [] });
    const { store, run } = await setUp(studio.url);
    const err = await run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StudioHttpError);
    expect(err).toMatchObject({ status: 400, retryable: false });
    expect(studio.posts).toHaveLength(1);
    expect(registrationState(await store.load())).toEqual({ state: 'pristine' });
  });

  it('resumes a pending request after a restart by polling with the saved secret at once', async () => {
    const studio = await fakeStudio({
      post: [[200, { requestId: 'rr-4', status: 'pending' }]],
      poll: [[200, { status: 'pending' }]],
    });
    const first = await setUp(studio.url);
    const ac = new AbortController();
    const running = first.run(ac.signal);
    await waitFor(() => studio.polls.length >= 2);
    ac.abort();
    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
    const saved = await first.store.load();
    expect(registrationState(saved)).toMatchObject({ state: 'pending', requestId: 'rr-4' });

    const restarted = await fakeStudio({
      post: [],
      poll: [[200, { status: 'approved', workerId: 'w-4', authToken: 't4' }]],
    });
    const http = new StudioHttp({
      apiBaseUrl: restarted.url,
      userAgent: 'studio-worker/0.1.0',
      log: pino({ level: 'silent' }),
    });
    cleanups.push(() => http.close());
    const creds = await ensureRegistered({
      store: first.store,
      http,
      capabilities: () => capabilities,
      version: '0.1.0',
      log: pino({ level: 'silent' }),
      pollIntervalMs: 60_000,
    });
    expect(creds).toEqual({ workerId: 'w-4', authToken: 't4' });
    expect(restarted.posts).toHaveLength(0);
    expect(restarted.polls[0]?.headers.authorization).toBe(`Bearer ${saved.registrationSecret}`);
  });
});

describe('resetRegistration', () => {
  it('forgets credentials, request, secret and rejection but keeps the install id', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'registration-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const store = new ConfigStore(dir);
    await store.update((c) => ({
      ...c,
      installId: '6f1c1f0e-2a4b-4c1d-9e3f-0a1b2c3d4e5f',
      workerId: 'w',
      authToken: 't',
      registrationRequestId: 'rr',
      registrationSecret: 's',
      registrationRequestedAt: '2024-01-01T00:00:00Z',
      registrationRejectedReason: 'no',
    }));
    await resetRegistration(store);
    const c = await store.load();
    expect(registrationState(c)).toEqual({ state: 'pristine' });
    expect(c.installId).toBe('6f1c1f0e-2a4b-4c1d-9e3f-0a1b2c3d4e5f');
    for (const key of [
      'workerId',
      'authToken',
      'registrationRequestId',
      'registrationSecret',
      'registrationRequestedAt',
      'registrationRejectedReason',
    ] as const) {
      expect(c[key]).toBeUndefined();
    }
  });
});
