import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode, UserError } from '../../src/util/index.js';
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

  it('stops with the operator’s reason when rejected, and stays rejected on the next start', async () => {
    h = await startHarness({ autoApprove: false });
    const w = h.startWorker();
    const requestId = await pendingRequestId(h);
    h.studio.admin.reject(requestId, 'not one of our machines');
    const err = await w.done;
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(ExitCode.refused);
    expect(err?.message).toContain('not one of our machines');
    expect(err?.message).toContain('register --reset');
    expect((await h.store.load()).registrationRejectedReason).toBe('not one of our machines');

    const again = await h.startWorker().done;
    expect(again?.message).toContain('not one of our machines');
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
