import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Harness } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

const CLI = join(import.meta.dirname, '../../dist/cli/main.js');

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('stopping a running worker process with SIGTERM', () => {
  it('lets the running job finish, flushes its logs, closes with 1000 and exits 0 (and serves the local API meanwhile)', async () => {
    h = await startHarness();
    const workerId = await h.register();

    const closes: number[] = [];
    h.studio.events.on('worker', (e) => {
      if (e.type === 'disconnected' && e.code !== undefined) closes.push(e.code);
    });
    const child = spawn(process.execPath, [CLI, '--config-dir', h.configDir, '--log-level', 'info', 'run'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      // Any free port: other tests' workers may hold 4787.
      env: { ...process.env, STUDIO_WORKER_LOCAL_API_PORT: '0', STUDIO_WORKER_STREAM_PORT: '0' },
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const discovery = join(h.configDir, 'local-api.json');
    try {
      await welcomed(h, workerId);
      const { url } = JSON.parse(await readFile(discovery, 'utf8')) as { url: string };
      expect(((await (await fetch(`${url}/healthz`)).json()) as { ok: boolean }).ok).toBe(true);
      const job = h.studio.admin.enqueueJob({
        task: {
          kind: 'video',
          prompt: 'slow enough to be running',
          seconds: 2,
          fps: 12,
          width: 256,
          height: 256,
        },
      });
      await h.studio.admin.waitForJob(job.jobId, { until: (j) => j.status === 'accepted' });
      closes.length = 0;
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
      expect(h.studio.admin.getJob(job.jobId).status).toBe('completed');
      expect(closes).toEqual([1000]);
      expect(stderr).toContain('SIGTERM');
      const shipped = h.studio.admin.workerLogs(workerId).map((e) => e.message);
      expect(shipped.some((m) => m.includes('SIGTERM'))).toBe(true);
      expect(existsSync(discovery)).toBe(false);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('exits at once with 130 on a second signal while the job is still finishing', async () => {
    h = await startHarness();
    const workerId = await h.register();
    const child = spawn(process.execPath, [CLI, '--config-dir', h.configDir, 'run'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await welcomed(h, workerId);
      const job = h.studio.admin.enqueueJob({
        task: { kind: 'video', prompt: 'slow', seconds: 4, fps: 12, width: 256, height: 256 },
      });
      await h.studio.admin.waitForJob(job.jobId, { until: (j) => j.status === 'accepted' });
      child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 100));
      child.kill('SIGTERM');
      expect(await exit).toBe(130);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

/** Resolves once the dev studio has welcomed `workerId` (the worker runs in another process). */
function welcomed(harness: Harness, workerId: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const check = () =>
      harness.studio.admin.listWorkers().some((x) => x.workerId === workerId && x.welcomed)
        ? resolve()
        : setTimeout(check, 50);
    check();
  });
}
