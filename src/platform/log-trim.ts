import { copyFile, rename, rm, stat, truncate } from 'node:fs/promises';

/** As the original's log_trim: a service log above 10 MiB is rotated, three old ones kept. */
export const LOG_TRIM_MAX_BYTES = 10 * 1024 * 1024;
export const LOG_TRIM_KEEP = 3;

/**
 * Rotates each file above `maxBytes`: `file.2` → `file.3` (the oldest dropped), `file.1` → `file.2`,
 * a copy of `file` → `file.1`, then `file` is truncated in place. Copy-and-truncate, not rename: the
 * service manager (launchd, cmd.exe's `>>`) keeps writing to the file it opened in append mode, so
 * its next line lands at the start of the emptied file. Returns the files rotated; never throws.
 */
export async function trimLogs(
  files: readonly string[],
  opts: { maxBytes?: number; keep?: number; warn?: (msg: string) => void } = {},
): Promise<string[]> {
  const max = opts.maxBytes ?? LOG_TRIM_MAX_BYTES;
  const keep = Math.max(1, opts.keep ?? LOG_TRIM_KEEP);
  const rotated: string[] = [];
  for (const file of files) {
    try {
      const st = await stat(file).catch(() => undefined);
      if (!st?.isFile() || st.size <= max) continue;
      await rm(`${file}.${keep}`, { force: true });
      for (let i = keep - 1; i >= 1; i--) {
        await rename(`${file}.${i}`, `${file}.${i + 1}`).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'ENOENT') throw e;
        });
      }
      await copyFile(file, `${file}.1`);
      await truncate(file, 0);
      rotated.push(file);
    } catch (e) {
      opts.warn?.(`could not rotate ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return rotated;
}
