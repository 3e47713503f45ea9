import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, startRun } from '../support/cli.js';
import type { Harness } from '../support/harness.js';
import { startHarness } from '../support/harness.js';
import { freeLoopbackPort } from '../../src/util/index.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** A registered config and a `run` on it; resolves once that worker holds the config. */
async function runningWorker(args: string[] = []): Promise<{ pid: number; stop: () => Promise<void> }> {
  h = await startHarness({ config: { dashboardPort: await freeLoopbackPort() } });
  await h.register();
  const run = startRun(h.configDir, args);
  const dir = h.configDir;
  await expect.poll(() => existsSync(join(dir, 'daemon.lock')), { timeout: 20_000 }).toBe(true);
  return { pid: run.child.pid ?? 0, stop: run.stop };
}

describe('ui while a worker already runs on the config', () => {
  it('attaches to the running worker’s dashboard instead of starting a second worker', async () => {
    const worker = await runningWorker();
    try {
      const dir = h!.configDir;
      await expect.poll(() => existsSync(join(dir, 'dashboard.json')), { timeout: 20_000 }).toBe(true);
      const ui = await runCli(['--config-dir', dir, 'ui', '--no-open'], {
        STUDIO_WORKER_LOCAL_API_PORT: '0',
        STUDIO_WORKER_STREAM_PORT: '0',
      });
      expect(ui.stderr).toBe('');
      expect(ui.code).toBe(0);
      expect(ui.stdout).toContain(
        `A worker already runs on this config (pid ${worker.pid}); attached to its dashboard.`,
      );
      const url = /Dashboard: (\S+)/.exec(ui.stdout)?.[1] ?? '';
      const published = JSON.parse(await readFile(join(dir, 'dashboard.json'), 'utf8')) as { url: string };
      expect(url.startsWith(published.url)).toBe(true);
      // The URL carries the token: the running worker's API answers with its own status.
      const token = new URL(url).searchParams.get('token') ?? '';
      const status = await fetch(new URL('api/status', published.url), {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(status.status).toBe(200);
      expect(JSON.stringify(await status.json())).toContain(
        h!.studio.admin.listWorkers()[0]?.workerId ?? '?',
      );
      // Still one worker on this config, and the running one still holds it.
      expect((JSON.parse(await readFile(join(dir, 'daemon.lock'), 'utf8')) as { pid: number }).pid).toBe(
        worker.pid,
      );
    } finally {
      await worker.stop();
    }
    expect(existsSync(join(h!.configDir, 'dashboard.json'))).toBe(false);
  });

  it('exits 7 naming the holder when that worker serves no dashboard (run --no-dashboard)', async () => {
    const worker = await runningWorker(['--no-dashboard']);
    try {
      const ui = await runCli(['--config-dir', h!.configDir, 'ui', '--no-open'], {
        STUDIO_WORKER_LOCAL_API_PORT: '0',
        STUDIO_WORKER_STREAM_PORT: '0',
      });
      expect(ui.code).toBe(7);
      expect(ui.stderr).toContain(`another studio-worker (pid ${worker.pid}`);
      expect(existsSync(join(h!.configDir, 'dashboard.json'))).toBe(false);
    } finally {
      await worker.stop();
    }
  });

  it('run goes on without a dashboard when it cannot have one (its token cannot be read), and says why', async () => {
    h = await startHarness({ config: { dashboardPort: await freeLoopbackPort() } });
    const workerId = await h.register();
    await mkdir(join(h.configDir, 'dashboard-token')); // a folder where the token file should be
    const run = startRun(h.configDir);
    try {
      await expect.poll(() => run.stderr(), { timeout: 20_000 }).toContain('dashboard off: ');
      await expect
        .poll(() => h!.studio.admin.listWorkers().some((w) => w.workerId === workerId && w.welcomed), {
          timeout: 20_000,
        })
        .toBe(true);
      expect(existsSync(join(h.configDir, 'dashboard.json'))).toBe(false);
    } finally {
      await run.stop();
    }
  });
});
