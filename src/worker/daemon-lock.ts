import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireFileLock, FileLockHeldError } from '../util/index.js';
import type { FileLockOptions, HeldLock, LockRecord } from '../util/index.js';

export type { HeldLock } from '../util/index.js';

/** Beside config.toml, as the original's: one worker per config folder. */
export const LOCK_FILE = 'daemon.lock';
/** The running worker's pid, for operators (the original writes it too). */
export const PID_FILE = 'daemon.pid';

/** Another live worker holds the config folder. */
export class LockHeldError extends Error {
  override readonly name = 'LockHeldError';
  constructor(
    readonly dir: string,
    readonly holder: LockRecord,
  ) {
    super(
      `another studio-worker (pid ${holder.pid}, started ${holder.startedAt}) already runs on the config in ${dir}: ` +
        'stop it first, or start this one with --wait-for-lock to take over when it stops',
    );
  }
}

/**
 * Takes `<dir>/daemon.lock` for this process: of two workers started on one config only one gets
 * it, and a lock left by a worker that no longer runs is taken over (see acquireFileLock). Throws
 * LockHeldError while a live worker holds it, unless `wait`, which waits for it to go until
 * `signal` aborts.
 */
export async function acquireDaemonLock(dir: string, opts: FileLockOptions = {}): Promise<HeldLock> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let lock: HeldLock;
  try {
    lock = await acquireFileLock(join(dir, LOCK_FILE), opts);
  } catch (e) {
    if (e instanceof FileLockHeldError) throw new LockHeldError(dir, e.holder);
    throw e;
  }
  await writeFile(join(dir, PID_FILE), `${process.pid}\n`, { mode: 0o600 }).catch(() => undefined);
  return {
    path: lock.path,
    release: async () => {
      const ours = await lock.release();
      if (ours) await rm(join(dir, PID_FILE), { force: true });
      return ours;
    },
  };
}
