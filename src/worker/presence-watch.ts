import type { Logger } from 'pino';
import { IDLE_AFTER_MS, type IdleProbe } from '../platform/index.js';

export type UserPresence = 'idle' | 'active';

export interface PresenceState {
  /** Undefined while the idle time cannot be read. */
  presence: UserPresence | undefined;
  idleMs?: number;
  source?: string;
  /** Why presence is unknown. */
  reason?: string;
}

/**
 * Whether someone uses this computer: its input-idle time read every 5 s (as the original samples
 * it), idle after 2 minutes without input. Changes are logged; an unreadable idle time once per reason.
 */
export class PresenceWatch {
  private state: PresenceState = { presence: undefined, reason: 'not read yet' };
  private timer: NodeJS.Timeout | undefined;
  private said: string | undefined;

  constructor(
    private readonly read: IdleProbe,
    private readonly log: Logger,
    private readonly intervalMs = 5000,
  ) {}

  get current(): Readonly<PresenceState> {
    return this.state;
  }

  async start(): Promise<void> {
    await this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops sampling, and ends the probe's helper process if it keeps one (Windows). */
  stop(): void {
    clearInterval(this.timer);
    this.read.stop?.();
  }

  async sample(): Promise<void> {
    const r = await this.read().catch((e: unknown) => ({
      reason: e instanceof Error ? e.message : String(e),
    }));
    if ('reason' in r) {
      if (this.said !== r.reason) this.log.info(`user presence unknown: ${r.reason}`);
      this.said = r.reason;
      this.state = { presence: undefined, reason: r.reason };
      return;
    }
    const presence: UserPresence = r.idleMs >= IDLE_AFTER_MS ? 'idle' : 'active';
    if (presence !== this.state.presence) {
      this.log.info(`user presence: ${presence} (idle ${Math.round(r.idleMs / 1000)} s, from ${r.source})`);
    }
    this.said = undefined;
    this.state = { presence, idleMs: r.idleMs, source: r.source };
  }
}

/** Why `only_when_idle` turns an offer down now, or undefined. */
export function presenceProblem(onlyWhenIdle: boolean, state: PresenceState): string | undefined {
  if (!onlyWhenIdle || state.presence === 'idle') return undefined;
  if (state.presence === 'active') {
    return `only_when_idle: someone is using this computer (input ${Math.round((state.idleMs ?? 0) / 1000)} s ago)`;
  }
  return `only_when_idle: user presence is unknown (${state.reason ?? 'not read'}), so no studio work is taken`;
}
