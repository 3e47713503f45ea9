import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Outbox, deliverWithRetry } from '../../src/outbox/index.js';
import type { OutboxEntry } from '../../src/outbox/index.js';
import { StudioHttp } from '../../src/studio/index.js';
import { startServer, waitFor } from '../studio/servers.js';
import type { TestServer } from '../studio/servers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A pino logger whose JSON lines land in `lines`. */
function capturedLog(): { log: pino.Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as { level: number; msg: string });
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

/** A studio answering the statuses in turn (the last one for ever), an outbox holding one result. */
async function setUp(statuses: number[]) {
  const studio: TestServer = await startServer((_req, res) => {
    res.writeHead(statuses[Math.min(studio.seen.length, statuses.length) - 1] ?? 500).end('studio says no');
  });
  cleanups.push(() => studio.close());
  const { log, lines } = capturedLog();
  const http = new StudioHttp({
    apiBaseUrl: studio.url,
    userAgent: 'studio-worker/0.1.0',
    log,
    timeoutMs: 5000,
  });
  cleanups.push(() => http.close());
  const dir = await mkdtemp(join(tmpdir(), 'deliver-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const outbox = new Outbox(dir);
  const entry = await outbox.put(
    { jobId: 'j1', workerId: 'w-1', apiBaseUrl: studio.url, ext: 'png', prompt: 'fox' },
    { data: Buffer.from('PNG bytes') },
  );
  const upload = async (e: OutboxEntry) => {
    await http.uploadResult({ ...e, authToken: 'tok' });
  };
  return { studio, outbox, entry, upload, log, lines, dir };
}

describe('deliverWithRetry', () => {
  it('retries a studio that answers 500 twice and deletes the result after the 200', async () => {
    const { studio, outbox, entry, upload, log, lines } = await setUp([500, 500, 200]);
    const outcome = await deliverWithRetry({ entry, outbox, upload, log, backoff: { baseMs: 5, capMs: 20 } });

    expect(outcome).toEqual({ outcome: 'delivered' });
    expect(studio.seen).toHaveLength(3);
    expect(studio.seen.every((r) => r.url === '/graphics/api/workers/w-1/jobs/j1/complete')).toBe(true);
    expect(await outbox.list()).toEqual([]);
    await expect(readFile(entry.filePath)).rejects.toThrow(/ENOENT/);
    const warnings = lines.filter((l) => l.level === 40).map((l) => l.msg);
    expect(warnings).toEqual([
      'upload of job j1 failed (attempt 1), retrying in 5 ms: upload result of job j1: HTTP 500: studio says no',
      'upload of job j1 failed (attempt 2), retrying in 10 ms: upload result of job j1: HTTP 500: studio says no',
    ]);
  });

  it('quarantines a result the studio refuses with a 400, keeping the bytes in rejected/', async () => {
    const { studio, outbox, entry, upload, log, dir } = await setUp([400]);
    const outcome = await deliverWithRetry({ entry, outbox, upload, log, backoff: { baseMs: 5, capMs: 20 } });

    expect(outcome).toMatchObject({ outcome: 'rejected', path: join(dir, 'rejected', 'j1.png') });
    expect(studio.seen).toHaveLength(1);
    expect(await outbox.list()).toEqual([]);
    expect(await readFile(join(dir, 'rejected', 'j1.png'), 'utf8')).toBe('PNG bytes');
    const sidecar = JSON.parse(await readFile(join(dir, 'rejected', 'j1.json'), 'utf8')) as {
      rejectedReason: string;
    };
    expect(sidecar.rejectedReason).toBe('upload result of job j1: HTTP 400: studio says no');
  });

  it('leaves the entry on disk, its failed attempt counted, when aborted during the backoff', async () => {
    const { studio, outbox, entry, upload, log } = await setUp([503]);
    const ac = new AbortController();
    const delivering = deliverWithRetry({
      entry,
      outbox,
      upload,
      log,
      signal: ac.signal,
      backoff: { baseMs: 60_000, capMs: 60_000 },
    });
    await waitFor(async () => (await outbox.list())[0]?.attempts === 1);
    ac.abort();

    await expect(delivering).rejects.toMatchObject({ name: 'AbortError' });
    expect(studio.seen).toHaveLength(1);
    const [left] = await outbox.list();
    expect(left).toMatchObject({ jobId: 'j1', attempts: 1 });
    expect(await readFile(entry.filePath, 'utf8')).toBe('PNG bytes');
  });

  it('gives up after giveUpAfterMs of transient failures, keeping the entry', async () => {
    const { studio, outbox, entry, upload, log } = await setUp([502]);
    const outcome = await deliverWithRetry({
      entry,
      outbox,
      upload,
      log,
      backoff: { baseMs: 20, capMs: 20 },
      giveUpAfterMs: 50,
    });
    expect(outcome.outcome).toBe('gave-up');
    expect(outcome.outcome === 'gave-up' && outcome.error).toContain('HTTP 502');
    expect(studio.seen.length).toBeGreaterThanOrEqual(2);
    expect((await outbox.list())[0]).toMatchObject({ jobId: 'j1', attempts: studio.seen.length });
  });

  it.each([404, 409, 410])(
    'keeps the entry, unmoved, when the studio answers %i (the job is no longer ours)',
    async (status) => {
      const { studio, outbox, entry, upload, log } = await setUp([status]);
      const outcome = await deliverWithRetry({
        entry,
        outbox,
        upload,
        log,
        backoff: { baseMs: 1, capMs: 1 },
      });
      expect(outcome).toMatchObject({ outcome: 'not-ours' });
      expect(studio.seen).toHaveLength(1);
      expect((await outbox.list())[0]).toMatchObject({ jobId: 'j1' });
    },
  );

  it.each([408, 425, 429])('retries a %i like a 5xx, then delivers', async (status) => {
    const { studio, outbox, entry, upload, log } = await setUp([status, 200]);
    const outcome = await deliverWithRetry({ entry, outbox, upload, log, backoff: { baseMs: 1, capMs: 1 } });
    expect(outcome).toEqual({ outcome: 'delivered' });
    expect(studio.seen).toHaveLength(2);
    expect(await outbox.list()).toEqual([]);
  });
});
