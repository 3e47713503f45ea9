/** One file of the cache as `models list` shows it. */
export interface CachedFile {
  filename: string;
  bytes: number;
  sha256: string;
  lastUsedAt: string;
  inUse: boolean;
}

export interface PrunePlan {
  remove: CachedFile[];
  freedBytes: number;
  keptBytes: number;
}

/** Least recently used first; ties by name so a plan is the same every time. */
export function byLeastRecentlyUsed(a: CachedFile, b: CachedFile): number {
  return a.lastUsedAt.localeCompare(b.lastUsedAt) || a.filename.localeCompare(b.filename);
}

/**
 * Which files to delete so the cache holds at most `maxBytes`: least recently used first, never a
 * file in use (so the result can stay above `maxBytes` when what remains is in use).
 */
export function planPrune(files: CachedFile[], maxBytes: number): PrunePlan {
  let kept = files.reduce((sum, f) => sum + f.bytes, 0);
  const remove: CachedFile[] = [];
  for (const f of [...files].sort(byLeastRecentlyUsed)) {
    if (kept <= maxBytes) break;
    if (f.inUse) continue;
    remove.push(f);
    kept -= f.bytes;
  }
  return { remove, freedBytes: remove.reduce((sum, f) => sum + f.bytes, 0), keptBytes: kept };
}
