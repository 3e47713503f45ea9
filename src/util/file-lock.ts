import { readFileSync } from 'node:fs';
import { open, readFile, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { toError } from './errors.js';
import { pidAlive } from './files.js';
import { sleep } from './timers.js';

/** What a lock file says about the process holding it. */
export interface LockRecord {
  pid: number;
  hostname: string;
  startedAt: string;
  /** Linux's boot id: a pid recorded before a reboot names another process now. */
  bootId?: string;
}

export interface HeldLock {
  path: string;
  /** Removes the lock file if it is still this process's; answers whether it was. */
  release: () => Promise<boolean>;
}

export interface FileLockOptions {
  /** Wait for a live holder to let go (checking every `pollMs`) instead of throwing FileLockHeldError. */
  wait?: boolean;
  pollMs?: number;
  signal?: AbortSignal;
  /** A dead holder's lock is about to be taken over. */
  onStale?: (holder: LockRecord) => void;
  /** Once, when waiting for a live holder begins. */
  onWait?: (holder: LockRecord) => void;
}

/** A live process holds the lock file (and `wait` was not asked). */
export class FileLockHeldError extends Error {
  override readonly name = 'FileLockHeldError';
  constructor(
    readonly path: string,
    readonly holder: LockRecord,
  ) {
    super(`${path} is held by pid ${holder.pid} (since ${holder.startedAt})`);
  }
}

const UNREADABLE_STALE_MS = 2000;

function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Whether the recorded holder is still a running process on this machine (and this boot). */
function holderAlive(record: LockRecord): boolean {
  if (record.hostname !== hostname()) return true; // another machine's (a shared folder): never taken over
  const boot = bootId();
  if (record.bootId && boot && record.bootId !== boot) return false;
  return pidAlive(record.pid);
}

export async function readLockRecord(path: string): Promise<LockRecord | undefined> {
  try {
    const r = JSON.parse(await readFile(path, 'utf8')) as Partial<LockRecord>;
    if (typeof r.pid !== 'number') return undefined;
    return {
      pid: r.pid,
      hostname: typeof r.hostname === 'string' ? r.hostname : hostname(),
      startedAt: typeof r.startedAt === 'string' ? r.startedAt : 'at an unknown time',
      ...(typeof r.bootId === 'string' ? { bootId: r.bootId } : {}),
    };
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock file at `path` for this process, across processes: created exclusively, so of two
 * takers only one gets it. A lock left by a process that no longer runs (kill -9, a crash, a
 * reboot) is taken over. The folder must exist.
 */
export async function acquireFileLock(path: string, opts: FileLockOptions = {}): Promise<HeldLock> {
  const boot = bootId();
  const mine: LockRecord = {
    pid: process.pid,
    hostname: hostname(),
    startedAt: new Date().toISOString(),
    ...(boot ? { bootId: boot } : {}),
  };
  let waitingSaid = false;
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      const handle = await open(path, 'wx', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(mine)}\n`);
      } finally {
        await handle.close();
      }
      return {
        path,
        release: async () => {
          if ((await readLockRecord(path))?.pid !== process.pid) return false;
          await rm(path, { force: true });
          return true;
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw toError(e);
    }
    const holder = await readLockRecord(path);
    if (!holder) {
      // Being written this very moment by another taker, or left half-written by a crash: only an
      // old one is taken over.
      const age = Date.now() - ((await stat(path).catch(() => undefined))?.mtimeMs ?? 0);
      if (age > UNREADABLE_STALE_MS) await rm(path, { force: true });
      else await sleep(50, opts.signal);
      continue;
    }
    if (!holderAlive(holder)) {
      // Left by a process that no longer runs: look once more, then take it over.
      const again = await readLockRecord(path);
      if (JSON.stringify(again) === JSON.stringify(holder)) {
        opts.onStale?.(holder);
        await rm(path, { force: true });
      }
      continue;
    }
    if (!opts.wait) throw new FileLockHeldError(path, holder);
    if (!waitingSaid) opts.onWait?.(holder);
    waitingSaid = true;
    await sleep(opts.pollMs ?? 1000, opts.signal);
  }
}
