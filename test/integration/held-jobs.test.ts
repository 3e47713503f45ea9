import { afterEach, describe, expect, it } from 'vitest';
import type { TaskInput } from '../../src/protocol/index.js';
import type { Harness } from '../support/harness.js';
import { startHarness } from '../support/harness.js';
import { GatedEngine } from '../support/gated-engine.js';

// flows.md §6: the studio releases a job's claim when the socket closes mid-job, and answers
// accept / fail / completeJson for a job it does not hold with protocol_violation and close 4002;
// /complete answers 409. These tests drive the real worker against the dev studio, which does the same.

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function setUp(
  extra: { reconnectBaseMs?: number; uploadGiveUpMs?: number; deadAfterMs?: number } = {},
) {
  h = await startHarness();
  const engine = new GatedEngine();
  const base = extra.reconnectBaseMs ?? 20;
  const w = h.startWorker({
    engines: [engine],
    reconnectBackoff: { baseMs: base, capMs: base },
    ...(extra.uploadGiveUpMs !== undefined ? { uploadGiveUpMs: extra.uploadGiveUpMs } : {}),
    ...(extra.deadAfterMs !== undefined ? { deadAfterMs: extra.deadAfterMs } : {}),
  });
  const { workerId } = await w.next('session:welcomed');
  return { harness: h, engine, w, workerId };
}

const llmTask: TaskInput = { kind: 'llm', messages: [{ role: 'user', content: 'tell me a story' }] };
const imageTask: TaskInput = { kind: 'image', prompt: 'a red fox', width: 32, height: 32, ext: 'png' };

