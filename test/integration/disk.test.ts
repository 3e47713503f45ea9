import { afterEach, describe, expect, it } from 'vitest';
import type { Harness } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('a full disk is the worker’s problem, not the job’s', () => {
  it('says autoEnabled: false while too little is free (no offer, no reject, no attempt), says why in its status, and takes the job once there is room', async () => {
    h = await startHarness();
    let free = 100 * 1024 ** 2;
    const w = h.startWorker({ freeBytes: () => Promise.resolve(free), diskCheckMs: 50 });
    await w.next('session:welcomed');
    const rejected: string[] = [];
    w.worker.events.on('job:rejected', (e) => rejected.push(e.jobId));
    expect(h.studio.admin.listWorkers()[0]?.capabilities?.autoEnabled).toBe(false);
    const job = h.studio.admin.enqueueJob({ task: { kind: 'image', prompt: 'x', width: 16, height: 16 } });
    await new Promise((r) => setTimeout(r, 300));
    expect(h.studio.admin.getJob(job.jobId)).toMatchObject({ status: 'queued', attempts: 0 });
    const status = w.worker.getStatus();
    expect(status.disk.problem).toContain('disk full');
    expect(status.availability?.available).toBe(false);
    expect(status.availability?.reasons).toHaveLength(1);
    expect(status.availability?.reasons[0]).toMatch(
      /^disk full: 104\.9 MB free under .+ \(the results\); at least 1\.00 GB is needed$/,
    );

    free = 50 * 1024 ** 3;
    const done = await h.studio.admin.waitForJob(job.jobId);
    expect(done).toMatchObject({ status: 'completed', attempts: 0 });
    expect(done.transientRejects).toBeUndefined();
    expect(rejected).toEqual([]);
    expect(w.worker.getStatus().disk.problem).toBeUndefined();
  });

  it('sees freed space within a second even when the disk is read rarely (it is read every second while full)', async () => {
    h = await startHarness();
    let free = 100 * 1024 ** 2;
    const w = h.startWorker({ freeBytes: () => Promise.resolve(free), diskCheckMs: 600_000 });
    await w.next('session:welcomed');
    expect(w.worker.getStatus().disk.problem).toContain('disk full');
    const job = h.studio.admin.enqueueJob({ task: { kind: 'image', prompt: 'x', width: 16, height: 16 } });
    free = 50 * 1024 ** 3;
    // Far sooner than the 10-minute reading: the full disk is read again every second.
    const done = await h.studio.admin.waitForJob(job.jobId, { timeoutMs: 8000 });
    expect(done).toMatchObject({ status: 'completed', attempts: 0 });
  });
});
