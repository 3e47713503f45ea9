import { mkdirSync, mkdtempSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pidAlive, toError } from '../util/index.js';

/**
 * Scratch folders are `<prefix><pid>-<random>` (`job-` under the worker's work folder,
 * `studio-worker-local-` in the temp folder for local API jobs), so a later start can tell whose
 * they were.
 */
const scratchName = (prefix: string): RegExp => new RegExp(`^${prefix}(?:(\\d+)-)?[A-Za-z0-9]+$`);
/** A folder of the older unnamed kind is left alone while this young (another worker may use it). */
const LEGACY_GRACE_MS = 60 * 60 * 1000;

/** A fresh scratch folder for one job under `root`, named after this process. */
export function makeScratchDir(root: string): string {
  mkdirSync(root, { recursive: true });
  return mkdtempSync(join(root, `job-${process.pid}-`));
}

/**
 * A job's scratch folder, made on first use (engines that answer with bytes in memory — the
 * synthetic image, llm and stt jobs — never touch the disk for it) and removed by `remove`.
 */
export class LazyScratch {
  private dir: string | undefined;

  constructor(private readonly root: string) {}

  get path(): string {
    return (this.dir ??= makeScratchDir(this.root));
  }

  /** Removes the folder if it was made; a failure is logged, never thrown (the job is over). */
  async remove(log: { warn: (obj: object, msg: string) => void }): Promise<void> {
    const dir = this.dir;
    if (dir === undefined) return;
    await rm(dir, { recursive: true, force: true }).catch((e: unknown) =>
      log.warn({ err: toError(e) }, `could not remove scratch folder ${dir}`),
    );
  }
}

/**
 * Removes scratch folders that a worker killed mid-job left behind: those of processes that are
 * gone, and unnamed ones of older versions over an hour old. Returns the names removed.
 */
export async function sweepScratch(root: string, now = Date.now(), prefix = 'job-'): Promise<string[]> {
  const SCRATCH = scratchName(prefix);
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const match = SCRATCH.exec(name);
    if (!match) continue;
    const path = join(root, name);
    const pid = match[1] === undefined ? undefined : Number(match[1]);
    let stale: boolean;
    if (pid !== undefined) stale = pid !== process.pid && !pidAlive(pid);
    else
      stale =
        now -
          (await stat(path).then(
            (s) => s.mtimeMs,
            () => now,
          )) >
        LEGACY_GRACE_MS;
    if (!stale) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
