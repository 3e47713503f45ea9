import type { BigIntStats } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { toError } from './errors.js';
import { pidAlive } from './files.js';
import { defaultStaleMs, ownRecord, parseLockRecord, sameProcessView } from './lock-record.js';
import type { LockRecord } from './lock-record.js';
import { fileId, heldHere, keepFresh } from './lock-refresh.js';
import type { HeldLock } from './lock-refresh.js';
import { generation, removeIfUnchanged, sweepClaims } from './lock-takeover.js';
import { osLockHolder } from './os-lock.js';
import type { OsLockHolder } from './os-lock.js';
import { sleep } from './timers.js';

export { readLockRecord } from './lock-record.js';
export type { LockRecord } from './lock-record.js';
export type { HeldLock } from './lock-refresh.js';
export type { HeldOsLock, OsLockHolder } from './os-lock.js';
export { holdOsLock } from './os-lock.js';

export interface FileLockOptions {
  /** Wait for a live holder to let go (checking every `pollMs`) instead of throwing FileLockHeldError. */
  wait?: boolean;
  pollMs?: number;
  signal?: AbortSignal;
  /** A holder that has not refreshed its lock for this long is gone (default ~15 s; see defaultStaleMs). */
  staleMs?: number;
  /** With `wait`: give up with FileLockTimeoutError after waiting this long for a live holder. */
  maxWaitMs?: number;
  /** A gone holder's lock is about to be taken over, and why it counts as gone. */
  onStale?: (holder: LockRecord, reason: string) => void;
  /** Once, when waiting for a live holder begins. */
  onWait?: (holder: LockRecord) => void;
  /** The lock was taken from this process (it could not refresh it in time); default: a process warning. */
  onCompromised?: (error: Error) => void;
  /** Names a process that holds the file with an OS lock (see osLockHolder), for messages. */
  describeOsHolder?: (found: OsLockHolder, text: string) => Promise<LockRecord>;
}

/** A live process holds the lock file (and `wait` was not asked). */
export class FileLockHeldError extends Error {
  override readonly name = 'FileLockHeldError';
  constructor(
    readonly path: string,
    readonly holder: LockRecord,
  ) {
    super(`${path} is held by pid ${holder.pid} on ${holder.hostname} (since ${holder.startedAt})`);
  }
}

/** `maxWaitMs` went by while a live holder kept the lock. */
export class FileLockTimeoutError extends Error {
  override readonly name = 'FileLockTimeoutError';
  constructor(
    readonly path: string,
    readonly holder: LockRecord,
    readonly waitedMs: number,
  ) {
    super(
      `gave up after ${Math.round(waitedMs / 1000)} s waiting for ${path}, held by pid ${holder.pid} on ` +
        `${holder.hostname} since ${holder.startedAt}`,
    );
  }
}

/** A record-less lock file this old was not left mid-write by a taker: its writer is gone. */
const UNREADABLE_STALE_MS = 2000;

type Verdict =
  | { kind: 'take'; holder: LockRecord; reason: string }
  | { kind: 'held' | 'unsure'; holder: LockRecord }
  | { kind: 'busy' };

interface Watch {
  generation: string;
  id: string;
  since: number;
  /** The holder was seen refreshing the file: it is alive, wherever it runs. */
  refreshed: boolean;
}

/**
 * Takes the lock file at `path` for this process, across processes, containers and hosts sharing
 * the folder. The file is created exclusively (of two takers one gets it) with a record of who holds
 * it, and its holder rewrites it every staleMs/3; a holder that stopped doing so for staleMs is gone,
 * whatever its pid, hostname or boot says — the one rule that works when a restarted container's
 * worker is pid 1 again, or a pod comes back under another hostname. A holder whose pid can be
 * checked from here (same host, boot and pid namespace) and is dead is taken over at once. A file
 * some process holds with an OS lock (the original worker's daemon) is never taken over. The folder
 * must exist.
 */
