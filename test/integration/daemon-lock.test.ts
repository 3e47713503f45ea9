import { execFile, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ownRecord } from '../../src/util/lock-record.js';
import { acquireFileLock, FileLockHeldError } from '../../src/util/index.js';
import type { LockRecord } from '../../src/util/index.js';
import { acquireDaemonLock, LockHeldError } from '../../src/worker/index.js';
import type { Harness } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

import { CLI } from '../support/cli.js';
const haveFlock = spawnSync('flock', ['--version']).status === 0;
let h: Harness | undefined;
let dir: string | undefined;
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
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

async function writeLock(path: string, record: LockRecord | string, ageMs = 0): Promise<void> {
  await writeFile(path, typeof record === 'string' ? record : JSON.stringify(record));
  const at = new Date(Date.now() - ageMs);
  if (ageMs) await utimes(path, at, at);
}

/** The original (Rust) daemon, played the way it holds its lock: flock(LOCK_EX) on daemon.lock, its pid in daemon.pid. */
async function originalDaemon(configDir: string, lockText = ''): Promise<ChildProcess> {
  const lock = join(configDir, 'daemon.lock');
  await writeFile(lock, lockText, { flag: 'a' });
  const child = spawn('flock', ['--no-fork', '--nonblock', lock, 'sleep', '600'], { stdio: 'ignore' });
  children.push(child);
  await writeFile(join(configDir, 'daemon.pid'), `${child.pid}\n`);
  await expect
    .poll(async () => (await readFile('/proc/locks', 'utf8')).includes(` ${child.pid} `), { timeout: 5000 })
    .toBe(true);
  return child;
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

  it('keeps its lock fresh while it holds it, so a holder gone quiet is a holder gone', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sw-lock-'));
    const path = join(dir, 'daemon.lock');
    const held = await acquireFileLock(path, { staleMs: 600 });
    const old = new Date(Date.now() - 60_000);
    await utimes(path, old, old);
    // Rewritten every staleMs/3 (200 ms), the file's age starts over.
    await expect
      .poll(async () => Date.now() - (await stat(path)).mtimeMs, { timeout: 2000 })
      .toBeLessThan(1000);
    // Fresh, and held by this very process: refused, however long the second one looks.
    await expect(acquireFileLock(path, { staleMs: 600 })).rejects.toBeInstanceOf(FileLockHeldError);
    expect(await held.release()).toBe(true);
  });

  it('says so when its lock was taken from it, and then leaves the new holder’s file alone', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sw-lock-'));
    const path = join(dir, 'daemon.lock');
    const lost: string[] = [];
    const held = await acquireFileLock(path, { staleMs: 300, onCompromised: (e) => lost.push(e.message) });
    // Taken over while this process could not refresh it (its event loop blocked past staleMs, say).
    await rm(path);
    await writeLock(path, { ...ownRecord(), hostname: 'elsewhere' });
    await expect
      .poll(() => lost, { timeout: 2000 })
      .toEqual([`${path} was taken over by another process: this one no longer holds it`]);
    expect(await held.release()).toBe(false);
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({ hostname: 'elsewhere' });
  });

  it('takes over at once a lock whose holder on this machine no longer runs (kill -9), and says so', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sw-lock-'));
    const pid = deadPid();
    await writeLock(join(dir, 'daemon.lock'), { ...ownRecord(), pid, startedAt: '2026-12-01T00:00:00.000Z' });
    const stale: string[] = [];
    const started = Date.now();
    const held = await acquireDaemonLock(dir, { onStale: (r, why) => stale.push(`${r.pid}: ${why}`) });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(stale).toEqual([`${pid}: it no longer runs`]);
    await held.release();
  });

  // A container restarted on the same config: its worker is pid 1 again, maybe under another
  // hostname; a host rebooted: its pids start over. None of these pids can be checked from here.
  const unverifiable: [string, () => LockRecord][] = [
    [
      'names this process’s own pid (a restarted container’s pid 1)',
      () => ({ ...ownRecord(), pidNs: 'pid:[1]' }),
    ],
    ['names this process’s own pid in this very pid namespace', () => ownRecord()],
    ['names another hostname', () => ({ ...ownRecord(), pid: process.ppid, hostname: 'pod-gone-7f9c' })],
    ['names an earlier boot', () => ({ ...ownRecord(), pid: process.ppid, bootId: 'an-earlier-boot' })],
  ];
  it.each(unverifiable)('never blocks on a record that %s once it is not refreshed', async (_, record) => {
    dir = await mkdtemp(join(tmpdir(), 'sw-lock-'));
    const path = join(dir, 'daemon.lock');
    // Left long ago: taken over at once.
    await writeLock(path, record(), 60_000);
    let reasons: string[] = [];
    let started = Date.now();
    let held = await acquireDaemonLock(dir, { staleMs: 800, onStale: (_r, why) => reasons.push(why) });
    expect(Date.now() - started).toBeLessThan(800);
    expect(reasons).toEqual([expect.stringMatching(/^not refreshed for \d+ s$/)]);
    await held.release();
    // Left just now (the holder was killed a moment ago): taken over once it is stale, not before.
    await writeLock(path, record());
    reasons = [];
    started = Date.now();
    held = await acquireDaemonLock(dir, { staleMs: 800, onStale: (_r, why) => reasons.push(why) });
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(reasons).toHaveLength(1);
    await held.release();
  });

  it('refuses a lock another host keeps fresh, naming that host', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sw-lock-'));
    const path = join(dir, 'daemon.lock');
    const record = { ...ownRecord(), pid: 4242, hostname: 'gpu-node-2' };
    // Another machine's worker on a shared folder, as this one sees it: a file rewritten every 200 ms.
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const fs=require('fs');const w=()=>fs.writeFileSync(${JSON.stringify(path)},${JSON.stringify(JSON.stringify(record))});w();setInterval(w,200)`,
      ],
      { stdio: 'ignore' },
    );
    children.push(holder);
    await expect.poll(() => existsSync(path)).toBe(true);
    const refused = await acquireDaemonLock(dir, { staleMs: 900 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(LockHeldError);
    expect((refused as Error).message).toContain('another studio-worker (pid 4242 on gpu-node-2, started');
    holder.kill('SIGKILL');
    await (await acquireDaemonLock(dir, { staleMs: 900 })).release();
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

  it.skipIf(!haveFlock)(
    `respects a live original (Rust) daemon's OS lock, even on a lock file of ours, and takes over once it is gone${haveFlock ? '' : ' (skipped: no flock(1) to play it)'}`,
    async () => {
      dir = await mkdtemp(join(tmpdir(), 'sw-lock-'));
      const path = join(dir, 'daemon.lock');
      // An old record of ours that the original opened and locked when it started.
      await writeLock(path, { ...ownRecord(), pid: deadPid() }, 60_000);
      const original = await originalDaemon(dir);
      const refused = await acquireDaemonLock(dir).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(LockHeldError);
      expect((refused as Error).message).toContain(
        `the original studio-worker daemon (pid ${original.pid}, holding an OS lock on daemon.lock) already runs`,
      );
      original.kill('SIGKILL');
      await new Promise((r) => original.once('exit', r));
      const held = await acquireDaemonLock(dir);
      expect((await readFile(join(dir, 'daemon.pid'), 'utf8')).trim()).toBe(String(process.pid));
      await held.release();
    },
  );

  it.skipIf(!haveFlock)(
    `\`run\` exits 7 naming a live original daemon on the config (its daemon.lock and daemon.pid), and runs once it has stopped${haveFlock ? '' : ' (skipped: no flock(1) to play it)'}`,
    async () => {
      h = await startHarness();
      await h.register();
      // Earlier versions of the original wrote their pid into daemon.lock too.
      const original = await originalDaemon(h.configDir, `${process.ppid}\n`);
      const env = {
        ...process.env,
        LOG_LEVEL: 'warn',
        STUDIO_WORKER_LOCAL_API_PORT: '0',
        STUDIO_WORKER_STREAM_PORT: '0',
      };
      const refused = await new Promise<{ code: number; stderr: string }>((resolve) =>
        execFile(
          process.execPath,
          [CLI, '--config-dir', h!.configDir, 'run'],
          { env, timeout: 30_000 },
          (err, _o, stderr) =>
            resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr }),
        ),
      );
      expect(refused.code).toBe(7);
      expect(refused.stderr).toContain(`the original studio-worker daemon (pid ${original.pid}`);
      original.kill('SIGKILL');
      await new Promise((r) => original.once('exit', r));
      const next = spawn(process.execPath, [CLI, '--config-dir', h.configDir, 'run'], {
        env,
        stdio: 'ignore',
      });
      children.push(next);
      await expect
        .poll(async () => (await readFile(join(h!.configDir, 'daemon.pid'), 'utf8')).trim(), {
          timeout: 20_000,
        })
        .toBe(String(next.pid));
      next.kill('SIGTERM');
      await new Promise((r) => next.once('exit', r));
    },
  );

  it('two `run`s on one config cannot both take jobs: the second exits 7; after a kill -9 the next one takes over', async () => {
    h = await startHarness();
    const workerId = await h.register();
    const env = {
      ...process.env,
      LOG_LEVEL: 'warn',
      STUDIO_WORKER_LOCAL_API_PORT: '0',
      STUDIO_WORKER_STREAM_PORT: '0',
    };
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

  it('a SIGTERM the moment daemon.lock appears (the worker still starting) leaves no lock behind', async () => {
    h = await startHarness();
    await h.register();
    const env = {
      ...process.env,
      LOG_LEVEL: 'warn',
      STUDIO_WORKER_LOCAL_API_PORT: '0',
      STUDIO_WORKER_STREAM_PORT: '0',
    };
    const lockPath = join(h.configDir, 'daemon.lock');
    for (let i = 0; i < 3; i++) {
      const child = spawn(process.execPath, [CLI, '--config-dir', h.configDir, 'run'], {
        env,
        stdio: 'ignore',
      });
      children.push(child);
      // Asked as often as the event loop allows, so the signal lands inside the lock's own steps.
      while (!existsSync(lockPath) && child.exitCode === null) await new Promise((r) => setImmediate(r));
      child.kill('SIGTERM');
      const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>((r) =>
        child.once('exit', (c, sig) => r({ code: c, signal: sig })),
      );
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(existsSync(lockPath)).toBe(false);
    }
  });
});
