import type { Logger } from 'pino';
import type { WorkerEventBus } from '../events/index.js';
import { fullGc } from '../util/index.js';

/** How long a worker stays without a job before it gives back what the jobs left behind. */
export const IDLE_TRIM_DELAY_MS = 30_000;
const SECOND_GC_AFTER_MS = 1_000;

export interface IdleHeapTrimOptions {
  events: WorkerEventBus;
  /** True while no job runs: a job that started since the last one ended puts the trim off. */
  isIdle: () => boolean;
  log: Logger;
  delayMs?: number;
  /** Between the two collections; 1 s by default. */
  secondAfterMs?: number;
  /** The collection to run; V8's full GC by default. */
  gc?: (() => void) | undefined;
}

/**
 * Gives the heap a busy spell grew back to the system once the worker has gone idle. V8 shrinks its
 * heap by itself only after it grew by ~10 MB since the last time it did: a worker whose jobs leave it
 * just under that keeps the slack (old-space pages two-thirds used, ~7 MB here) for as long as it
 * idles (docs/benchmarks.md). Two full collections `delayMs` after the last job ends, compacting the
 * old space, give it back; they take ~10 ms of a worker with nothing to do, once per idle spell.
 * Returns a function that stops it.
 */
export function startIdleHeapTrim(opts: IdleHeapTrimOptions): () => void {
  const delayMs = opts.delayMs ?? IDLE_TRIM_DELAY_MS;
  let timer: NodeJS.Timeout | undefined;
  const trim = (): void => {
    timer = undefined;
    // Looked up on first use: a worker that never idles after a job never turns the GC flag on.
    const gc = opts.gc ?? fullGc();
    if (!gc || !opts.isIdle()) return;
    const before = process.memoryUsage.rss();
    gc();
    // The second collection, once the first one's sweeping is done, compacts what that left scattered.
    timer = setTimeout(() => {
      timer = undefined;
      gc();
      opts.log.debug(`idle: heap compacted, RSS ${mb(before)} → ${mb(process.memoryUsage.rss())} MB`);
    }, opts.secondAfterMs ?? SECOND_GC_AFTER_MS);
    timer.unref();
  };
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(trim, delayMs);
    // An idle worker's timer must not keep a stopping process alive.
    timer.unref();
  };
  const offs = [opts.events.on('job:completed', arm), opts.events.on('job:failed', arm)];
  return () => {
    clearTimeout(timer);
    for (const off of offs) off();
  };
}

function mb(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}
