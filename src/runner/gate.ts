/** Who holds the one-job gate: a studio job or a local API request. */
export interface GateHolder {
  source: 'studio' | 'local';
  /** The studio's job id, or the local job's id. */
  id: string;
  since: number;
}

/**
 * One job at a time on this machine, as the original's job gate: studio offers and local API
 * requests take the same gate, so neither can start while the other runs. Taken and released
 * synchronously, so no two callers can both see it free.
 */
export class JobGate {
  private current: GateHolder | undefined;

  get holder(): Readonly<GateHolder> | undefined {
    return this.current;
  }

  /** Takes the gate and returns its release (idempotent), or undefined while another holds it. */
  tryAcquire(source: GateHolder['source'], id: string): (() => void) | undefined {
    if (this.current) return undefined;
    const held: GateHolder = { source, id, since: Date.now() };
    this.current = held;
    return () => {
      if (this.current === held) this.current = undefined;
    };
  }
}

/** Who holds the gate, as a busy reject names it. */
export function holderName(holder: Readonly<GateHolder>): string {
  return holder.source === 'local' ? `a local API request (${holder.id})` : holder.id;
}
