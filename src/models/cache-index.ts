import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { toError } from '../util/index.js';

export const INDEX_FILENAME = '.studio-worker-index.json';

const IndexEntrySchema = z.object({
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  lastUsedAt: z.string(),
  url: z.string(),
  /** The file's mtime when it was verified: a different one means it changed behind our back. */
  mtimeMs: z.number(),
  /** Processes holding the file in use (the worker, while a job runs); dead pids are ignored. */
  inUseBy: z.array(z.number().int()).optional(),
});
export type IndexEntry = z.infer<typeof IndexEntrySchema>;

const IndexSchema = z.object({
  version: z.literal(1),
  files: z.record(z.string(), IndexEntrySchema),
});
export type CacheIndexData = z.infer<typeof IndexSchema>;

function emptyIndex(): CacheIndexData {
  return { version: 1, files: {} };
}

/**
 * The cache index file. Every change re-reads the file, applies the change and writes it back
 * atomically (temp file + rename) under an in-process lock, so a `models prune` run by hand beside
 * a running worker loses at most a last-used time, never the file.
 */
export class CacheIndexStore {
  readonly path: string;
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly root: string,
    private readonly log: Logger,
  ) {
    this.path = join(root, INDEX_FILENAME);
  }

  /** The index as saved, once this process's pending changes are written. */
  async read(): Promise<CacheIndexData> {
    await this.lock;
    return this.load();
  }

  private async load(): Promise<CacheIndexData> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyIndex();
      throw e;
    }
    try {
      return IndexSchema.parse(JSON.parse(text));
    } catch (e) {
      // Losing the index costs a re-verification, never a wrong file: files are re-hashed or re-downloaded.
      this.log.warn(
        { err: toError(e), path: this.path },
        'model cache index is unreadable; starting a new one',
      );
      return emptyIndex();
    }
  }

  /** Resolves once every change queued so far is written. */
  async settled(): Promise<void> {
    await this.lock;
  }

  /** Applies `change` to a fresh copy of the index and saves it; returns what `change` returned. */
  mutate<T>(change: (index: CacheIndexData) => T | Promise<T>): Promise<T> {
    const run = this.lock.then(async () => {
      const index = await this.load();
      const result = await change(index);
      await this.write(index);
      return result;
    });
    this.lock = run.catch(() => undefined);
    return run;
  }

  private async write(index: CacheIndexData): Promise<void> {
    const tmp = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writeFile(tmp, `${JSON.stringify(index, null, 2)}\n`);
      await rename(tmp, this.path);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }
}
