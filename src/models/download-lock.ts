import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireFileLock, FileLockTimeoutError } from '../util/index.js';
import type { HeldLock, LockRecord } from '../util/index.js';
import { PARTIAL_DIR, partialPaths } from './partial.js';

/** How long a download another worker holds may go without writing a byte before we stop waiting. */
const DOWNLOAD_QUIET_MS = 10 * 60_000;

export interface DownloadLockOptions {
  signal: AbortSignal;
  /** Once, when another worker on this cache is found downloading the file. */
  onWait: (holder: LockRecord) => void;
  quietMs?: number;
  staleMs?: number;
}

/**
 * Takes `<root>/.partial/<key>.lock`, which workers sharing one cache (one per GPU, or pods on one
 * volume) hold while they fetch a file, so one downloads and the others wait. A holder that is gone
 * is taken over within ~15 s (see acquireFileLock). A live one is waited for only while its partial
 * file grows: a download that wrote nothing for `quietMs` is stuck, and waiting ends with an error
 * naming its holder rather than never.
 */
export async function acquireDownloadLock(
  root: string,
  key: string,
  opts: DownloadLockOptions,
): Promise<HeldLock> {
  const quietMs = opts.quietMs ?? DOWNLOAD_QUIET_MS;
  const part = partialPaths(root, key).part;
  let said = false;
  let written = await progressMark(part);
  for (;;) {
    try {
      return await acquireFileLock(join(root, PARTIAL_DIR, `${key}.lock`), {
        wait: true,
        pollMs: 500,
        signal: opts.signal,
        maxWaitMs: quietMs,
        ...(opts.staleMs === undefined ? {} : { staleMs: opts.staleMs }),
        onWait: (holder) => {
          if (!said) opts.onWait(holder);
          said = true;
        },
      });
    } catch (e) {
      if (!(e instanceof FileLockTimeoutError)) throw e;
      const now = await progressMark(part);
      if (now !== written) {
        written = now;
        continue;
      }
      const { holder } = e;
      throw new Error(
        `gave up waiting for pid ${holder.pid} on ${holder.hostname} to download ${key}: it still holds ` +
          `${e.path} but wrote nothing to ${part} for ${Math.round(quietMs / 1000)} s`,
      );
    }
  }
}

async function progressMark(path: string): Promise<string> {
  const s = await stat(path).catch(() => undefined);
  return s ? `${s.size}:${s.mtimeMs}` : 'none';
}
