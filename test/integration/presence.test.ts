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
  it('with presence unknown (this machine has no display), says autoEnabled: false, so the studio offers nothing; the status says why', async () => {
    h = await startHarness({ config: { onlyWhenIdle: true } });
    const w = h.startWorker();
    await w.next('session:welcomed');
    const job = h.studio.admin.enqueueJob({ task: { kind: 'image', prompt: 'later' } });
    await new Promise((r) => setTimeout(r, 300));
    expect(h.studio.admin.getJob(job.jobId)).toMatchObject({ status: 'queued', attempts: 0 });
    const caps = h.studio.admin.listWorkers()[0]?.capabilities;
    expect(caps).toMatchObject({ onlyWhenIdle: true, autoEnabled: false });
    expect(caps).not.toHaveProperty('userPresence');
    expect(w.worker.getStatus().presence).toMatchObject({ presence: undefined, onlyWhenIdle: true });
    expect(w.worker.getStatus().availability?.reasons[0]).toMatch(
      /^only_when_idle: user presence is unknown \(no X display/,
    );
  });

  it('reports idle/active in heartbeats and takes work only while idle, without a reject (a person played by the idle probe)', async () => {
    let idleMs = 5_000;
    const probe = (): Promise<IdleReading> => Promise.resolve({ idleMs, source: 'test probe' });
    h = await startHarness({ config: { onlyWhenIdle: true } });
    const w = h.startWorker({ idleProbe: probe });
    await w.next('session:welcomed');
    const rejected: string[] = [];
    w.worker.events.on('job:rejected', (e) => rejected.push(e.reason));
    const job = h.studio.admin.enqueueJob({ task: { kind: 'image', prompt: 'when away' } });
    await expect.poll(() => h!.studio.admin.listWorkers()[0]?.capabilities?.userPresence).toBe('active');
    expect(h.studio.admin.listWorkers()[0]?.capabilities?.autoEnabled).toBe(false);
    expect(w.worker.getStatus().availability?.reasons).toEqual([
      'only_when_idle: someone is using this computer (input 5 s ago)',
    ]);
    idleMs = 180_000; // the person leaves
    await expect
      .poll(() => h!.studio.admin.listWorkers()[0]?.capabilities?.userPresence, { timeout: 15_000 })
      .toBe('idle');
    const done = await h.studio.admin.waitForJob(job.jobId, { timeoutMs: 20_000 });
    expect(done).toMatchObject({ status: 'completed', attempts: 0 });
    expect(rejected).toEqual([]);
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
