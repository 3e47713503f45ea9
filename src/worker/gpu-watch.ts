import type { Logger } from 'pino';
import type { GpuReading } from '../platform/index.js';

export interface GpuWatchOptions {
  /** One reading (see platform/gpu.ts); `{ reason }` when there is no GPU to read. */
  probe: () => Promise<GpuReading | { reason: string }>;
  log: Logger;
  intervalMs?: number;
}

/**
 * The GPU's free memory and temperature, re-read every few seconds (nvidia-smi takes tens of
 * milliseconds: too slow to run inside an offer's answer). A machine where nothing can be read is
 * said once and then read again only rarely.
 */
export class GpuWatch {
  private latest: GpuReading | undefined;
  private reason: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private readAt = 0;

  constructor(private readonly opts: GpuWatchOptions) {}

  async start(): Promise<void> {
    await this.refresh();
    const every = this.opts.intervalMs ?? 5000;
    // No GPU now means none later, almost always: look again once a minute, not every 5 s.
    this.timer = setInterval(() => void this.refresh(), this.latest ? every : Math.max(every, 60_000));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The latest reading, or undefined when this machine has no GPU that can be read. */
  get reading(): GpuReading | undefined {
    return this.latest;
  }

  /** Why there is no reading. */
  get unavailableReason(): string | undefined {
    return this.latest ? undefined : this.reason;
  }

  /**
   * Reads again after a job (whose model may have been loaded or unloaded): at once on a machine
   * with a GPU reading, at most once a second (nvidia-smi is a process spawn); never on one without.
   */
  refreshAfterJob(): void {
    if (!this.latest || Date.now() - this.readAt < 1000) return;
    void this.refresh();
  }

  /** Reads again now. */
  refresh(): Promise<void> {
    this.readAt = Date.now();
    this.refreshing ??= this.opts
      .probe()
      .then((r) => {
        if ('reason' in r) {
          if (this.reason !== r.reason)
            this.opts.log.info(`no GPU memory reading, so no memory admission: ${r.reason}`);
          this.latest = undefined;
          this.reason = r.reason;
        } else {
          if (!this.latest)
            this.opts.log.info(`GPU readings from ${r.source}: admission checks free memory and temperature`);
          this.latest = r;
          this.reason = undefined;
        }
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }
}
