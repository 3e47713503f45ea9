import { readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { urlKey } from './format.js';

export const PARTIAL_DIR = '.partial';

const PartialMetaSchema = z.object({
  url: z.string(),
  etag: z.string().optional(),
  lastModified: z.string().optional(),
  bytes: z.number().int().nonnegative(),
  totalBytes: z.number().int().nonnegative().optional(),
});
export type PartialMeta = z.infer<typeof PartialMetaSchema>;

/** Where an unfinished download of `filename` lives: `<root>/.partial/<filename>.part` and its `.json`. */
export function partialPaths(root: string, filename: string): { part: string; meta: string } {
  const part = join(root, PARTIAL_DIR, `${filename}.part`);
  return { part, meta: `${part}.json` };
}

/** The value to send as If-Range: a strong ETag, else Last-Modified (weak ETags cannot validate a range). */
export function rangeValidator(meta: Pick<PartialMeta, 'etag' | 'lastModified'>): string | undefined {
  if (meta.etag && !meta.etag.startsWith('W/')) return meta.etag;
  return meta.lastModified;
}

/**
 * How much of `url` is already on disk and the validator to resume it with. A partial without a
 * usable validator, or left by another URL, is deleted: resuming it could splice two files.
 */
export async function resumePoint(
  paths: { part: string; meta: string },
  url: string,
): Promise<{ offset: number; validator: string | undefined }> {
  const [meta, size] = await Promise.all([readMeta(paths.meta), fileSize(paths.part)]);
  const validator = meta && meta.url === urlKey(url) ? rangeValidator(meta) : undefined;
  if (size > 0 && validator !== undefined) return { offset: size, validator };
  if (size > 0 || meta) await removePartial(paths);
  return { offset: 0, validator: undefined };
}

export async function writeMeta(path: string, meta: PartialMeta): Promise<void> {
  await writeFile(path, `${JSON.stringify(meta)}\n`);
}

export async function removePartial(paths: { part: string; meta: string }): Promise<void> {
  await Promise.all([rm(paths.part, { force: true }), rm(paths.meta, { force: true })]);
}

export async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
}

async function readMeta(path: string): Promise<PartialMeta | undefined> {
  try {
    return PartialMetaSchema.parse(JSON.parse(await readFile(path, 'utf8')));
  } catch {
    // Missing or unreadable: the partial cannot be validated, so it is not resumed.
    return undefined;
  }
}

/** A partial untouched for this long is not being written by anyone. */
const ABANDONED_AFTER_MS = 10 * 60 * 1000;

/**
 * Deletes partial downloads that can never be resumed — no metadata, or no validator to resume
 * them with (a cut download from a server that sent neither ETag nor Last-Modified) — once nobody
 * has written them for ten minutes. Returns the paths removed.
 */
export async function sweepUnresumable(root: string, now = Date.now()): Promise<string[]> {
  const removed: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        await walk(path);
        continue;
      }
      if (!entry.name.endsWith('.part')) continue;
      const meta = await readMeta(`${path}.json`);
      if (meta && rangeValidator(meta) !== undefined) continue;
      const idle =
        now -
        (await stat(path).then(
          (s) => s.mtimeMs,
          () => now,
        ));
      if (idle < ABANDONED_AFTER_MS) continue;
      await removePartial({ part: path, meta: `${path}.json` });
      removed.push(path);
    }
  };
  await walk(join(root, PARTIAL_DIR));
  return removed;
}
