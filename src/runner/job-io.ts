import type { DeliveryOutcome, OutboxEntry } from '../outbox/index.js';
import type { RejectCode } from '../protocol/index.js';

/**
 * The narrow functions the runner needs from the outside world. The session provides the frame
 * senders and its generation; the worker provides `deliver` (one outbox upload, retried while the
 * job is held). The runner never sees a socket.
 *
 * Each frame sender returns whether the frame went out on a welcomed connection.
 */
export interface JobIO {
  accept(jobId: string): boolean;
  /** `code` only for transient rejects (`busy`, `paused`); without one the studio releases the claim. */
  reject(jobId: string, reason: string, code?: RejectCode): boolean;
  completeJson(jobId: string, result: unknown, prompt: string): boolean;
  fail(jobId: string, error: string, retryable: boolean): boolean;
  /**
   * Which welcomed connection is live now (it changes at every welcome), or undefined while none
   * is: a job is held by the studio only on the connection it was accepted on.
   */
  generation(): number | undefined;
  /** Uploads a binary result already safe in the outbox; `signal` aborts when the job is no longer held. */
  deliver(entry: OutboxEntry, signal: AbortSignal): Promise<DeliveryOutcome>;
}
