import { readFileSync, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';

/** What a lock file says about the process holding it. */
export interface LockRecord {
  pid: number;
  hostname: string;
  startedAt: string;
  /** Linux's boot id: a pid recorded before a reboot names another process now. */
  bootId?: string;
  /**
   * Linux's pid namespace: a pid names the same process only inside it. A container restarted on
   * the same hostname and kernel is another namespace, where pid 1 is the new worker.
   */
  pidNs?: string;
  /**
   * Set (never written) when the holder keeps no record and holds the file with an OS lock instead:
   * who that is, for messages (the original worker's daemon).
   */
  foreign?: string;
}

function readOnce(read: () => string): () => string | undefined {
  let value: string | undefined | null = null;
  return () => {
    if (value === null) {
      try {
        value = read().trim() || undefined;
      } catch {
        value = undefined;
      }
    }
    return value;
  };
}

const bootId = readOnce(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8'));
const pidNs = readOnce(() => readlinkSync('/proc/self/ns/pid'));

/** This process's record, as it goes into a lock file it takes. */
export function ownRecord(): LockRecord {
  const boot = bootId();
  const ns = pidNs();
  return {
    pid: process.pid,
    hostname: hostname(),
    startedAt: new Date().toISOString(),
    ...(boot ? { bootId: boot } : {}),
    ...(ns ? { pidNs: ns } : {}),
  };
}

/**
 * Whether `record`'s pid can be checked from here: the same host, boot and pid namespace. (A
 * namespace's id can be reused once it is gone, but never while two are alive, so a match with a
 * dead pid still means the holder is gone.)
 */
export function sameProcessView(record: LockRecord): boolean {
  return record.hostname === hostname() && record.bootId === bootId() && record.pidNs === pidNs();
}

/** The record in a lock file, or undefined when it holds none (being written, or another program's). */
export async function readLockRecord(path: string): Promise<LockRecord | undefined> {
  try {
    return parseLockRecord(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
}

export function parseLockRecord(text: string): LockRecord | undefined {
  try {
    const r = JSON.parse(text) as Partial<LockRecord> | null;
    if (typeof r?.pid !== 'number') return undefined;
    return {
      pid: r.pid,
      hostname: typeof r.hostname === 'string' ? r.hostname : hostname(),
      startedAt: typeof r.startedAt === 'string' ? r.startedAt : 'at an unknown time',
      ...(typeof r.bootId === 'string' ? { bootId: r.bootId } : {}),
      ...(typeof r.pidNs === 'string' ? { pidNs: r.pidNs } : {}),
    };
  } catch {
    return undefined;
  }
}

/** Stale-after default: STUDIO_WORKER_LOCK_STALE_MS (tests shorten it), else 15 s. */
export function defaultStaleMs(): number {
  const env = Number(process.env.STUDIO_WORKER_LOCK_STALE_MS);
  return Number.isFinite(env) && env >= 100 ? env : 15_000;
}
