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
/** How often a disk below the floor is read again. */
const FULL_RECHECK_MS = 1000;

/**
 * Free space under the folders a job writes to (the outbox, the model cache), refreshed every few
 * seconds so an offer can be judged without waiting on the disk. A folder that does not exist yet
 * is measured at its nearest existing parent; one that cannot be measured is not held against us.
 */
export class DiskWatch {
  private spaces: DiskSpace[];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: DiskWatchOptions) {
    this.spaces = opts.folders.map((f) => ({ ...f, freeBytes: undefined }));
  }

  async start(): Promise<void> {
    await this.refresh();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /**
   * The next reading: every `intervalMs` (10 s) while there is room, every second while a folder
   * is below the floor, so freed space is seen at once and not up to 10 s later.
   */
  private schedule(): void {
    if (this.stopped) return;
    const every = this.opts.intervalMs ?? 10_000;
    this.timer = setTimeout(
      () => void this.refresh().finally(() => this.schedule()),
      this.problem() === undefined ? every : Math.min(every, FULL_RECHECK_MS),
    );
    this.timer.unref();
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
