import { statfs } from 'node:fs/promises';
import { EngineError } from '../engines/types.js';
import { formatGb } from './format.js';

/** Bytes an unprivileged process may still write on the filesystem holding `dir`. */
export async function statfsFreeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
}

/**
 * Refuses (non-retryable: this worker's disk will not grow by itself) when fewer than `needBytes`
 * are free in `dir`.
 */
export async function ensureFreeSpace(
  dir: string,
  needBytes: number,
  freeBytes: (dir: string) => Promise<number>,
): Promise<void> {
  if (needBytes <= 0) return;
  const free = await freeBytes(dir);
  if (free < needBytes) {
    throw new EngineError(
      `not enough free disk space in ${dir}: need ${formatGb(needBytes)} GB, ${formatGb(free)} GB free`,
      false,
    );
  }
}
