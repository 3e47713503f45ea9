import type { BigIntStats } from 'node:fs';
import { open, readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { toError } from './errors.js';

/** One version of a lock file: another holder's file, or a refresh of the same one, is another. */
export function generation(s: BigIntStats): string {
  return `${s.dev}-${s.ino}-${s.mtimeNs}-${s.size}`;
}

const claimPrefix = (path: string) => `${basename(path)}.takeover-`;

/**
 * Removes the lock file at `path` if it is still the version `judged` (found stale). Of several
 * processes that judged it at once exactly one removes it — each first creates a claim named after
 * that version, exclusively — and they then race on the exclusive create as usual. Without the
 * claim, a slow taker could remove the fresh file a faster one had just created in its place. The
 * claim stays for `keepMs` so that late takers of the same version find it; one left by a taker
 * that died is cleared by the next once older than that.
 */
export async function removeIfUnchanged(path: string, judged: BigIntStats, keepMs: number): Promise<boolean> {
  const claim = join(dirname(path), `${claimPrefix(path)}${generation(judged)}`);
  try {
    await (await open(claim, 'wx', 0o600)).close();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw toError(e);
    const since = (await stat(claim).catch(() => undefined))?.mtimeMs ?? Date.now();
    if (Date.now() - since > keepMs) await rm(claim, { force: true });
    return false;
  }
  setTimeout(() => void rm(claim, { force: true }).catch(() => undefined), keepMs).unref();
  const now = await stat(path, { bigint: true }).catch(() => undefined);
  if (!now || generation(now) !== generation(judged)) return false;
  await rm(path, { force: true });
  return true;
}

/** Deletes claims older than `keepMs` beside `path` (their takers exited before clearing them). */
export async function sweepClaims(path: string, keepMs: number): Promise<void> {
  const prefix = claimPrefix(path);
  const names = await readdir(dirname(path)).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const claim = join(dirname(path), name);
    const since = (await stat(claim).catch(() => undefined))?.mtimeMs;
    if (since !== undefined && Date.now() - since > keepMs)
      await rm(claim, { force: true }).catch(() => undefined);
  }
}
