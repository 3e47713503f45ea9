import type { ModelDownloadProgress } from '../events/index.js';
import type { LocalLogEntry as LogEntry } from '../logs/index.js';
import type { DownloadView, LogRecord } from './api-types.js';

export const LOG_RING_SIZE = 1000;

/** The last 1,000 log records, for the Logs tab's first paint; live ones follow over SSE. */
export class LogRing {
  private readonly records: LogRecord[] = [];

  push(entry: LogEntry): LogRecord {
    const record: LogRecord = { ...entry };
    this.records.push(record);
    if (this.records.length > LOG_RING_SIZE) this.records.splice(0, this.records.length - LOG_RING_SIZE);
    return record;
  }

  list(): LogRecord[] {
    return [...this.records];
  }
}

/** How long a failed download stays on screen, so the operator gets to read why. */
const FAILED_SHOWN_MS = 10 * 60_000;

/** Model downloads in progress (and recently failed ones), by file name. */
export class DownloadTracker {
  private readonly downloads = new Map<string, { view: DownloadView; at: number }>();

  update(p: ModelDownloadProgress): void {
    if (p.done && p.error === undefined) this.downloads.delete(p.filename);
    else this.downloads.set(p.filename, { view: { ...p }, at: Date.now() });
  }

  list(now = Date.now()): DownloadView[] {
    for (const [name, d] of this.downloads) {
      if (d.view.done && now - d.at > FAILED_SHOWN_MS) this.downloads.delete(name);
    }
    return [...this.downloads.values()].map((d) => d.view);
  }
}
