import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Harness } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const CLI = join(import.meta.dirname, '../../dist/cli/main.js');

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('results are never lost', () => {
  it('retries an upload that fails twice, then delivers it and empties the outbox', async () => {
    h = await startHarness();
    const w = h.startWorker();
    await w.next('session:welcomed');
    h.studio.admin.failNextUploads(2, 503);
    const retries: number[] = [];
    w.worker.events.on('upload:retrying', (e) => retries.push(e.attempt));
    const job = h.studio.admin.enqueueJob({ task: { kind: 'image', prompt: 'p', width: 32, height: 32 } });
    const completed = w.next('job:completed', (e) => e.jobId === job.jobId);
    const done = await h.studio.admin.waitForJob(job.jobId);
    expect(done.status).toBe('completed');
    await completed;
    expect(retries).toEqual([1, 2]);
    expect(h.logText()).toMatch(/503/);
    // While it runs, the delivered result's files are kept as temp files to write the next one over.
    const left = (await readdir(join(h.configDir, 'outbox'))).filter(
      (f) => !f.startsWith('rejected') && !f.startsWith('.tmp-'),
    );
    expect(left).toEqual([]);
    await w.stop();
    expect(await readdir(join(h.configDir, 'outbox'))).toEqual([]);
  });

  it('delivers a result left in the outbox by a killed worker when it starts again', async () => {
    h = await startHarness();
    await h.register();
    // First run: a real worker process whose uploads all fail, killed once its result is on disk.
    h.studio.admin.failNextUploads(1_000, 500);
    const child = spawn(process.execPath, [CLI, '--config-dir', h.configDir, '--log-level', 'warn', 'run'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise((r) => child.once('exit', r));
    try {
      await waitFor(
        () => Promise.resolve(h!.studio.admin.listWorkers().some((x) => x.welcomed) ? true : undefined),
        `the worker process to connect (stderr: ${stderr})`,
      );
      const job = h.studio.admin.enqueueJob({
        task: { kind: 'image', prompt: 'keep me', width: 48, height: 48 },
      });
      await waitFor(async () => {
        const files = await readdir(join(h!.configDir, 'outbox')).catch(() => []);
        return files.some((f) => f.endsWith('.json')) ? true : undefined;
      }, 'the result to reach the outbox');
      child.kill('SIGKILL');
      await exited;
      expect(h.studio.admin.getJob(job.jobId)?.status).not.toBe('completed');

      // Second run: the studio takes uploads again; the leftover is delivered.
      h.studio.admin.failNextUploads(0);
      const w = h.startWorker();
      const done = await h.studio.admin
        .waitForJob(job.jobId, { timeoutMs: 15_000, until: (j) => j.status === 'completed' })
        .catch((e: unknown) => {
          console.log(h!.logText());
          throw e;
        });
      expect(done.status).toBe('completed');
      await w.stop();
      const left = (await readdir(join(h.configDir, 'outbox'))).filter((f) => f !== 'rejected');
      expect(left).toEqual([]);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