describe('results of jobs whose session dropped (only frames for jobs the studio holds)', () => {
  const cases: [string, TaskInput][] = [
    ['llm (JSON result)', llmTask],
    ['image (binary result)', imageTask],
  ];
  for (const [kind, task] of cases) {
    it(`keeps a ${kind} finished after the drop, sends nothing about it on the new session, and delivers it from disk on the re-offer`, async () => {
      const { harness, engine, w, workerId } = await setUp({ reconnectBaseMs: 1500 });
      const jobId = `held-${task.kind}-1`;
      harness.studio.admin.enqueueJob({ jobId, task });
      await engine.whenStarted(jobId);
      harness.studio.admin.dropWorker(workerId);
      await w.next('session:closed');
      // The job finishes while the worker is disconnected; the studio has already released it.
      engine.release(jobId);
      await harness.studio.admin.waitForJob(jobId, { until: (j) => j.status === 'queued' });
      await w.next('session:welcomed', undefined, 10_000);
      const done = await harness.studio.admin.waitForJob(jobId, { timeoutMs: 10_000 });
      // The drop spent attempt 1 (flows.md §6); attempt 2 delivered the kept result.
      expect(done).toMatchObject({ status: 'completed', attempts: 1, failures: [{ via: 'disconnect' }] });
      expect(engine.runs).toEqual([jobId]);
      expect(harness.studio.admin.violations()).toEqual([]);
      expect(harness.logText()).toContain(
        'finished after its studio session ended; the result is kept for a re-offer',
      );
      const result = harness.studio.admin.jobResult(jobId);
      expect(result.prompt).toBe(task.kind === 'llm' ? 'tell me a story' : 'a red fox');
    });
  }

  it('carries on with a job the studio offers again while it is still running here', async () => {
    const { harness, engine, w, workerId } = await setUp();
    const jobId = 'held-image-2';
    harness.studio.admin.enqueueJob({ jobId, task: imageTask });
    await engine.whenStarted(jobId);
    harness.studio.admin.dropWorker(workerId);
    await w.next('session:welcomed');
    await harness.studio.admin.waitForJob(jobId, { until: (j) => j.status === 'accepted' });
    engine.release(jobId);
    const done = await harness.studio.admin.waitForJob(jobId);
    expect(done.status).toBe('completed');
    expect(engine.runs).toEqual([jobId]);
    expect(harness.studio.admin.violations()).toEqual([]);
    expect(harness.logText()).toContain('offered again while still running here');
  });

  it('keeps a completeJson written into a half-open socket, detects the dead socket, and answers the re-offer from disk', async () => {
    const { harness, engine, w, workerId } = await setUp({ deadAfterMs: 400 });
    const jobId = 'held-llm-3';
    harness.studio.admin.enqueueJob({ jobId, task: llmTask });
    await engine.whenStarted(jobId);
    // The studio stops reading: the completeJson goes into the socket and is never seen.
    harness.studio.admin.stopReading(workerId);
    engine.release(jobId);
    await w.next('job:completed', (e) => e.jobId === jobId);
    // The studio never saw the result (nor, maybe, the accept before it).
    expect(harness.studio.admin.getJob(jobId).status).not.toBe('completed');
    // No frame comes back: the worker drops the connection within its read-idle window.
    await w.next('session:closed');
    const done = await harness.studio.admin.waitForJob(jobId);
    expect(done.status).toBe('completed');
    expect(engine.runs).toEqual([jobId]);
    expect(harness.studio.admin.jobResult(jobId).prompt).toBe('tell me a story');
    expect(harness.studio.admin.violations()).toEqual([]);
  });

  it('sends no fail frame when /complete answers 409, keeps the result, and delivers it when the job is offered again', async () => {
    const { harness, engine, w, workerId } = await setUp();
    harness.studio.admin.failNextUploads(1, 409);
    const jobId = 'j-409';
    harness.studio.admin.enqueueJob({ jobId, task: imageTask });
    await waitForLog(harness, 'no longer holds job j-409');
    expect(harness.studio.admin.getJob(jobId).status).toBe('accepted');
    // The studio (here: a drop) puts the job back in the queue and offers it again.
    harness.studio.admin.dropWorker(workerId);
    await w.next('session:welcomed');
    const done = await harness.studio.admin.waitForJob(jobId);
    expect(done.status).toBe('completed');
    expect(engine.runs).toEqual([jobId]);
    expect(harness.studio.admin.violations()).toEqual([]);
    const fails = harness.studio.admin.listJobs().filter((j) => j.status === 'failed');
    expect(fails).toEqual([]);
  });

  it('retries an upload a proxy answered 408 (as a 429), and delivers it', async () => {
    const { harness } = await setUp();
    harness.studio.admin.failNextUploads(1, 408);
    const job = harness.studio.admin.enqueueJob({ task: imageTask });
    expect((await harness.studio.admin.waitForJob(job.jobId)).status).toBe('completed');
    expect(harness.logText()).toContain('HTTP 408');
  });

  it('fails the attempt as retryable when the upload keeps failing past the give-up time, keeps the result, and delivers it when the job is offered again', async () => {
    const { harness, engine } = await setUp({ uploadGiveUpMs: 300 });
    harness.studio.admin.failNextUploads(1000, 503);
    const job = harness.studio.admin.enqueueJob({ task: imageTask });
    // flows.md §6: the studio requeues the job and offers it back; from then on it takes uploads.
    const failedOnce = await harness.studio.admin.waitForJob(job.jobId, {
      until: (j) => j.failures.length === 1,
    });
    harness.studio.admin.failNextUploads(0);
    expect(failedOnce.failures[0]).toMatchObject({ attempt: 1, via: 'fail', retryable: true });
    expect(failedOnce.failures[0]?.error).toContain('could not be uploaded');
    const done = await harness.studio.admin.waitForJob(job.jobId);
    expect(done).toMatchObject({ status: 'completed', attempts: 1 });
    // Generated once: the second attempt delivered the result kept on disk.
    expect(engine.runs).toEqual([job.jobId]);
    expect(harness.logText()).toContain('its result is stored from an earlier run');
    expect(harness.studio.admin.violations()).toEqual([]);
  });
});

async function waitForLog(harness: Harness, text: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!harness.logText().includes(text)) {
    if (Date.now() > until) throw new Error(`no log line with "${text}" within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
