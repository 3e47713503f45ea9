import type { LogEntry } from '../protocol/index.js';
import type { LocalLogEntry } from './records.js';
import { toWireEntry } from './records.js';

export interface LogShipperOptions {
  /** Entries held while nothing drains (e.g. while disconnected); default 1000. */
  capacity?: number;
}

/**
 * The bounded buffer between the logger and the session's `logBatch` frames. When full it drops the
 * oldest entry (recent records explain the present best) and counts what it dropped, so the studio
 * is told about the gap instead of seeing a silent hole.
 */
export class LogShipper {
  readonly capacity: number;
  #entries: LogEntry[] = [];
  #droppedSinceDrain = 0;
  #droppedTotal = 0;

  constructor(opts: LogShipperOptions = {}) {
    this.capacity = Math.max(1, Math.floor(opts.capacity ?? 1000));
  }

  get size(): number {
    return this.#entries.length;
  }

  get droppedTotal(): number {
    return this.#droppedTotal;
  }

  /** Queues a record for the studio; debug/trace records are not shipped, fatal ones go as error. */
  push(record: LocalLogEntry | LogEntry): void {
    const entry = toWireEntry(record);
    if (!entry) return;
    if (this.#entries.length >= this.capacity) {
      this.#entries.shift();
      this.#droppedSinceDrain++;
      this.#droppedTotal++;
    }
    this.#entries.push(entry);
  }

  /**
   * Takes up to `max` entries (default 500), oldest first. If entries were dropped since the last
   * drain, the first one is a warning saying how many; it counts toward `max`, so a batch never
   * exceeds it.
   */
  drain(max = 500): LogEntry[] {
    if (max < 1) return [];
    const out: LogEntry[] = [];
    if (this.#droppedSinceDrain > 0) {
      const n = this.#droppedSinceDrain;
      this.#droppedSinceDrain = 0;
      out.push({
        ts: new Date().toISOString(),
        level: 'warn',
        category: 'logs',
        message: `${n} log record${n === 1 ? '' : 's'} dropped (buffer full)`,
      });
    }
    out.push(...this.#entries.splice(0, max - out.length));
    return out;
  }
}
