import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LockRecord } from '../../src/util/index.js';
import type { Harness } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

import { CLI, runEnv } from '../support/cli.js';
const UNSHARE = ['--pid', '--fork', '--mount-proc', '--uts'];
const canUnshare =
  process.platform === 'linux' &&
  spawnSync('unshare', [...UNSHARE, 'hostname', 'probe'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
const skipped = canUnshare ? '' : ' (skipped: unshare with new PID and UTS namespaces needs root on Linux)';

let h: Harness | undefined;
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await h?.close();
  h = undefined;
});

interface Container {
  /** Everything its worker logged. */
  stderr: () => string;
  /** Resolves with the worker's exit code (or null when killed). */
  exited: Promise<number | null>;
  /** `kill -9` of the container's PID 1 (the worker), as the OOM killer or a forced stop does. */
  kill9: () => Promise<void>;
}

/**
 * `run` as PID 1 of a fresh container, the way deploy/ runs it: new PID, mount (/proc) and UTS
 * namespaces, with its own hostname, on the shared config folder.
 */
function container(name: string, configDir: string, env: NodeJS.ProcessEnv = {}): Container {
  const child = spawn(
    'unshare',
    [
      ...UNSHARE,
      'sh',
      '-c',
      'hostname "$0" && exec "$@"',
      name,
      process.execPath,
      CLI,
      '--config-dir',
      configDir,
      'run',
    ],
    {
      env: runEnv(env),
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  children.push(child);
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // The namespace's PID 1 is unshare's only child; this is its pid out here.
  const pid1 = async () =>
    Number((await readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8')).trim().split(/\s+/)[0]);
  return {
    stderr: () => stderr,
    exited,
    kill9: async () => {
      process.kill(await pid1(), 'SIGKILL');
      await exited;
    },
  };
}

async function holder(configDir: string): Promise<LockRecord | undefined> {
  try {
    return JSON.parse(await readFile(join(configDir, 'daemon.lock'), 'utf8')) as LockRecord;
  } catch {
    return undefined;
  }
}

/** Resolves with the record once a worker other than `previous` holds the config as PID 1 of `name`. */
async function heldBy(
  configDir: string,
  name: string,
  previous?: LockRecord,
  timeout = 20_000,
): Promise<LockRecord> {
  await expect
    .poll(
      async () => {
        const r = await holder(configDir);
        return r?.pid === 1 && r.hostname === name && r.startedAt !== previous?.startedAt;
      },
      { timeout, interval: 100 },
    )
    .toBe(true);
  return (await holder(configDir))!;
}

describe.skipIf(!canUnshare)(`a worker killed with kill -9 as PID 1 of a container${skipped}`, () => {
  it('comes back in a new container on the same hostname within 30 s (the real ~15 s rule)', async () => {
    h = await startHarness();
    await h.register();
    const first = container('worker-0', h.configDir);
    const was = await heldBy(h.configDir, 'worker-0');
    await first.kill9();
    const killedAt = Date.now();
    // PID 1 again, same hostname, same kernel: "pid 1 is alive" is this new worker itself.
    const next = container('worker-0', h.configDir);
    await heldBy(h.configDir, 'worker-0', was, 30_000);
    expect(Date.now() - killedAt).toBeLessThan(30_000);
    expect(next.stderr()).toContain('taking over daemon.lock from pid 1');
    await next.kill9();
  }, 60_000);

  it('comes back as a rescheduled pod under another hostname, and is refused while the first lives', async () => {
    h = await startHarness();
    await h.register();
    const env = { STUDIO_WORKER_LOCK_STALE_MS: '2000' };
    const first = container('pod-a', h.configDir, env);
    const was = await heldBy(h.configDir, 'pod-a');
    // A live worker in another container keeps the lock fresh: the second exits 7 naming it.
    const refused = container('pod-b', h.configDir, env);
    expect(await refused.exited).toBe(7);
    expect(refused.stderr()).toContain('another studio-worker (pid 1 on pod-a, started');
    await first.kill9();
    const killedAt = Date.now();
    const next = container('pod-b', h.configDir, env);
    await heldBy(h.configDir, 'pod-b', was, 30_000);
    expect(Date.now() - killedAt).toBeLessThan(30_000);
    await next.kill9();
  }, 60_000);
});
