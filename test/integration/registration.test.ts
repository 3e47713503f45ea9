import { afterEach, describe, expect, it } from 'vitest';
import { resetRegistration } from '../../src/registration/index.js';
import type { Harness } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function pendingRequestId(harness: Harness, not?: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const pending = harness.studio.admin
      .listRegistrations()
      .find((r) => r.status === 'pending' && r.requestId !== not);
    if (pending) return pending.requestId;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no pending registration request reached the studio');
}

describe('registration against the dev studio', () => {
  it('goes pending, then approved when the operator approves, and persists the credentials', async () => {
    h = await startHarness({ autoApprove: false });
    const w = h.startWorker();
    const pending = await w.next('registration:state', (s) => s.state === 'pending');
    expect(pending.state).toBe('pending');
    const requestId = await pendingRequestId(h);
    expect(pending.requestId).toBe(requestId);
    const onDisk = await h.store.load();
    expect(onDisk.registrationRequestId).toBe(requestId);
    expect(onDisk.installId).toMatch(/^[0-9a-f-]{36}$/);

    const { workerId } = h.studio.admin.approve(requestId);
    await w.next('session:welcomed');
    const approved = await h.store.load();
    expect(approved.workerId).toBe(workerId);
    expect(approved.authToken).toBeTruthy();
    expect(approved.registrationRequestId).toBeUndefined();
    expect(approved.registrationSecret).toBeUndefined();
    expect(w.worker.getStatus().registration).toMatchObject({ state: 'approved', workerId });
    expect(await w.stop()).toBeUndefined();
  });

  it('keeps serving after a rejection, says why, and asks afresh when the registration is reset', async () => {
    h = await startHarness({ autoApprove: false });
    const w = h.startWorker();
    const requestId = await pendingRequestId(h);
    h.studio.admin.reject(requestId, 'not one of our machines');
    const rejected = await w.next('registration:state', (s) => s.state === 'rejected');
    expect(rejected.state).toBe('rejected');
    expect((await h.store.load()).registrationRejectedReason).toBe('not one of our machines');
    expect(w.worker.getStatus().registration).toEqual({
      state: 'rejected',
      reason: 'not one of our machines',
    });
    // Still running, as the original's daemon: nothing ended it.
    const ended = await Promise.race([
      w.done.then(() => true),
      new Promise((r) => setTimeout(() => r(false), 300)),
    ]);
    expect(ended).toBe(false);

    expect(w.worker.resetRegistration()).toBe(true);
    const second = await pendingRequestId(h, requestId);
    expect(second).not.toBe(requestId);
    expect((await h.store.load()).registrationRejectedReason).toBeUndefined();
    h.studio.admin.approve(second);
    await w.next('session:welcomed');
    expect(w.worker.resetRegistration()).toBe(false);
    expect(await w.stop()).toBeUndefined();
  });

  it('starts rejected and waiting; `register --reset` from another process is picked up', async () => {
    h = await startHarness({ autoApprove: false });
    const first = h.startWorker();
    const requestId = await pendingRequestId(h);
    h.studio.admin.reject(requestId, 'not one of our machines');
    await first.next('registration:state', (s) => s.state === 'rejected');
    expect(await first.stop()).toBeUndefined();

    const w = h.startWorker();
    await w.next('registration:state', (s) => s.state === 'rejected');
    expect(h.studio.admin.listRegistrations().filter((r) => r.status === 'pending')).toEqual([]);
    // What `studio-worker register --reset` does to the file.
    await resetRegistration(h.store);
    const second = await pendingRequestId(h, requestId);
    h.studio.admin.approve(second);
    await w.next('session:welcomed');
    expect(await w.stop()).toBeUndefined();
  });

  it('a worker stopped while it waits on a rejection stops cleanly', async () => {
    h = await startHarness({ autoApprove: false });
    const w = h.startWorker();
    h.studio.admin.reject(await pendingRequestId(h), 'no');
    await w.next('registration:state', (s) => s.state === 'rejected');
    expect(await w.stop()).toBeUndefined();
    expect(w.worker.getStatus().state).toBe('stopped');
  });

  it('forgets a request the studio no longer knows (404) and posts a new one', async () => {
    h = await startHarness({ autoApprove: false });
    const w = h.startWorker();
    const first = await pendingRequestId(h);
    h.studio.admin.forget(first);
    const second = await pendingRequestId(h, first);
    expect(second).not.toBe(first);
    h.studio.admin.approve(second);
    await w.next('session:welcomed');
    expect(await w.stop()).toBeUndefined();
  });

  it('resumes a pending request after a restart instead of posting a new one', async () => {
    h = await startHarness({ autoApprove: false });
    const first = h.startWorker();
    const requestId = await pendingRequestId(h);
    expect(await first.stop()).toBeUndefined();
    const second = h.startWorker();
    await new Promise((r) => setTimeout(r, 150));
    expect(h.studio.admin.listRegistrations().filter((r) => r.status === 'pending')).toHaveLength(1);
    h.studio.admin.approve(requestId);
    await second.next('session:welcomed');
    expect(await second.stop()).toBeUndefined();
  });
});
