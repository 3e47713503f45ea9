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
  /** Aborted when the session that holds the job ends, or the worker stops: the entry stays. */
  signal?: AbortSignal | undefined;
  backoff?: BackoffOptions;
  /** Transient failures are retried for this long, then the outcome is `gave-up` (entry kept). */
  giveUpAfterMs?: number;
  /** Told before each wait, so observers can show the retry. */
  onRetry?: (attempt: number, error: Error, delayMs: number) => void;
}

/**
 * - `delivered`: the studio took it; the entry is gone.
 * - `not-ours`: 404, 409 or 410 — the studio no longer holds the job for this worker; the entry is
 *   kept for a re-offer.
 * - `rejected`: another 4xx — the studio refuses these bytes; the entry moved to `rejected/`.
 * - `gave-up`: transient failures for longer than `giveUpAfterMs`; the entry is kept.
 */
export type DeliveryOutcome =
  | { outcome: 'delivered' }
  | { outcome: 'not-ours'; error: string }
  | { outcome: 'rejected'; error: string; path: string }
  | { outcome: 'gave-up'; error: string };

const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, capMs: 60_000, jitter: 0.2 };
export const DEFAULT_GIVE_UP_AFTER_MS = 10 * 60 * 1000;
const NOT_OURS: ReadonlySet<number> = new Set([404, 409, 410]);

/**
 * Uploads one outbox entry while the job is ours. A retryable failure (network, 5xx, 408, 425,
 * 429) is counted on the entry and retried after a capped backoff until `giveUpAfterMs`; see
 * `DeliveryOutcome` for the rest. An abort rejects with the AbortError and leaves the entry.
 */
export async function deliverWithRetry(opts: DeliverOptions): Promise<DeliveryOutcome> {
  const { outbox, log, signal } = opts;
  const backoff = opts.backoff ?? DEFAULT_BACKOFF;
  const giveUpAt = Date.now() + (opts.giveUpAfterMs ?? DEFAULT_GIVE_UP_AFTER_MS);
  let entry = opts.entry;
  const jobId = entry.jobId;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      await opts.upload(entry);
    } catch (e) {
      const err = toError(e);
      if (signal?.aborted || isAbortError(err)) throw err;
      const status = (err as { status?: unknown }).status;
      if (typeof status === 'number' && NOT_OURS.has(status)) {
        log.warn(
          `the studio no longer holds job ${jobId} for this worker (HTTP ${status}); its result is kept for a re-offer`,
        );
        return { outcome: 'not-ours', error: err.message };
      }
      if (!isRetryableError(err)) {
        const path = await outbox.quarantine(jobId, err.message);
        log.error(`result of job ${jobId} refused, kept in ${path}: ${err.message}`);
        return { outcome: 'rejected', error: err.message, path };
      }
      // The entry may have been stored without fsync (the fast path); it will wait now, so make it durable.
      if (attempt === 1) await outbox.sync(jobId);
      entry = await outbox.markAttempt(jobId, err.message);
      const delayMs = backoffDelay(attempt - 1, backoff);
      if (Date.now() + delayMs > giveUpAt) {
        log.warn(`upload of job ${jobId} still failing after ${attempt} attempts; giving up: ${err.message}`);
        return { outcome: 'gave-up', error: err.message };
      }
      opts.onRetry?.(attempt, err, delayMs);
      log.warn(
        { attempt, totalAttempts: entry.attempts, delayMs },
        `upload of job ${jobId} failed (attempt ${attempt}), retrying in ${delayMs} ms: ${err.message}`,
      );
      await sleep(delayMs, signal);
      continue;
    }
    await outbox.forget(entry);
    log.info({ attempt, bytes: entry.bytes }, `result of job ${jobId} delivered`);
    return { outcome: 'delivered' };
  }
}
