import { afterEach, describe, expect, it } from 'vitest';
import { SessionExhaustedError, SessionRefusedError } from '../../src/session/index.js';
import { ExitCode } from '../../src/util/index.js';
import type { Harness } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function closeCodes(harness: Harness): number[] {
  const codes: number[] = [];
  harness.studio.events.on('worker', (e) => {
    if (e.type === 'disconnected' && e.code !== undefined) codes.push(e.code);
  });
  return codes;
}

describe('the studio session', () => {
  it('says hello with its token and capabilities, then heartbeats after welcome', async () => {
    h = await startHarness();
    const w = h.startWorker();
    const { workerId } = await w.next('session:welcomed');
    await new Promise((r) => setTimeout(r, 300));
    const worker = h.studio.admin.listWorkers().find((x) => x.workerId === workerId);
    expect(worker).toMatchObject({ connected: true, welcomed: true });
    expect(worker?.heartbeats).toBeGreaterThan(0);
    expect(worker?.capabilities).toMatchObject({
      engine: 'multi',
      machineName: 'test-box',
      autoEnabled: true,
    });
    expect([...(worker?.capabilities?.taskKinds ?? [])].sort()).toEqual([
      'audio_stt',
      'audio_tts',
      'image',
      'llm',
      'video',
    ]);
    expect(h.studio.admin.violations()).toEqual([]);
  });

  it('ships its logs in logBatch frames, with secrets redacted', async () => {
    h = await startHarness();
    const w = h.startWorker();
    const { workerId } = await w.next('session:welcomed');
    w.log.child({ category: 'test' }).info('a line for the studio');
    await new Promise((r) => setTimeout(r, 300));
    const entries = h.studio.admin.workerLogs(workerId);
    expect(entries.some((e) => e.message === 'a line for the studio' && e.category === 'test')).toBe(true);
    const token = (await h.store.load()).authToken!;
    expect(JSON.stringify(entries)).not.toContain(token);
    expect(h.logText()).not.toContain(token);
  });

  it('reconnects with backoff after a dropped socket and resets the attempt count on welcome', async () => {
    h = await startHarness();
    const w = h.startWorker();
    const { workerId } = await w.next('session:welcomed');
    for (let i = 0; i < 5; i++) {
      const reconnecting = w.next('session:reconnecting');
      h.studio.admin.dropWorker(workerId);
      expect((await reconnecting).attempt).toBe(1);
      await w.next('session:welcomed');
    }
    const job = h.studio.admin.enqueueJob({
      task: { kind: 'llm', messages: [{ role: 'user', content: 'hi' }] },
    });
    expect((await h.studio.admin.waitForJob(job.jobId)).status).toBe('completed');
  });

  it('exits non-zero when every reconnect attempt fails', async () => {
    h = await startHarness({ config: { wsReconnectAttempts: 2 } });
    const w = h.startWorker();
    await w.next('session:welcomed');
    const attempts: number[] = [];
    w.worker.events.on('session:reconnecting', (e) => attempts.push(e.attempt));
    await h.studio.close();
    const err = await w.done;
    expect(err).toBeInstanceOf(SessionExhaustedError);
    expect((err as SessionExhaustedError).exitCode).toBe(ExitCode.disconnected);
    expect(attempts).toEqual([1, 2]);
  });

  it('stops for good, without reconnecting, when the studio deletes the worker (4004)', async () => {
    h = await startHarness();
    const w = h.startWorker();
    const { workerId } = await w.next('session:welcomed');
    let reconnects = 0;
    w.worker.events.on('session:reconnecting', () => reconnects++);
    h.studio.admin.deleteWorker(workerId);
    const err = await w.done;
    expect(err).toBeInstanceOf(SessionRefusedError);
    expect((err as SessionRefusedError).code).toBe(4004);
    expect(reconnects).toBe(0);
  });

  it('stops for good on a 401 upgrade (bad token), naming the fix', async () => {
    h = await startHarness();
    const first = h.startWorker();
    await first.next('session:welcomed');
    expect(await first.stop()).toBeUndefined();
    await h.store.update((c) => {
      c.authToken = 'not-the-token';
    });
    const w = h.startWorker();
    let reconnects = 0;
    w.worker.events.on('session:reconnecting', () => reconnects++);
    const err = await w.done;
    expect(err).toBeInstanceOf(SessionRefusedError);
    expect((err as SessionRefusedError).exitCode).toBe(ExitCode.refused);
    expect(err?.message).toContain('register --reset');
    // The studio's own words on the refusal are kept.
    expect(err?.message).toContain('HTTP 401 on connect: the bearer is not the auth token of worker');
    expect(reconnects).toBe(0);
  });

  it('stops for good on close 4001 after a hello the studio refuses', async () => {
    h = await startHarness();
    const w = h.startWorker();
    const { workerId } = await w.next('session:welcomed');
    h.studio.admin.disconnectWorker(workerId, 4001, 'auth failed');
    const err = await w.done;
    expect(err).toBeInstanceOf(SessionRefusedError);
    expect((err as SessionRefusedError).code).toBe(4001);
  });

  it('closes with 1000 on stop, after finishing the running job', async () => {
    h = await startHarness();
    const codes = closeCodes(h);
    const w = h.startWorker();
    await w.next('session:welcomed');
    const job = h.studio.admin.enqueueJob({
      task: { kind: 'video', prompt: 'x', seconds: 2, fps: 12, width: 256, height: 256 },
    });
    await w.next('job:accepted');
    expect(await w.stop()).toBeUndefined();
    expect(h.studio.admin.getJob(job.jobId)?.status).toBe('completed');
    await new Promise((r) => setTimeout(r, 100));
    expect(codes).toContain(1000);
  });
});
