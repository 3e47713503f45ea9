import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { acquireFileLock, FileLockHeldError, holdOsLock } from '../util/index.js';
import type { FileLockOptions, HeldLock, LockRecord, OsLockHolder } from '../util/index.js';

export type { HeldLock } from '../util/index.js';

/** Beside config.toml, as the original's: one worker per config folder. */
export const LOCK_FILE = 'daemon.lock';
/** The running worker's pid, for operators (the original writes it too). */
export const PID_FILE = 'daemon.pid';
/** Who holds `daemon.lock` with an OS lock and no record: the original (Rust) worker's daemon. */
const ORIGINAL_DAEMON = 'the original studio-worker daemon';

/** Another live worker holds the config folder. */
export class LockHeldError extends Error {
  override readonly name = 'LockHeldError';
  constructor(
    readonly dir: string,
    readonly holder: LockRecord,
  ) {
    const pid = holder.pid > 0 ? `pid ${holder.pid}` : 'pid unknown';
    const who = holder.foreign
      ? `${holder.foreign} (${pid}, holding an OS lock on ${LOCK_FILE})`
      : `another studio-worker (${pid}${holder.hostname === hostname() ? '' : ` on ${holder.hostname}`}, ` +
        `started ${holder.startedAt})`;
    super(
      `${who} already runs on the config in ${dir}: ` +
        'stop it first, or start this one with --wait-for-lock to take over when it stops',
    );
  }
}

/**
 * Takes `<dir>/daemon.lock` for this process and keeps it fresh: of two workers started on one
 * config only one gets it, and a lock whose holder is gone (killed, its container or pod replaced,
 * the machine rebooted) is taken over within ~15 s, at once where its pid is seen dead (see
 * acquireFileLock). A live original daemon, which holds the file with an OS lock, is never run
 * beside. Throws LockHeldError while a live worker holds it, unless `wait`, which waits for it to go
 * until `signal` aborts.
 */
export async function acquireDaemonLock(dir: string, opts: FileLockOptions = {}): Promise<HeldLock> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let lock: HeldLock;
  try {
    lock = await acquireFileLock(join(dir, LOCK_FILE), {
      describeOsHolder: (found) => originalDaemon(dir, found),
      ...opts,
    });
  } catch (e) {
    if (e instanceof FileLockHeldError) throw new LockHeldError(dir, e.holder);
    throw e;
  }
  await writeFile(join(dir, PID_FILE), `${process.pid}\n`, { mode: 0o600 }).catch(() => undefined);
  // The OS lock the original takes too: an original daemon started beside this one finds it held.
  const osLock = holdOsLock(lock.path);
  return {
    path: lock.path,
    release: async () => {
      osLock.release();
      const ours = await lock.release();
      if (ours) await rm(join(dir, PID_FILE), { force: true });
      return ours;
    },
  };
}

/**
 * The original writes its pid to daemon.pid (earlier versions into daemon.lock itself) once it has
 * the lock; the kernel's lock table names it too where it can see it.
 */
async function originalDaemon(dir: string, found: OsLockHolder): Promise<LockRecord> {
  const pidIn = async (file: string) => {
    const text = await readFile(join(dir, file), 'utf8').catch(() => '');
    return /^\s*\d+\s*$/.test(text) ? Number(text) : 0;
  };
  const pid = found.pid ?? ((await pidIn(PID_FILE)) || (await pidIn(LOCK_FILE)));
  return { pid, hostname: hostname(), startedAt: 'at an unknown time', foreign: ORIGINAL_DAEMON };
}
