import { describe, expect, it } from 'vitest';
import { ConfigStore } from '../../src/config/index.js';
import { WorkerEventBus } from '../../src/events/index.js';
import { LogShipper } from '../../src/logs/index.js';
import type { LocalLogEntry } from '../../src/logs/records.js';
import type { Capabilities, RegisterRequest } from '../../src/protocol/index.js';
import {
  RegistrationRejectedError,
  ensureRegistered,
  registrationSecretHash,
} from '../../src/registration/index.js';
import { Session, SessionExhaustedError, SessionRefusedError } from '../../src/session/index.js';
import { USER_AGENT, VERSION } from '../../src/version.js';
import { buildCapabilities } from '../../src/worker/capabilities.js';
import type { HttpCase } from './http-support.js';
import {
  bearerOf,
  client,
  deliver,
  expectRequest,
  logger,
  partsOf,
  pathOf,
  studio,
  tempDir,
} from './http-support.js';
import { load, testName, until } from './support.js';

// The literal HTTP cases of the Rust original's contract tests (tests/auto_register_http.rs,
// tests/http_contract.rs, tests/http_errors.rs, tests/ws_client_contract.rs, src/ws/client.rs),
// each replayed against this worker's real client code — StudioHttp under the registration loop,
// the outbox's delivery, the WebSocket session — with a loopback server that answers exactly the
// fixture's response and records the request.

const cases = load<HttpCase[]>('http.json');

/**
 * What each case's note says the original makes of the answer, in this worker's terms: `value` the
 * parsed answer, `contains` what the error must say. Error wording is this worker's own: it names
 * the operation in its words ("upload result of job j: HTTP 409: conflict" where the original says
 * "complete failed: 409 — conflict"), and a refused WebSocket upgrade names the status but not the
 * studio's body (the original adds it, clipped to 300 characters).
 */
const NOTES: Record<number, { source: string; value?: unknown; contains?: string[] }> = {
  0: { source: 'register_request_round_trip', value: { requestId: 'rr-abc-123', status: 'pending' } },
  1: { source: 'register_request_surfaces_rate_limit_error', contains: ['429', 'Too Many Requests'] },
  2: { source: 'poll_returns_pending_then_approved', value: { status: 'pending' } },
  3: {
    source: 'poll_returns_pending_then_approved',
    value: { status: 'approved', workerId: 'w-real-42', authToken: 'tok-issued-by-studio' },
  },
  4: {
    source: 'poll_carries_rejection_reason',
    value: { status: 'rejected', reason: 'unknown contributor' },
  },
  5: { source: 'RegisterStatus (derived, no test literal)', value: { status: 'rejected', reason: '' } },
  6: { source: 'RegisterStatus (derived, no test literal)', contains: ['some_unknown_status'] },
  7: { source: 'poll_returns_none_on_404_so_orchestrator_can_recreate', value: { status: 'gone' } },
  8: { source: 'complete_posts_multipart_image' },
  9: { source: 'complete_handles_audio_wav' },
  10: { source: 'mime_for_ext' },
  11: { source: 'complete_surfaces_4xx', contains: ['409', 'conflict', 'upload result of job j'] },
  12: { source: 'complete_logs_upload_byte_size_even_on_failure', contains: ['500', 'boom'] },
  13: { source: 'connect_sends_bearer_and_sub_protocol' },
  14: { source: 'maps_401_upgrade_to_auth_failed_error', contains: ['401'] },
  15: { source: 'http_500_upgrade_surfaces_status_and_reference_body', contains: ['500'] },
};

/** Runs the registration loop until it settles or `stop` holds, then aborts it. */
async function runRegistration(
  c: HttpCase,
  api: string,
  store: ConfigStore,
  stop: (r: LocalLogEntry[]) => boolean,
) {
  const { log, records } = logger();
  const caps = c.request.body?.capabilities;
  const ac = new AbortController();
  let settled = false;
  const outcome = ensureRegistered({
    store,
    http: client(api, log),
    // The fixture's machine, settings and models, through this worker's own capability builder.
    capabilities: (): Capabilities =>
      buildCapabilities({
        host: {
          machineName: caps?.machineName ?? 'box',
          username: caps?.username ?? 'op',
          vramTotalGb: caps?.vramTotalGb ?? 0,
        },
        config: {
          vramThresholdGb: caps?.vramThresholdGb ?? 12,
          autoStart: caps?.autoStart ?? true,
          ...(caps?.autoUpdate !== undefined ? { autoUpdateEnabled: caps.autoUpdate } : {}),
          ...(caps?.onlyWhenIdle !== undefined ? { onlyWhenIdle: caps.onlyWhenIdle } : {}),
          ...(caps?.startMinimised !== undefined ? { startMinimised: caps.startMinimised } : {}),
        },
        engines: {
          supportedModels: caps?.supportedModels ?? [],
          taskKinds: caps?.taskKinds ?? [],
          supportedModelsPerKind: caps?.supportedModelsPerKind ?? {},
        },
        paused: caps?.autoEnabled === false,
      }),
    version: VERSION,
    log,
    signal: ac.signal,
    pollIntervalMs: 60_000,
    retryBackoff: { baseMs: 60_000, capMs: 60_000 },
  }).then(
    (value) => ({ value, error: undefined as unknown }),
    (error: unknown) => ({ value: undefined, error }),
  );
  void outcome.finally(() => (settled = true));
  await until('the registration loop', () => settled || stop(records));
  ac.abort();
  return { ...(await outcome), records, config: await store.load() };
}

