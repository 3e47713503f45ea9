import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface JobCounts {
  completed: number;
  failed: number;
  rejected: number;
}

const FILE = 'job-counts.json';
const HOUR_MS = 60 * 60 * 1000;

/**
 * The worker's job counters, kept in the config folder so they survive a restart, plus the
 * completion times of the last hour for a jobs-per-hour figure. Saves are coalesced: at most one
 * write in flight, the latest counts always written last.
 */
export class PersistentJobCounts {
  readonly counts: JobCounts = { completed: 0, failed: 0, rejected: 0 };
  private readonly recent: number[] = [];
  private saving: Promise<void> | undefined;
  private dirty = false;

  constructor(private readonly dir: string) {}

  async load(): Promise<void> {
    try {
      const saved = JSON.parse(await readFile(join(this.dir, FILE), 'utf8')) as Partial<JobCounts>;
      for (const key of ['completed', 'failed', 'rejected'] as const) {
        const n = saved[key];
        if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) this.counts[key] = n;
      }
    } catch {
      // None yet, or unreadable: counting starts at zero (the file is rewritten on the next job).
    }
  }

  add(key: keyof JobCounts, now = Date.now()): void {
    this.counts[key]++;
    if (key === 'completed') this.recent.push(now);
    this.save();
  }

  /** Jobs completed in the last hour. */
  perHour(now = Date.now()): number {
    while (this.recent.length > 0 && now - (this.recent[0] ?? now) > HOUR_MS) this.recent.shift();
    return this.recent.length;
  }

  /** Resolves once what was counted so far is on disk. */
  async flush(): Promise<void> {
    while (this.saving) await this.saving;
  }

  private save(): void {
    this.dirty = true;
    if (this.saving) return;
    this.saving = (async () => {
      while (this.dirty) {
        this.dirty = false;
        const path = join(this.dir, FILE);
        const tmp = `${path}.${process.pid}.tmp`;
        try {
          await writeFile(tmp, `${JSON.stringify(this.counts)}\n`, { mode: 0o600 });
          await rename(tmp, path);
        } catch {
          // Counters are a convenience: a full disk must not stop the worker over them.
        }
      }
      this.saving = undefined;
    })();
  }
}
