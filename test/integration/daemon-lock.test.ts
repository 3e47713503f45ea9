import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireDaemonLock, LockHeldError } from '../../src/worker/index.js';
import type { Harness } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

const CLI = join(import.meta.dirname, '../../dist/cli/main.js');
let h: Harness | undefined;
let dir: string | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** The pid of a process that has exited (a kill -9'd worker's, as the lock file keeps it). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  return Number(r.stdout);
}

describe('one worker per config folder (daemon.lock)', () => {
  it('lets one process hold the lock, names the holder to a second, and frees it on release', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sw-lock-'));
    const held = await acquireDaemonLock(dir);
    expect(JSON.parse(await readFile(join(dir, 'daemon.lock'), 'utf8'))).toMatchObject({
      pid: process.pid,
      hostname: hostname(),
    });
    expect((await readFile(join(dir, 'daemon.pid'), 'utf8')).trim()).toBe(String(process.pid));
    const second = await acquireDaemonLock(dir).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(LockHeldError);
    expect(String((second as Error).message)).toMatch(
      /another studio-worker \(pid \d+, started .*\) already runs on the config in .*--wait-for-lock/,
    );
    await held.release();
    expect(existsSync(join(dir, 'daemon.lock'))).toBe(false);
    await (await acquireDaemonLock(dir)).release();
  });

  it('takes over a lock left by a process that no longer runs (kill -9), and says so', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sw-lock-'));
    const pid = deadPid();
    await writeFile(
      join(dir, 'daemon.lock'),
      JSON.stringify({ pid, hostname: hostname(), startedAt: '2026-12-01T00:00:00.000Z' }),
    );
    const stale: number[] = [];
    const held = await acquireDaemonLock(dir, { onStale: (r) => stale.push(r.pid) });
    expect(stale).toEqual([pid]);
    await held.release();
  });

  it('waits for the holder to go with --wait-for-lock', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sw-lock-'));
    const first = await acquireDaemonLock(dir);
    const waiting: number[] = [];
    const second = acquireDaemonLock(dir, { wait: true, pollMs: 20, onWait: (r) => waiting.push(r.pid) });
    setTimeout(() => void first.release(), 200);
    await (await second).release();
    expect(waiting).toEqual([process.pid]);
  });

  it('two `run`s on one config cannot both take jobs: the second exits 7; after a kill -9 the next one takes over', async () => {
    h = await startHarness();
    const workerId = await h.register();
    const env = { ...process.env, LOG_LEVEL: 'warn', STUDIO_WORKER_LOCAL_API_PORT: '0' };
    const first = spawn(process.execPath, [CLI, '--config-dir', h.configDir, 'run'], {
      env,
      stdio: 'ignore',
    });
    try {
      await expect.poll(() => existsSync(join(h!.configDir, 'daemon.lock')), { timeout: 20_000 }).toBe(true);
      const second = await new Promise<{ code: number; stderr: string }>((resolve) =>
        execFile(
          process.execPath,
          [CLI, '--config-dir', h!.configDir, 'run'],
          { env, timeout: 30_000 },
          (err, _o, stderr) =>
            resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr }),
        ),
      );
      expect(second.code).toBe(7);
      expect(second.stderr.trim().split('\n')).toHaveLength(1);
      expect(second.stderr).toContain(`another studio-worker (pid ${first.pid}`);
      expect(
        h.studio.admin.listWorkers().filter((x) => x.workerId === workerId && x.welcomed).length,
      ).toBeLessThanOrEqual(1);
    } finally {
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
    }
    const third = spawn(process.execPath, [CLI, '--config-dir', h.configDir, 'run'], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    third.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      await expect
        .poll(() => stderr, { timeout: 20_000 })
        .toContain(`taking over daemon.lock from pid ${first.pid}`);
      await expect
        .poll(
          async () =>
            (JSON.parse(await readFile(join(h!.configDir, 'daemon.lock'), 'utf8')) as { pid: number }).pid,
          { timeout: 20_000 },
        )
        .toBe(third.pid);
    } finally {
      third.kill('SIGTERM');
      await new Promise((r) => third.once('exit', r));
    }
    expect(existsSync(join(h.configDir, 'daemon.lock'))).toBe(false);
  });
});
