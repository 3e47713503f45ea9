import { dirname } from 'node:path';
import { formatBytes } from '../models/index.js';

export interface DiskSpace {
  /** What the folder is for ("results", "models"). */
  label: string;
  path: string;
  freeBytes: number | undefined;
}

export interface DiskWatchOptions {
  folders: { label: string; path: string }[];
  /** Below this many free bytes under any folder, offers that write files are refused. */
  minFreeBytes: number;
  freeBytes: (dir: string) => Promise<number>;
  intervalMs?: number;
}

/** Default floor: room for a large result and a model's config files, never a whole model. */
export const MIN_FREE_BYTES = 1e9;

/**
 * Free space under the folders a job writes to (the outbox, the model cache), refreshed every few
 * seconds so an offer can be judged without waiting on the disk. A folder that does not exist yet
 * is measured at its nearest existing parent; one that cannot be measured is not held against us.
 */
export class DiskWatch {
  private spaces: DiskSpace[];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: DiskWatchOptions) {
    this.spaces = opts.folders.map((f) => ({ ...f, freeBytes: undefined }));
  }

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.opts.intervalMs ?? 10_000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  get snapshot(): readonly DiskSpace[] {
    return this.spaces;
  }

  /** Why no job that writes files should be taken now, or undefined. */
  problem(): string | undefined {
    const short = this.spaces.find((s) => s.freeBytes !== undefined && s.freeBytes < this.opts.minFreeBytes);
    if (!short || short.freeBytes === undefined) return undefined;
    return `disk full: ${formatBytes(short.freeBytes)} free under ${short.path} (the ${short.label}); at least ${formatBytes(this.opts.minFreeBytes)} is needed`;
  }

  async refresh(): Promise<void> {
    this.spaces = await Promise.all(
      this.opts.folders.map(async (f) => ({ ...f, freeBytes: await this.measure(f.path) })),
    );
  }

  private async measure(path: string): Promise<number | undefined> {
    for (let dir = path; ; dir = dirname(dir)) {
      try {
        return await this.opts.freeBytes(dir);
      } catch {
        if (dirname(dir) === dir) return undefined;
      }
    }
  }
}
