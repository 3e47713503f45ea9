import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { ModelFile } from '../protocol/index.js';
import type { IndexEntry } from './cache-index.js';
import { wantedSha256 } from './names.js';

/** What the cache makes of the file already at a model's path. */
export type CachedVerdict =
  | { kind: 'absent' }
  /** Size and mtime match the index and the hash is the one wanted: used as it is. */
  | { kind: 'trusted'; entry: IndexEntry }
  /** Changed or unindexed, but its hash matches the one wanted: adopted into the index. */
  | { kind: 'verified'; stats: Stats; sha256: string }
  /** Cannot be vouched for: downloaded again. */
  | { kind: 'stale'; reason: string };

/**
 * The rules of docs/models.md: a file whose size and mtime match its index entry is trusted
 * (unless the job wants another sha256); any other file is re-hashed when a sha256 is known (the
 * job's, else the index's when the size still matches) and downloaded again otherwise.
 */
export async function judgeCached(
  path: string,
  file: ModelFile,
  entry: IndexEntry | undefined,
  signal: AbortSignal,
  opts: { adoptUnindexed?: boolean } = {},
): Promise<CachedVerdict> {
  const st = await statOrUndefined(path);
  if (!st?.isFile()) return { kind: 'absent' };
  const want = wantedSha256(file);
  const unchanged = entry !== undefined && entry.bytes === st.size && entry.mtimeMs === st.mtimeMs;
  if (unchanged) {
    if (!want || want === entry.sha256) return { kind: 'trusted', entry };
    return { kind: 'stale', reason: `the job expects sha256 ${want}, the cached file has ${entry.sha256}` };
  }
  const expected = want ?? (entry?.bytes === st.size ? entry.sha256 : undefined);
  if (!expected && !entry && opts.adoptUnindexed) {
    // Nothing to check it against: hashed once for the index, and used as it is.
    return { kind: 'verified', stats: st, sha256: await hashFile(path, signal) };
  }
  if (!expected) {
    return {
      kind: 'stale',
      reason: entry
        ? 'its size differs from the index'
        : 'it is not in the index and no sha256 is known to check it',
    };
  }
  const sha256 = await hashFile(path, signal);
  if (sha256 === expected) return { kind: 'verified', stats: st, sha256 };
  return { kind: 'stale', reason: `its sha256 is ${sha256}, expected ${expected}` };
}

export async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function hashFile(path: string, signal: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { signal })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Whether a file this process found good (`known`, its index entry then) is unchanged on disk —
 * same size and mtime — and has the sha256 this job wants: one stat instead of the index read and
 * checks of `judgeCached`, for each job of a warm model.
 */
export function stillGood(path: string, file: ModelFile, known: IndexEntry | undefined): boolean {
  if (!known) return false;
  const want = wantedSha256(file);
  if (want && want !== known.sha256) return false;
  try {
    const st = statSync(path);
    return st.isFile() && st.size === known.bytes && st.mtimeMs === known.mtimeMs;
  } catch {
    return false;
  }
}
