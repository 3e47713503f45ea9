import { readFileSync } from 'node:fs';
import { mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pidAlive, sleep, toError } from '../util/index.js';

/** Beside config.toml, as the original's: one worker per config folder. */
export const LOCK_FILE = 'daemon.lock';
/** The running worker's pid, for operators (the original writes it too). */
export const PID_FILE = 'daemon.pid';
const UNREADABLE_STALE_MS = 2000;

interface LockRecord {
  pid: number;
  hostname: string;
  startedAt: string;
  /** Linux's boot id: a pid recorded before a reboot names another process now. */
  bootId?: string;
}

export interface HeldLock {
  path: string;
  release: () => Promise<void>;
}

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

async function readRecord(path: string): Promise<LockRecord | undefined> {
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
 * Takes `<dir>/daemon.lock` for this process: created exclusively, so of two workers started on
 * one config only one gets it. A lock left by a process that no longer runs (kill -9, a crash, a
 * reboot) is taken over. Throws LockHeldError while a live worker holds it, unless `wait`, which
 * waits for it to go (checking every `pollMs`) until `signal` aborts.
 */
export async function acquireDaemonLock(
  dir: string,
  opts: {
    wait?: boolean;
    pollMs?: number;
    signal?: AbortSignal;
    onStale?: (r: LockRecord) => void;
    onWait?: (r: LockRecord) => void;
  } = {},
): Promise<HeldLock> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, LOCK_FILE);
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
      await writeFile(join(dir, PID_FILE), `${process.pid}\n`, { mode: 0o600 }).catch(() => undefined);
      return {
        path,
        release: async () => {
          const now = await readRecord(path);
          if (now?.pid === process.pid) {
            await rm(path, { force: true });
            await rm(join(dir, PID_FILE), { force: true });
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw toError(e);
    }
    const holder = await readRecord(path);
    if (!holder) {
      // Being written this very moment by another starting worker, or left half-written by a crash:
      // only an old one is taken over.
      const age = Date.now() - ((await stat(path).catch(() => undefined))?.mtimeMs ?? 0);
      if (age > UNREADABLE_STALE_MS) await rm(path, { force: true });
      else await sleep(50, opts.signal);
      continue;
    }
    if (!holderAlive(holder)) {
      // Left by a worker that no longer runs: look once more, then take it over.
      const again = await readRecord(path);
      if (JSON.stringify(again) === JSON.stringify(holder)) {
        opts.onStale?.(holder);
        await rm(path, { force: true });
      }
      continue;
    }
    if (!opts.wait) throw new LockHeldError(dir, holder);
    if (!waitingSaid) opts.onWait?.(holder);
    waitingSaid = true;
    await sleep(opts.pollMs ?? 1000, opts.signal);
  }
}
