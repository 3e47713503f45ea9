import type { Logger } from 'pino';
import { isRetryableError } from '../studio/index.js';
import { backoffDelay, isAbortError, sleep, toError } from '../util/index.js';
import type { BackoffOptions } from '../util/index.js';
import type { Outbox, OutboxEntry } from './outbox.js';

export interface DeliverOptions {
  entry: OutboxEntry;
  outbox: Outbox;
  upload: (entry: OutboxEntry) => Promise<void>;
  log: Logger;
  signal?: AbortSignal | undefined;
  backoff?: BackoffOptions;
  /** Attempts in this call before giving up with the last error (the entry stays for the next start). */
  maxAttempts?: number;
  /** Told before each wait, so observers can show the retry. */
  onRetry?: (attempt: number, error: Error, delayMs: number) => void;
}

const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, capMs: 60_000, jitter: 0.2 };

/**
 * Uploads one outbox entry until the studio takes it. A 2xx removes the entry ('delivered'); a
 * retryable failure (network, 5xx, 429) is counted on the entry and retried after a capped
 * backoff; a final one (4xx, a file that cannot be read) moves the entry to `rejected/`
 * ('rejected'). An abort rejects with the AbortError and leaves the entry for the next start.
 */
export async function deliverWithRetry(opts: DeliverOptions): Promise<'delivered' | 'rejected'> {
  const { outbox, log, signal } = opts;
  const backoff = opts.backoff ?? DEFAULT_BACKOFF;
  const maxAttempts = opts.maxAttempts ?? Infinity;
  let entry = opts.entry;
  const jobId = entry.jobId;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      await opts.upload(entry);
    } catch (e) {
      const err = toError(e);
      if (signal?.aborted || isAbortError(err)) throw err;
      if (!isRetryableError(err)) {
        const path = await outbox.quarantine(jobId, err.message);
        log.error(
          { jobId, err: err.message, path },
          `result of job ${jobId} refused, kept in ${path}: ${err.message}`,
        );
        return 'rejected';
      }
      // The entry may have been stored without fsync (the fast path); it will wait now, so make it durable.
      if (attempt === 1) await outbox.sync(jobId);
      entry = await outbox.markAttempt(jobId, err.message);
      if (attempt >= maxAttempts) {
        log.warn(
          { jobId, attempt },
          `upload of job ${jobId} gave up after ${attempt} attempts; kept for the next start`,
        );
        throw err;
      }
      const delayMs = backoffDelay(attempt - 1, backoff);
      opts.onRetry?.(attempt, err, delayMs);
      log.warn(
        { jobId, attempt, totalAttempts: entry.attempts, delayMs, err: err.message },
        `upload of job ${jobId} failed (attempt ${attempt}), retrying in ${delayMs} ms: ${err.message}`,
      );
      await sleep(delayMs, signal);
      continue;
    }
    await outbox.remove(jobId);
    log.info({ jobId, attempt, bytes: entry.bytes }, `result of job ${jobId} delivered`);
    return 'delivered';
  }
}
