import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoalescedFileWriter } from '../util/index.js';

export interface JobCounts {
  completed: number;
  failed: number;
  rejected: number;
}

const FILE = 'job-counts.json';
const SAVE_DELAY_MS = 1000;
const HOUR_MS = 60 * 60 * 1000;

/**
 * The worker's job counters, kept in the config folder so they survive a restart, plus the
 * completion times of the last hour for a jobs-per-hour figure.
 */
export class PersistentJobCounts {
  readonly counts: JobCounts = { completed: 0, failed: 0, rejected: 0 };
  private readonly recent: number[] = [];
  private readonly file: CoalescedFileWriter;

  constructor(private readonly dir: string) {
    // Written at most once a second: the counters change with every job.
    this.file = new CoalescedFileWriter(join(dir, FILE), SAVE_DELAY_MS);
  }

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
    this.file.write(() => `${JSON.stringify(this.counts)}\n`);
  }

  /** Jobs completed in the last hour. */
  perHour(now = Date.now()): number {
    while (this.recent.length > 0 && now - (this.recent[0] ?? now) > HOUR_MS) this.recent.shift();
    return this.recent.length;
  }

  /** Resolves once what was counted so far is on disk. */
  flush(): Promise<void> {
    return this.file.flush();
  }
}
