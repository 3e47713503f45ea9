import { randomUUID } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { copyFile, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Prefix of files being written; never an outbox entry (job-id stems cannot contain a dot). */
export const TEMP_PREFIX = '.tmp-';

function tempPathBeside(path: string): string {
  return join(dirname(path), `${TEMP_PREFIX}${randomUUID()}`);
}

/**
 * Writes `data` to `path` so that a crash leaves either the old file or the whole new one. With
 * `sync: false` that holds for a crash of this process (the kernel keeps the bytes), not for a
 * power loss; `fsyncFile` later makes it durable.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  opts: { sync?: boolean } = {},
): Promise<void> {
  const tmp = tempPathBeside(path);
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(data);
      if (opts.sync !== false) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * `writeFileAtomic` without fsync, in synchronous calls: for a small file each call takes less time
 * than one round trip to libuv's thread pool, and a job's result makes a handful of them. `spare`,
 * a temp file of this folder no longer needed (see `Outbox.forget`), is written over instead of a
 * new file made: where creating an inode costs hundreds of microseconds (it does on this project's
 * virtual disks), reusing one is ten times cheaper.
 */
export function writeFileAtomicSync(path: string, data: Uint8Array | string, spare?: string): void {
  const tmp = spare ?? tempPathBeside(path);
  try {
    // A spare is opened without O_TRUNC and cut to length after the write: truncating a file that
    // has blocks frees them first (~100 µs on this project's disks), writing over them does not.
    const fd = openSync(tmp, spare ? 'r+' : 'wx', 0o600);
    try {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      for (let off = 0; off < bytes.byteLength;)
        off += writeSync(fd, bytes, off, bytes.byteLength - off, off);
      if (spare) ftruncateSync(fd, bytes.byteLength);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** A temp-file name in `dir` (removed at the next start if still there). */
export function tempPathIn(dir: string): string {
  return join(dir, `${TEMP_PREFIX}${randomUUID()}`);
}

/**
 * Moves `src` to `dest` durably: a rename on the same disk, otherwise a copy to a temp file beside
 * `dest`, fsync, rename, and only then the source is deleted. Returns the size in bytes.
 */
export async function moveFileDurably(
  src: string,
  dest: string,
  opts: { sync?: boolean } = {},
): Promise<number> {
  if (opts.sync !== false) await fsyncFile(src);
  try {
    await rename(src, dest);
  } catch (e) {
    if ((e as { code?: unknown }).code !== 'EXDEV') throw e;
    const tmp = tempPathBeside(dest);
    try {
      await copyFile(src, tmp);
      if (opts.sync !== false) await fsyncFile(tmp);
      await rename(tmp, dest);
    } catch (copyError) {
      await rm(tmp, { force: true });
      throw copyError;
    }
    await rm(src, { force: true });
  }
  return (await stat(dest)).size;
}

export async function fsyncFile(path: string): Promise<void> {
  // 'r+' because Windows refuses to flush a handle opened read-only.
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Makes renames inside `dir` durable. Windows cannot open a directory for fsync; NTFS journals renames. */
export async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function isNotFound(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === 'ENOENT';
}

/**
 * Removes the half-written files (`.tmp-…`) a killed worker left in `dir`. Only for a worker's
 * start: one worker runs per config folder (daemon.lock), so nothing is writing them then.
 */
export async function removeTempFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const temps = names.filter((n) => n.startsWith(TEMP_PREFIX)).map((n) => join(dir, n));
  for (const path of temps) await rm(path, { force: true });
  return temps;
}
