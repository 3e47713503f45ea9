import { afterEach, describe, expect, it } from 'vitest';
import type { IdleReading } from '../../src/platform/index.js';
import type { Harness } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('only_when_idle and user presence in heartbeats', () => {
  it('with presence unknown (this machine has no display), turns studio work down as paused, with the reason', async () => {
    h = await startHarness({ config: { onlyWhenIdle: true } });
    const w = h.startWorker();
    await w.next('session:welcomed');
    const rejected = w.next('job:rejected');
    h.studio.admin.enqueueJob({ task: { kind: 'image', prompt: 'later' } });
    expect((await rejected).reason).toMatch(/^only_when_idle: user presence is unknown \(no X display/);
    const caps = h.studio.admin.listWorkers()[0]?.capabilities;
    expect(caps).toMatchObject({ onlyWhenIdle: true });
    expect(caps).not.toHaveProperty('userPresence');
    expect(w.worker.getStatus().presence).toMatchObject({ presence: undefined, onlyWhenIdle: true });
  });

  it('reports idle/active in heartbeats and takes work only while idle (a person played by the idle probe)', async () => {
    let idleMs = 5_000;
    const probe = (): Promise<IdleReading> => Promise.resolve({ idleMs, source: 'test probe' });
    h = await startHarness({ config: { onlyWhenIdle: true } });
    const w = h.startWorker({ idleProbe: probe });
    await w.next('session:welcomed');
    const rejected = w.next('job:rejected');
    const job = h.studio.admin.enqueueJob({ task: { kind: 'image', prompt: 'when away' } });
    expect((await rejected).reason).toMatch(
      /^only_when_idle: someone is using this computer \(input 5 s ago\)$/,
    );
    await expect.poll(() => h!.studio.admin.listWorkers()[0]?.capabilities?.userPresence).toBe('active');
    idleMs = 180_000; // the person leaves
    await expect
      .poll(() => h!.studio.admin.listWorkers()[0]?.capabilities?.userPresence, { timeout: 15_000 })
      .toBe('idle');
    expect((await h.studio.admin.waitForJob(job.jobId, { timeoutMs: 20_000 })).status).toBe('completed');
  });

  it('with only_when_idle off, works whatever the presence', async () => {
    h = await startHarness();
    const w = h.startWorker({ idleProbe: () => Promise.resolve({ idleMs: 0, source: 'test probe' }) });
    await w.next('session:welcomed');
    const job = h.studio.admin.enqueueJob({ task: { kind: 'image', prompt: 'now' } });
    expect((await h.studio.admin.waitForJob(job.jobId)).status).toBe('completed');
    expect(h.studio.admin.listWorkers()[0]?.capabilities).toMatchObject({
      onlyWhenIdle: false,
      userPresence: 'active',
    });
  });
});
