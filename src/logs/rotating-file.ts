import {
  closeSync,
  copyFileSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';

/** As the original's log_trim: a log above 10 MiB is rotated, three old files kept. */
export const LOG_FILE_MAX_BYTES = 10 * 1024 * 1024;
export const LOG_FILE_KEEP = 3;

export interface RotatingFileOptions {
  /** Rotate before a write would take the file past this size (default 10 MiB). */
  maxBytes?: number;
  /** Old files kept: `file.1` (newest) … `file.<keep>` (default 3). */
  keep?: number;
}

/**
 * A log file this process writes and rotates itself (`run --log-file`): each line is written
 * synchronously; when the next line would take the file over `maxBytes`, the file is closed,
 * renamed to `file.1` (older ones shifted, the oldest dropped) and a new, empty file opened. The
 * file really shrinks, unlike a copy-and-truncate under a writer that keeps its own offset (cmd.exe's
 * `>>`). Where a rename is refused (Windows, a reader holding the file without delete sharing), it
 * is copied to `file.1` and truncated instead: this process appends, so its next line is at the start.
 */
export class RotatingFile {
  private fd: number;
  private size: number;
  private readonly maxBytes: number;
  private readonly keep: number;
  private open = true;
  private retryAfter = 0;

  constructor(
    readonly file: string,
    opts: RotatingFileOptions = {},
  ) {
    this.maxBytes = Math.max(1, opts.maxBytes ?? LOG_FILE_MAX_BYTES);
    this.keep = Math.max(1, opts.keep ?? LOG_FILE_KEEP);
    mkdirSync(path.dirname(file), { recursive: true });
    this.fd = openSync(file, 'a');
    this.size = fstatSync(this.fd).size;
  }

  write(line: string): boolean {
    const bytes = Buffer.from(line);
    const over = this.size > 0 && this.size + bytes.length > this.maxBytes;
    if (over && Date.now() >= this.retryAfter) this.rotate();
    if (!this.open) return false;
    writeSync(this.fd, bytes);
    this.size += bytes.length;
    return true;
  }

  close(): void {
    if (this.open) closeSync(this.fd);
    this.open = false;
  }

  private rotate(): void {
    const f = this.file;
    try {
      rmSync(`${f}.${this.keep}`, { force: true });
      for (let i = this.keep - 1; i >= 1; i--) {
        try {
          renameSync(`${f}.${i}`, `${f}.${i + 1}`);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      }
      this.close();
      try {
        renameSync(f, `${f}.1`);
        this.reopen();
      } catch {
        this.reopen();
        copyFileSync(f, `${f}.1`);
        ftruncateSync(this.fd, 0);
      }
      this.size = fstatSync(this.fd).size;
    } catch (e) {
      // Logging must go on: keep writing to the file as it is, and try again in a minute.
      this.retryAfter = Date.now() + 60_000;
      process.emitWarning(`could not rotate ${f}: ${e instanceof Error ? e.message : String(e)}`);
      if (!this.open) {
        try {
          this.reopen();
        } catch {
          // Lines are dropped until a later rotation manages to open the file again.
        }
      }
    }
  }

  private reopen(): void {
    this.fd = openSync(this.file, 'a');
    this.open = true;
  }
}
