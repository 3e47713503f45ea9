import { afterEach, describe, expect, it } from 'vitest';
import type { DesktopNotification } from '../../src/dashboard/index.js';
import { startNotifications } from '../../src/dashboard/index.js';
import type { Harness } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

describe('desktop notifications', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('announce an approval and a completed job when switched on, and nothing that is switched off', async () => {
    h = await startHarness({
      autoApprove: false,
      config: { notifyJobCompleted: true, notifyJobFailed: false, notifyRegistrationApproved: true },
    });
    const w = h.startWorker();
    const shown: DesktopNotification[] = [];
    const notifications = startNotifications({
      worker: w.worker,
      log: w.log,
      send: (n) => Promise.resolve(void shown.push(n)),
    });
    try {
      const pending = await w.next('registration:state', (s) => s.state === 'pending');
      h.studio.admin.approve(pending.requestId ?? '');
      await w.next('session:welcomed');
      const done = w.next('job:completed');
      h.studio.admin.enqueueJob({ task: { kind: 'image', prompt: 'p', width: 32, height: 32 } });
      const job = await done;
      expect(shown.map((n) => n.title)).toEqual([
        'Studio worker: registration approved',
        'Studio worker: job completed',
      ]);
      expect(shown[1]?.message).toContain(job.jobId);
    } finally {
      notifications.stop();
    }
  });

  it('stay silent for a worker that was already approved, with notifications off by default', async () => {
    h = await startHarness();
    const w = h.startWorker();
    const shown: DesktopNotification[] = [];
    const notifications = startNotifications({
      worker: w.worker,
      log: w.log,
      send: (n) => Promise.resolve(void shown.push(n)),
    });
    try {
      await w.next('session:welcomed');
      const done = w.next('job:completed');
      h.studio.admin.enqueueJob({ task: { kind: 'image', prompt: 'p', width: 32, height: 32 } });
      await done;
      expect(shown).toEqual([]);
    } finally {
      notifications.stop();
    }
  });

  it('never break the worker when they cannot be shown, and say so once', async () => {
    h = await startHarness({ config: { notifyJobCompleted: true } });
    const w = h.startWorker();
    const notifications = startNotifications({
      worker: w.worker,
      log: w.log,
      send: () => Promise.reject(new Error('no notification daemon')),
    });
    try {
      await w.next('session:welcomed');
      for (let i = 0; i < 2; i++) {
        const done = w.next('job:completed');
        h.studio.admin.enqueueJob({ task: { kind: 'image', prompt: 'p', width: 32, height: 32 } });
        await done;
      }
      await expect.poll(() => h?.logText() ?? '').toContain('desktop notification failed');
      expect(h.logText().split('desktop notification failed').length - 1).toBe(1);
      expect(w.worker.getStatus().counts.completed).toBe(2);
    } finally {
      notifications.stop();
    }
  });
});