async function registerRequestCase(c: HttpCase, i: number): Promise<void> {
  const s = await studio(c);
  const store = new ConfigStore(await tempDir());
  const installId = c.request.body?.installId;
  await store.update((cfg) => ({ ...cfg, installId }));
  const run = await runRegistration(c, s.origin, store, (r) =>
    r.some((e) => /registration pending \(request|post register request failed/.test(e.message)),
  );
  expectRequest(c, s.seen[0], undefined);
  const secret = run.config.registrationSecret ?? '';
  // The body as the original serialises it, with our version for <CARGO_PKG_VERSION> and the hash of
  // our own secret (the fixture's hash is a literal of the original's test, not a real secret's).
  const expected = JSON.parse(
    JSON.stringify(c.request.body).replaceAll('<CARGO_PKG_VERSION>', VERSION),
  ) as RegisterRequest;
  expected.registrationSecretHash = registrationSecretHash(secret);
  expect(JSON.parse(s.seen[0]?.body.toString('utf8') ?? '')).toEqual(expected);
  const http = client(s.origin);
  if (c.expect === 'parses') {
    expect(await http.postRegisterRequest(expected)).toEqual(NOTES[i]?.value);
    expect(run.config.registrationRequestId).toBe((NOTES[i]?.value as { requestId: string }).requestId);
  } else {
    const err = await http.postRegisterRequest(expected).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    for (const part of NOTES[i]?.contains ?? []) expect(err?.message).toContain(part);
    // The registration loop does not stop on it: it says why and asks again later.
    const warned = run.records.find(
      (r) => r.level === 'warn' && r.message.startsWith('post register request failed'),
    );
    for (const part of NOTES[i]?.contains ?? []) expect(warned?.message).toContain(part);
  }
}

async function pollCase(c: HttpCase, i: number): Promise<void> {
  const s = await studio(c);
  const requestId = pathOf(c).split('/').pop() ?? '';
  const secret = bearerOf(c) ?? 'secret-of-this-test';
  const parsed = await client(s.origin).getRegisterStatus(requestId, secret);
  expectRequest(c, s.seen[0], secret);
  const note = NOTES[i];
  if (c.expect === 'parses') expect(parsed).toEqual(note?.value);
  else {
    // The original fails to deserialise an unknown status; this worker reads it as no state at
    // all and polls on (contract §2: "an unknown status is not a crash"; docs/protocol.md).
    expect(parsed).toMatchObject({ status: 'unknown' });
    for (const part of note?.contains ?? []) expect(JSON.stringify(parsed)).toContain(part);
  }
  // What the registration loop makes of the same answer, from a pending request.
  const store = new ConfigStore(await tempDir());
  await store.update((cfg) => ({ ...cfg, registrationRequestId: requestId, registrationSecret: secret }));
  const run = await runRegistration(c, s.origin, store, (r) =>
    r.some((e) => /still pending|does not know/.test(e.message)),
  );
  const status = (note?.value as { status?: string } | undefined)?.status;
  if (status === 'approved') {
    expect(run).toMatchObject({ value: { workerId: 'w-real-42', authToken: 'tok-issued-by-studio' } });
    expect(run.config).toMatchObject({ workerId: 'w-real-42', authToken: 'tok-issued-by-studio' });
  } else if (status === 'rejected') {
    expect(run.error).toBeInstanceOf(RegistrationRejectedError);
    expect((run.error as RegistrationRejectedError).reason).toBe((note?.value as { reason: string }).reason);
  } else if (status === 'gone') {
    // The stale id is dropped and a fresh register-request filed.
    expect(run.config.registrationRequestId).toBeUndefined();
    expect(s.seen.slice(2).map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /graphics/api/workers/register-request',
    ]);
  } else {
    // Pending, or a status we do not know: still pending, polled again later.
    expect(run.config.registrationRequestId).toBe(requestId);
    expect(run.config.workerId).toBeUndefined();
  }
}