export async function acquireFileLock(path: string, opts: FileLockOptions = {}): Promise<HeldLock> {
  const staleMs = opts.staleMs ?? defaultStaleMs();
  const pollMs = Math.min(opts.pollMs ?? 1000, staleMs / 6);
  let watch: Watch | undefined;
  let waitingSince: number | undefined;
  for (;;) {
    opts.signal?.throwIfAborted();
    const mine = await createLock(path, staleMs, opts);
    if (mine) return mine;
    const found = await look(path);
    if (!found) continue;
    const gen = generation(found.stats);
    if (watch?.generation !== gen) {
      const id = fileId(found.stats);
      watch = { generation: gen, id, since: Date.now(), refreshed: watch?.id === id };
    }
    const verdict = await judge(path, found, watch, staleMs, opts);
    if (verdict.kind === 'take') {
      if (await removeIfUnchanged(path, found.stats, staleMs)) opts.onStale?.(verdict.holder, verdict.reason);
      // Another taker is at it: its new lock (or the stale one, should it die midway) is judged next.
      else await sleep(20, opts.signal);
      continue;
    }
    if (verdict.kind === 'busy') {
      await sleep(50, opts.signal);
      continue;
    }
    if (!opts.wait) {
      if (verdict.kind === 'held') throw new FileLockHeldError(path, verdict.holder);
      // Its pid means nothing here: watch whether it refreshes the file (alive) or lets it go stale.
      await sleep(pollMs, opts.signal);
      continue;
    }
    if (waitingSince === undefined) {
      waitingSince = Date.now();
      opts.onWait?.(verdict.holder);
    }
    const waited = Date.now() - waitingSince;
    if (opts.maxWaitMs !== undefined && waited >= opts.maxWaitMs)
      throw new FileLockTimeoutError(path, verdict.holder, waited);
    await sleep(pollMs, opts.signal);
  }
}

async function look(path: string): Promise<{ stats: BigIntStats; text: string } | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw toError(e);
  }
  try {
    // One handle for both, so the record read is the file whose age is judged.
    const stats = await handle.stat({ bigint: true });
    return { stats, text: await handle.readFile('utf8').catch(() => '') };
  } finally {
    await handle.close();
  }
}

async function judge(
  path: string,
  found: { stats: BigIntStats; text: string },
  watch: Watch,
  staleMs: number,
  opts: FileLockOptions,
): Promise<Verdict> {
  const age = Date.now() - Number(found.stats.mtimeMs);
  const unchangedFor = Date.now() - watch.since;
  // Unchanged for staleMs by our own clock also counts: another host's clock may run ahead.
  const fresh = age <= staleMs && unchangedFor <= staleMs;
  const record = parseLockRecord(found.text);
  const osHeld = async (): Promise<Verdict | undefined> => {
    const os = await osLockHolder(path);
    if (!os) return undefined;
    const holder = (await opts.describeOsHolder?.(os, found.text)) ?? {
      pid: os.pid ?? pidInText(found.text),
      hostname: hostname(),
      startedAt: 'at an unknown time',
      foreign: 'another program',
    };
    return { kind: 'held', holder };
  };
  if (!record) {
    if (fresh && age <= UNREADABLE_STALE_MS) return { kind: 'busy' };
    const os = await osHeld();
    if (os) return os;
    const holder = {
      pid: pidInText(found.text),
      hostname: hostname(),
      startedAt: new Date(Number(found.stats.mtimeMs)).toISOString(),
    };
    return { kind: 'take', holder, reason: 'it holds no record of a running holder' };
  }
  let verdict: Verdict;
  if (!fresh) {
    const s = Math.round(Math.min(age, unchangedFor) / 1000);
    verdict = { kind: 'take', holder: record, reason: `not refreshed for ${s} s` };
  } else if (!sameProcessView(record)) {
    verdict = { kind: watch.refreshed ? 'held' : 'unsure', holder: record };
  } else if (record.pid === process.pid) {
    // Ours, or a container's earlier pid 1 in a reused namespace id: only the former is alive.
    verdict = { kind: heldHere.has(watch.id) ? 'held' : 'unsure', holder: record };
  } else if (pidAlive(record.pid)) {
    verdict = { kind: 'held', holder: record };
  } else {
    verdict = { kind: 'take', holder: record, reason: 'it no longer runs' };
  }
  // The original's daemon may hold a file of ours that it opened, with its OS lock.
  return verdict.kind === 'take' ? ((await osHeld()) ?? verdict) : verdict;
}

/** The pid an older original daemon wrote into its lock file, else 0 (unknown). */
function pidInText(text: string): number {
  return /^\s*\d+\s*$/.test(text) ? Number(text) : 0;
}

async function createLock(
  path: string,
  staleMs: number,
  opts: FileLockOptions,
): Promise<HeldLock | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw toError(e);
  }
  const text = Buffer.from(`${JSON.stringify(ownRecord())}\n`);
  let id: string;
  try {
    await handle.write(text, 0, text.length, 0);
    id = fileId(await handle.stat({ bigint: true }));
  } catch (e) {
    await handle.close();
    await rm(path, { force: true });
    throw toError(e);
  }
  heldHere.add(id);
  await sweepClaims(path, staleMs);
  return keepFresh(path, handle, text, id, staleMs, opts.onCompromised);
}
