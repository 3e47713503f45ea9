import { afterEach, describe, expect, it } from 'vitest';
import type { Harness } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('a full disk is the worker’s problem, not the job’s', () => {
  it('turns offers down while too little is free, says so in its status, and takes them again once there is room', async () => {
    h = await startHarness();
    let free = 100 * 1024 ** 2;
    const w = h.startWorker({ freeBytes: () => Promise.resolve(free), diskCheckMs: 50 });
    await w.next('session:welcomed');
    const job = h.studio.admin.enqueueJob({ task: { kind: 'image', prompt: 'x', width: 16, height: 16 } });
    const done = await h.studio.admin.waitForJob(job.jobId);
    expect(done.status).toBe('rejected');
    expect(done.rejectReason).toMatch(
      /^disk full: 104\.9 MB free under .+ \(the results\); at least 1\.00 GB is needed$/,
    );
    // No code: the studio gives the job to a worker that has room.
    expect(done.rejectCode).toBeUndefined();
    expect(w.worker.getStatus().disk.problem).toContain('disk full');

    free = 50 * 1024 ** 3;
    await new Promise((r) => setTimeout(r, 150));
    expect(w.worker.getStatus().disk.problem).toBeUndefined();
    const next = h.studio.admin.enqueueJob({ task: { kind: 'image', prompt: 'y', width: 16, height: 16 } });
    expect((await h.studio.admin.waitForJob(next.jobId)).status).toBe('completed');
  });
});
