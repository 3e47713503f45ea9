import { createReadStream } from 'node:fs';
import type { Hash } from 'node:crypto';

/**
 * Feeds the first `bytes` of `path` into `hash` (the part already downloaded, before appending).
 * A module of its own, free of zod: the download thread loads it at every start.
 */
export async function hashPrefix(path: string, bytes: number, hash: Hash): Promise<void> {
  if (bytes === 0) return;
  for await (const chunk of createReadStream(path, { start: 0, end: bytes - 1 })) {
    hash.update(chunk as Buffer);
  }
}
