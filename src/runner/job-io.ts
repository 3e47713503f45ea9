import type { OutboxEntry } from '../outbox/index.js';

/**
 * The narrow functions the runner needs from the outside world. The session provides the frame
 * senders; the worker provides `deliver` (outbox upload with retry). The runner never sees a socket.
 */
export interface JobIO {
  accept(jobId: string): void;
  reject(jobId: string, reason: string): void;
  completeJson(jobId: string, result: unknown, prompt?: string): void;
  fail(jobId: string, error: string, retryable: boolean): void;
  /** Uploads a binary result already safe in the outbox; resolves when the studio took it or refused it. */
  deliver(entry: OutboxEntry, signal: AbortSignal): Promise<'delivered' | 'rejected'>;
}
