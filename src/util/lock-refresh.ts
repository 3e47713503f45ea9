import type { BigIntStats } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { toError } from './errors.js';

export interface HeldLock {
  path: string;
  /** Stops refreshing and removes the lock file if it is still this process's; answers whether it was. */
  release: () => Promise<boolean>;
}

/** Lock files held by this process, by device and inode: a record with our pid may be another's. */
export const heldHere = new Set<string>();
export const fileId = (s: BigIntStats): string => `${s.dev}-${s.ino}`;

/** Rewrites the record (a new mtime) every staleMs/3 until released; reports a lock taken from us. */
export function keepFresh(
  path: string,
  handle: FileHandle,
  text: Buffer,
  id: string,
  staleMs: number,
  onCompromised: ((error: Error) => void) | undefined,
): HeldLock {
  const report = onCompromised ?? ((e: Error) => process.emitWarning(e));
  let state: 'held' | 'lost' | 'released' = 'held';
  let busy = false;
  let failing = false;
  const refresh = async () => {
    if (busy || state !== 'held') return;
    busy = true;
    try {
      const now = await stat(path, { bigint: true }).catch(() => undefined);
      if (state !== 'held') return;
      if (!now || fileId(now) !== id) {
        state = 'lost';
        clearInterval(timer);
        heldHere.delete(id);
        report(new Error(`${path} was taken over by another process: this one no longer holds it`));
        return;
      }
      await handle.write(text, 0, text.length, 0);
      failing = false;
    } catch (e) {
      // Not yet lost: the next tick tries again, and only a holder silent for staleMs loses it.
      if (state === 'held' && !failing) report(new Error(`could not refresh ${path}: ${toError(e).message}`));
      failing = true;
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void refresh(), Math.max(20, Math.floor(staleMs / 3)));
  timer.unref();
  return {
    path,
    release: async () => {
      if (state === 'released') return false;
      const wasHeld = state === 'held';
      state = 'released';
      clearInterval(timer);
      heldHere.delete(id);
      await handle.close().catch(() => undefined);
      const now = await stat(path, { bigint: true }).catch(() => undefined);
      if (!wasHeld || !now || fileId(now) !== id) return false;
      await rm(path, { force: true });
      return true;
    },
  };
}
