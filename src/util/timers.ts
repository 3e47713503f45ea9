import { setTimeout as delay } from 'node:timers/promises';

/** Sleeps `ms`, rejecting with an AbortError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return delay(ms, undefined, signal ? { signal } : undefined);
}

export interface BackoffOptions {
  /** Delay of attempt 0. */
  baseMs: number;
  /** No delay is longer than this. */
  capMs: number;
  /** Adds up to this fraction of random jitter (0 = exact, the contract's reconnect schedule). */
  jitter?: number;
}

/** Capped exponential backoff: base × 2^attempt, at most cap. */
export function backoffDelay(attempt: number, { baseMs, capMs, jitter = 0 }: BackoffOptions): number {
  const exact = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt));
  return jitter > 0 ? Math.round(exact * (1 + Math.random() * jitter)) : exact;
}

/** Whether `work` settles within `ms` (it goes on either way; a rejection counts as settled). */
export async function finishesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
