import type { Logger } from 'pino';
import { createCommandRunner, probeGpu, type GpuReading } from '../platform/index.js';
import type { WorkerOptions } from './options.js';

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
  private stopped = false;
  /** Readings in a row that found no GPU. */
  private misses = 0;

  constructor(private readonly opts: GpuWatchOptions) {}

  async start(): Promise<void> {
    await this.refresh();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /**
   * The next reading: every `intervalMs` (5 s) while the GPU can be read. Without a reading the
   * wait doubles from there up to a minute: a driver still starting at boot (or an nvidia-smi that
   * timed out once) is read again within seconds, while a machine with no GPU is asked rarely.
   */
  private schedule(): void {
    if (this.stopped) return;
    const every = this.opts.intervalMs ?? 5000;
    this.misses = this.latest ? 0 : this.misses + 1;
    const delay = this.latest ? every : Math.min(every * 2 ** (this.misses - 1), Math.max(every, 60_000));
    this.timer = setTimeout(() => void this.refresh().finally(() => this.schedule()), delay);
    this.timer.unref();
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
      .catch((e: unknown) => ({ reason: e instanceof Error ? e.message : String(e) }))
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

/** The worker's GPU watch: the given probe (tests), else this machine's GPU `gpuIndex` (or every GPU). */
export function createGpuWatch(
  opts: Pick<WorkerOptions, 'gpuProbe' | 'gpuCheckMs' | 'log'>,
  gpuIndex: number | undefined,
): GpuWatch {
  return new GpuWatch({
    probe:
      opts.gpuProbe ??
      (() =>
        probeGpu({
          run: createCommandRunner({ timeoutMs: 5000 }),
          platform: process.platform,
          arch: process.arch,
          sysRoot: '/sys',
          gpuIndex,
        })),
    log: opts.log.child({ category: 'gpu' }),
    ...(opts.gpuCheckMs !== undefined ? { intervalMs: opts.gpuCheckMs } : {}),
  });
}
