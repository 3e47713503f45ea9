import type { Logger } from 'pino';
import type { ModelDownloadProgress } from '../events/index.js';
import { reportProgress } from '../util/index.js';
import { formatBytes } from './format.js';

export interface ProgressSinks {
  log: Logger;
  onProgress?: ((p: ModelDownloadProgress) => void) | undefined;
  /** Drawn on only when it is a TTY. */
  terminal?: NodeJS.WriteStream | undefined;
  intervalMs: number;
}

const BAR_WIDTH = 24;

/**
 * Progress of one file download, sent to the `onProgress` listener (the event stream) at most once
 * per interval, to the log at every tenth of the file, and to a terminal bar when a person watches.
 * Rate and ETA count only this attempt's bytes, so a resumed download does not look instant.
 */
export class DownloadProgress {
  private received = 0;
  private total: number | undefined;
  private attemptStartBytes = 0;
  private attemptStartMs = Date.now();
  private lastEmitMs = 0;
  private lastLoggedTenth = 0;
  private finished = false;

  constructor(
    private readonly filename: string,
    private readonly sinks: ProgressSinks,
  ) {}

  /** A new attempt starts at `fromBytes` (more than 0 when resuming) of `total`. */
  start(fromBytes: number, total: number | undefined): void {
    this.received = fromBytes;
    this.total = total;
    this.attemptStartBytes = fromBytes;
    this.attemptStartMs = Date.now();
    this.emit(false);
  }

  add(bytes: number): void {
    this.received += bytes;
    // Bytes arriving are progress for the job that waits on them (its stall watchdog).
    reportProgress(`downloading ${this.filename}`);
    const now = Date.now();
    if (now - this.lastEmitMs >= this.sinks.intervalMs) this.emit(false, now);
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.emit(true);
  }

  fail(error: string): void {
    if (this.finished) return;
    this.finished = true;
    this.emit(true, Date.now(), error);
  }

  private snapshot(done: boolean, now: number, error?: string): ModelDownloadProgress {
    const seconds = (now - this.attemptStartMs) / 1000;
    const bytesPerSec = seconds > 0 ? Math.round((this.received - this.attemptStartBytes) / seconds) : 0;
    const left = this.total !== undefined ? Math.max(0, this.total - this.received) : undefined;
    const etaSec =
      left === undefined
        ? undefined
        : left === 0
          ? 0
          : bytesPerSec > 0
            ? Math.ceil(left / bytesPerSec)
            : undefined;
    return {
      filename: this.filename,
      receivedBytes: this.received,
      totalBytes: this.total,
      bytesPerSec,
      etaSec,
      done,
      ...(error !== undefined ? { error } : {}),
    };
  }

  private emit(done: boolean, now = Date.now(), error?: string): void {
    this.lastEmitMs = now;
    const p = this.snapshot(done, now, error);
    this.sinks.onProgress?.(p);
    this.logStep(p);
    this.draw(p);
  }

  private logStep(p: ModelDownloadProgress): void {
    if (p.done || p.totalBytes === undefined || p.totalBytes === 0) return;
    const tenth = Math.floor((p.receivedBytes / p.totalBytes) * 10);
    if (tenth <= this.lastLoggedTenth) return;
    this.lastLoggedTenth = tenth;
    this.sinks.log.info(
      {
        filename: p.filename,
        receivedBytes: p.receivedBytes,
        totalBytes: p.totalBytes,
        bytesPerSec: p.bytesPerSec,
        etaSec: p.etaSec,
      },
      `downloading ${p.filename}: ${tenth * 10} % (${formatBytes(p.receivedBytes)} of ${formatBytes(p.totalBytes)}, ${formatBytes(p.bytesPerSec)}/s${p.etaSec !== undefined ? `, ${p.etaSec} s left` : ''})`,
    );
  }

  private draw(p: ModelDownloadProgress): void {
    const term = this.sinks.terminal;
    if (!term?.isTTY) return;
    const fraction = p.totalBytes ? Math.min(1, p.receivedBytes / p.totalBytes) : undefined;
    const filled = fraction === undefined ? 0 : Math.round(fraction * BAR_WIDTH);
    const bar =
      fraction === undefined ? '?'.repeat(BAR_WIDTH) : '#'.repeat(filled) + '-'.repeat(BAR_WIDTH - filled);
    const pct = fraction === undefined ? '' : ` ${Math.floor(fraction * 100)}%`;
    const size = `${formatBytes(p.receivedBytes)}${p.totalBytes !== undefined ? `/${formatBytes(p.totalBytes)}` : ''}`;
    const tail = p.error
      ? ` failed: ${p.error}`
      : p.done
        ? ' done'
        : ` ${formatBytes(p.bytesPerSec)}/s${p.etaSec !== undefined ? ` ETA ${p.etaSec}s` : ''}`;
    const line = `${p.filename} [${bar}]${pct} ${size}${tail}`;
    const width = term.columns > 0 ? term.columns - 1 : line.length;
    term.write(`\r\x1b[K${line.slice(0, width)}${p.done ? '\n' : ''}`);
  }
}