async function completeCase(c: HttpCase, i: number): Promise<void> {
  const s = await studio(c);
  const [, workerId = '', jobId = ''] = /\/workers\/([^/]+)\/jobs\/([^/]+)\/complete$/.exec(pathOf(c)) ?? [];
  const token = bearerOf(c) ?? 'tok-of-this-test';
  const field = (name: string) => c.request.multipart?.find((p) => p.name === name);
  const outcome = await deliver(s.origin, {
    jobId,
    workerId,
    token,
    ext: field('ext')?.value ?? 'webp',
    prompt: field('prompt')?.value ?? 'a prompt',
    bytes: field('image')?.bytes ?? [1, 2, 3],
  });
  expectRequest(c, s.seen[0], token);
  if (c.request.multipart) expect(await partsOf(s.seen[0])).toEqual(c.request.multipart);
  if (c.expect === 'parses') {
    expect(outcome).toEqual({ outcome: 'delivered' });
    expect(s.seen).toHaveLength(1);
    return;
  }
  expect(outcome.outcome).not.toBe('delivered');
  for (const part of NOTES[i]?.contains ?? [])
    expect('error' in outcome ? outcome.error : '').toContain(part);
  if (c.response && c.response.status >= 500) {
    // Transient: tried again (the original makes 3 attempts), here until the give-up time.
    expect(outcome.outcome).toBe('gave-up');
    expect(s.seen.length).toBeGreaterThanOrEqual(3);
  } else {
    // A 4xx is not retried. 409: the job is no longer ours, so the result is kept for a re-offer
    // and no `fail` is sent (docs/protocol.md, where the original sends fail {retryable: true}).
    expect(outcome.outcome).toBe('not-ours');
    expect(s.seen).toHaveLength(1);
  }
}

async function mimeCase(c: HttpCase): Promise<void> {
  const s = await studio({ ...c, response: { status: 200, body: { ok: true } } });
  for (const [ext, contentType] of Object.entries(c.request.mimeByExt ?? {})) {
    const asked = ext === '*' ? 'bin' : ext; // "anything else"
    const outcome = await deliver(s.origin, {
      jobId: `job-${asked}`,
      workerId: 'w-1',
      token: 'tok',
      ext: asked,
      prompt: 'p',
      bytes: [0],
    });
    expect(outcome).toEqual({ outcome: 'delivered' });
    expect(s.seen.at(-1)?.url).toBe(`/graphics/api/workers/w-1/jobs/job-${asked}/complete`);
    const image = (await partsOf(s.seen.at(-1))).find((p) => p.name === 'image');
    expect(image).toMatchObject({ filename: `job-${asked}.${asked}`, contentType });
  }
}

async function upgradeCase(c: HttpCase, i: number): Promise<void> {
  const s = await studio(c);
  const workerId = /\/workers\/([^/]+)\/connect$/.exec(pathOf(c))?.[1] ?? '';
  const token = bearerOf(c) ?? 'tok-of-this-test';
  const session = new Session({
    apiBaseUrl: `${s.origin}/graphics/api`,
    workerId,
    authToken: token,
    userAgent: USER_AGENT,
    capabilities: () =>
      buildCapabilities({
        host: { machineName: 'box', username: 'op', vramTotalGb: 0 },
        config: { vramThresholdGb: 12, autoStart: true },
        engines: { supportedModels: [], taskKinds: [], supportedModelsPerKind: {} },
        paused: false,
      }),
    currentJobId: () => undefined,
    onOffer: () => undefined,
    shipper: new LogShipper(),
    log: logger().log,
    events: new WorkerEventBus(),
    reconnectAttempts: 1,
    backoff: { baseMs: 10, capMs: 10 },
    connectTimeoutMs: 5000,
  });
  const ended = session.run().then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  if (c.expect === 'parses') {
    // Upgraded: the worker's first frame is its hello, with the same token.
    await until('the hello', () => s.frames.length > 0);
    expect(JSON.parse(s.frames[0] ?? '')).toMatchObject({ type: 'hello', authToken: token });
    await session.stop();
  }
  const err = await ended;
  expectRequest(c, s.seen[0], token);
  expect(s.seen[0]?.headers['sec-websocket-protocol']).toBe('studio-worker-v1');
  if (c.expect === 'parses') {
    expect(err).toBeUndefined();
  } else if (c.response?.status === 401) {
    // Auth failed: the session ends and does not reconnect.
    expect(err).toBeInstanceOf(SessionRefusedError);
    expect(s.seen).toHaveLength(1);
  } else {
    // Transient: reconnected (once, ws_reconnect_attempts = 1), then given up.
    expect(err).toBeInstanceOf(SessionExhaustedError);
    expect(s.seen).toHaveLength(2);
  }
  for (const part of NOTES[i]?.contains ?? []) expect(err?.message).toContain(part);
}

describe('the original HTTP contract cases, replayed against this worker', () => {
  it('has a note for every case, in order', () => {
    expect(cases.map((c, i) => [i, testName(c)])).toEqual(
      Object.entries(NOTES).map(([i, n]) => [Number(i), n.source]),
    );
  });

  for (const [i, c] of cases.entries()) {
    it(`#${i} ${testName(c)}: ${c.surface} ${c.response ? String(c.response.status) : ''} ${c.expect}`, async () => {
      if (c.surface.endsWith('/register-request')) await registerRequestCase(c, i);
      else if (c.surface.includes('/register-requests/')) await pollCase(c, i);
      else if (c.request.mimeByExt) await mimeCase(c);
      else if (c.surface.endsWith('/complete')) await completeCase(c, i);
      else if (c.surface.includes('/connect')) await upgradeCase(c, i);
      else throw new Error(`no replay for ${c.surface}`);
    });
  }
});
