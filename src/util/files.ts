import { rename, writeFile } from 'node:fs/promises';

/** Whether a process with this id is alive (EPERM: alive, but another user's). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Writes the latest text of a small state file (temp file + rename, 0600), one write at a time:
 * calls made while a write runs are folded into one more write of the newest text. Failures are
 * swallowed: such files (counters, history) are conveniences that must never stop the worker.
 */
export class CoalescedFileWriter {
  private writing: Promise<void> | undefined;
  private next: (() => string) | undefined;
  private timer: NodeJS.Timeout | undefined;

  /**
   * `delayMs`: a write waits this long, taking every change made meanwhile, so a file that changes
   * with every job is written at most once per period instead of once per job.
   */
  constructor(
    private readonly path: string,
    private readonly delayMs = 0,
  ) {}

  /** Schedules a write of what `render` returns when the write happens. */
  write(render: () => string): void {
    this.next = render;
    if (this.delayMs <= 0) {
      this.startDrain();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.startDrain();
    }, this.delayMs).unref();
  }

  /** Resolves once everything scheduled so far is on disk (or has failed); a delayed write goes now. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.startDrain();
    }
    while (this.writing) await this.writing;
  }

  /**
   * Starts writing unless a write runs (it takes `next` too) or nothing waits. `drain` always
   * reaches an await before it can end, so `writing` is set first; it clears `writing` itself right
   * after its last look at `next`, leaving no moment where a new change would wait on a run that
   * has already finished.
   */
  private startDrain(): void {
    if (this.writing || !this.next) return;
    this.writing = this.drain();
  }

  private async drain(): Promise<void> {
    for (let render = this.next; render; render = this.next) {
      this.next = undefined;
      const tmp = `${this.path}.${process.pid}.tmp`;
      try {
        // Rendered after an await: a render that throws must not end the run before `writing` is set.
        const text = await Promise.resolve().then(render);
        await writeFile(tmp, text, { mode: 0o600 });
        await rename(tmp, this.path);
      } catch {
        // See the class comment: a full disk costs this file, not the worker.
      }
    }
    this.writing = undefined;
  }
}
