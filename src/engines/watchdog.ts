import { linkSignals } from '../util/index.js';

/** How long a job may go without progress, and how long it may run at all. */
export interface WatchdogLimits {
  /** `job_stall_timeout_secs`, in ms. */
  stallMs: number;
  /** `job_timeout_secs`, in ms. */
  timeoutMs: number;
  /** `engine_max_rss_gb` in bytes: no engine process (with what it started) may hold more. */
  maxRssBytes?: number;
}

export const DEFAULT_WATCHDOG_LIMITS: Readonly<WatchdogLimits> = Object.freeze({
  stallMs: 600_000,
  timeoutMs: 3_600_000,
});

/** The abort reason a watchdog gives: the job was stopped for making no progress or running too long. */
export class WatchdogStop extends Error {
  override readonly name = 'WatchdogStop';
}

/**
 * Watches one job: every report of progress (a downloaded chunk, a load step, a sampling step, a
 * token) moves its stall deadline on; with none for `stallMs`, or after `timeoutMs` in all, it
 * aborts its signal with a `WatchdogStop` naming the phase the job was in. One timer, re-armed
 * lazily, so a token stream does not churn timers.
 */
export class JobWatchdog {
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private phase = 'starting';
  private lastProgress = Date.now();
  private readonly started = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private stopped: WatchdogStop | undefined;
  private readonly unlink: () => void;

  constructor(
    private readonly limits: WatchdogLimits,
    outer: AbortSignal,
  ) {
    const link = linkSignals(outer, this.controller.signal);
    this.signal = link.signal;
    this.unlink = link.unlink;
    this.arm();
  }

  /** Why the watchdog stopped the job, once it has. */
  get stop(): WatchdogStop | undefined {
    return this.stopped;
  }

  /** The job moved forward (in `phase`, when given). */
  progress = (phase?: string): void => {
    this.lastProgress = Date.now();
    if (phase !== undefined && phase !== '') this.phase = phase;
  };

  /** Stops the job now, for `why` (the phase it was in is added). */
  stopNow(why: string): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.fire(`${why}, while ${this.phase}`);
  }

  /** Stops watching (the job ended). */
  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.unlink();
  }

  private arm(): void {
    const now = Date.now();
    const stallLeft = this.lastProgress + this.limits.stallMs - now;
    const totalLeft = this.started + this.limits.timeoutMs - now;
    if (totalLeft <= 0) {
      this.fire(`ran longer than ${secs(this.limits.timeoutMs)} s (job_timeout_secs) while ${this.phase}`);
      return;
    }
    if (stallLeft <= 0) {
      this.fire(`no progress for ${secs(this.limits.stallMs)} s while ${this.phase}`);
      return;
    }
    this.timer = setTimeout(() => this.arm(), Math.min(stallLeft, totalLeft));
    this.timer.unref();
  }

  private fire(message: string): void {
    this.timer = undefined;
    this.stopped = new WatchdogStop(message);
    this.controller.abort(this.stopped);
  }
}

function secs(ms: number): string {
  const s = ms / 1000;
  return Number.isInteger(s) ? String(s) : s.toFixed(1);
}
