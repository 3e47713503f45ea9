import { fetch } from 'undici';
import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/dev-studio/index.js';
import { approvedWorker, session, studio, uploadResult } from './helpers.js';

// flows.md §6, "worker reports, studio decides": a retryable fail requeues the job with the attempt
// counted and ends it failed once the attempts are spent; a non-retryable one is final; a socket
// closed mid-job releases the claim, requeue or fail by attempts. Each spent attempt is kept in
// the job's `failures`, so a test sees attempt 1 fail even when attempt 2 completes.

const llmTask = { kind: 'llm' as const, messages: [{ role: 'user' as const, content: 'hi' }] };

describe('dev studio retries (flows.md §6)', () => {
  it('requeues a job after a retryable fail with the attempt counted, offers it again, and keeps the failure once a later attempt completes', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = await session(s, w);
    const job = s.admin.enqueueJob({ task: llmTask });
    await client.next('offer');
    client.send({ type: 'accept', jobId: job.jobId });
    client.send({ type: 'fail', jobId: job.jobId, error: 'engine crashed (SIGABRT)', retryable: true });
    expect(await client.next('failAck')).toEqual({ type: 'failAck', jobId: job.jobId });
    // Back in the queue, and straight back to the idle worker, as production's offerNextFor does.
    expect((await client.next('offer')).claim.jobId).toBe(job.jobId);
    const again = s.admin.getJob(job.jobId);
    expect(again).toMatchObject({
      status: 'offered',
      attempts: 1,
      failures: [
        {
          attempt: 1,
          workerId: w.workerId,
          via: 'fail',
          error: 'engine crashed (SIGABRT)',
          retryable: true,
        },
      ],
    });
    expect(again.error).toBeUndefined();

    client.send({ type: 'accept', jobId: job.jobId });
    client.send({ type: 'completeJson', jobId: job.jobId, result: { text: 'ok' }, prompt: 'hi' });
    const done = await s.admin.waitForJob(job.jobId);
    expect(done).toMatchObject({ status: 'completed', attempts: 1 });
    expect(done.failures).toHaveLength(1);
    expect([done.error, done.retryable]).toEqual([undefined, undefined]);
  });

  it('ends a job failed once retryable fails have spent its attempts, with the last error, and offers the next job', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = await session(s, w);
    const job = s.admin.enqueueJob({ task: llmTask, maxAttempts: 2 });
    const next = s.admin.enqueueJob({ task: llmTask });
    const seen: Job[] = [];
    s.events.on('job', (j) => j.jobId === job.jobId && seen.push(j));
    for (const error of ['out of VRAM', 'out of VRAM again']) {
      expect((await client.next('offer')).claim.jobId).toBe(job.jobId);
      client.send({ type: 'accept', jobId: job.jobId });
      client.send({ type: 'fail', jobId: job.jobId, error, retryable: true });
      await client.next('failAck');
    }
    const done = await s.admin.waitForJob(job.jobId);
    expect(done).toMatchObject({
      status: 'failed',
      error: 'out of VRAM again',
      retryable: true,
      attempts: 2,
    });
    expect(done.failures.map((f) => [f.attempt, f.error, f.retryable])).toEqual([
      [1, 'out of VRAM', true],
      [2, 'out of VRAM again', true],
    ]);
    // A snapshot is a copy: the one emitted on the first requeue still tells one attempt.
    expect(seen.find((j) => j.status === 'queued')?.failures).toHaveLength(1);
    expect((await client.next('offer')).claim.jobId).toBe(next.jobId);
  });

  it('ends a job failed on a fail that is not retryable even with attempts left, and never offers it again', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = await session(s, w);
    const job = s.admin.enqueueJob({ task: llmTask, maxAttempts: 5 });
    const next = s.admin.enqueueJob({ task: llmTask });
    await client.next('offer');
    client.send({ type: 'fail', jobId: job.jobId, error: 'task has no messages', retryable: false });
    expect((await client.next('offer')).claim.jobId).toBe(next.jobId);
    expect(s.admin.getJob(job.jobId)).toMatchObject({
      status: 'failed',
      retryable: false,
      attempts: 1,
      failures: [{ via: 'fail', retryable: false }],
    });
  });

  it('counts a socket closed mid-job as an attempt and ends the job failed when it was the last; an upload for it is 409', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = await session(s, w);
    const job = s.admin.enqueueJob({ task: { kind: 'image', prompt: 'fox', ext: 'png' }, maxAttempts: 1 });
    await client.next('offer');
    client.send({ type: 'accept', jobId: job.jobId });
    await s.admin.waitForJob(job.jobId, { until: (j) => j.status === 'accepted' });
    s.admin.disconnectWorker(w.workerId, 1012, 'restart');
    const done = await s.admin.waitForJob(job.jobId);
    expect(done).toMatchObject({
      status: 'failed',
      retryable: true,
      attempts: 1,
      failures: [{ attempt: 1, workerId: w.workerId, via: 'disconnect', retryable: true }],
    });
    expect(done.error).toBe("the worker's connection closed while it held the job (1012 restart)");
    expect((await uploadResult(s, w, job.jobId)).status).toBe(409);
  });

  it('answers the attempt history over the admin HTTP API, waiting or not', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = await session(s, w);
    const job = s.admin.enqueueJob({ task: llmTask, maxAttempts: 1 });
    const waited = fetch(`${s.url}admin/jobs/${job.jobId}?wait=1&timeoutMs=5000`);
    await client.next('offer');
    client.send({ type: 'fail', jobId: job.jobId, error: 'crashed', retryable: true });
    const body = (await (await waited).json()) as Job;
    expect(body).toMatchObject({
      status: 'failed',
      failures: [{ attempt: 1, via: 'fail', error: 'crashed', retryable: true }],
    });
    expect(typeof body.failures[0]?.at).toBe('string');
    const listed = (await (await fetch(`${s.url}admin/jobs`)).json()) as Job[];
    expect(listed[0]?.failures).toEqual(body.failures);
  });
});
