import { afterEach, describe, expect, it } from 'vitest';
import type { CommandContext } from '../../src/cli/context.js';
import { serveDashboard, type ServedDashboard } from '../../src/cli/dashboard-host.js';
import { statusCommand } from '../../src/cli/commands/status.js';
import { WorkerMetrics } from '../../src/metrics/index.js';
import type { Harness, RunningWorker } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

let h: Harness | undefined;
let dashboard: ServedDashboard | undefined;
let metrics: WorkerMetrics | undefined;
afterEach(async () => {
  await dashboard?.close();
  metrics?.stop();
  await h?.close();
  h = dashboard = metrics = undefined;
});

/** `status` as the operator runs it on the config of the worker `w`, which serves its dashboard. */
async function status(harness: Harness, w: RunningWorker, json = false): Promise<string[]> {
  const lines: string[] = [];
  const ctx: CommandContext = {
    store: harness.store,
    log: w.log,
    shipper: undefined as never,
    out: (line) => lines.push(line),
  };
  metrics ??= new WorkerMetrics(w.worker);
  const m = metrics;
  dashboard ??= await serveDashboard(ctx, w.worker, { port: 0, required: true, metrics: m });
  await statusCommand(ctx, { json });
  return lines;
}

describe('status says whether the running worker lets the studio offer it jobs, and why not', () => {
  it('names the condition that makes its heartbeats say autoEnabled: false', async () => {
    h = await startHarness({ config: { onlyWhenIdle: true } });
    const w = h.startWorker();
    await w.next('session:welcomed');
    const text = (await status(h, w)).join('\n');
    expect(text).toContain(`worker:         running (pid ${process.pid})`);
    expect(text).toMatch(
      /studio offers: {2}none \(heartbeats say autoEnabled: false\): only_when_idle: user presence is unknown/,
    );
    const json = JSON.parse((await status(h, w, true))[0] ?? '') as {
      running?: { availability?: { available: boolean; reasons: string[] } };
    };
    expect(json.running?.availability?.available).toBe(false);
    expect(json.running?.availability?.reasons[0]).toMatch(/^only_when_idle: /);
  });

  it('says yes for a worker that takes jobs, and nothing about a worker when none runs here', async () => {
    h = await startHarness();
    const w = h.startWorker();
    await w.next('session:welcomed');
    expect(await status(h, w)).toContain('studio offers:  yes (heartbeats say autoEnabled: true)');
    await dashboard?.close();
    dashboard = undefined;
    const lines: string[] = [];
    await statusCommand(
      { store: h.store, log: w.log, shipper: undefined as never, out: (l) => lines.push(l) },
      {},
    );
    expect(lines).toContain('worker:         not running here (or serving no dashboard to ask)');
  });
});
