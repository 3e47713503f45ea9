import type { Logger } from 'pino';
import type { StoredResult } from '../outbox/index.js';
import { isAbortError } from '../util/index.js';
import type { JobIO } from './job-io.js';

/** What became of a stored result offered to the studio. */
export type HandOver =
  /** The studio has it; `forget`: it no longer needs keeping here (an upload it took). */
  | { kind: 'completed'; bytes?: number; forget: boolean }
  /** Kept on disk for a re-offer (session gone, send failed, upload stopped). */
  | { kind: 'kept' }
  /** The job is no longer ours to report on (the studio gave it to another worker). */
  | { kind: 'not-ours' }
  /** The studio must be told the job failed; `forget` as above. */
  | { kind: 'fail'; error: string; retryable: boolean; forget: boolean };

export interface HandOverContext {
  io: JobIO;
  log: Logger;
  /** Whether the studio still holds the job for us (the session it was accepted on). */
  holds: () => boolean;
  /** Ends an upload: the session that held the job is gone, or the worker stops. */
  signal: AbortSignal;
  /** Why `signal` fired, in words for the log. */
  stopReason: () => string;
  /** Called as a binary result starts going up. */
  onUploading: () => void;
}

/**
 * Gives a stored result to the studio if it still holds the job: JSON in a frame, a file as an
 * HTTP multipart upload. Anything that keeps it from the studio keeps it on disk instead.
 */
export async function handOver(jobId: string, stored: StoredResult, ctx: HandOverContext): Promise<HandOver> {
  const { io, log } = ctx;
  if (!ctx.holds()) {
    log.warn(`job ${jobId} finished after its studio session ended; the result is kept for a re-offer`);
    return { kind: 'kept' };
  }
  if (stored.type === 'json') {
    if (io.completeJson(jobId, stored.stored.result, stored.stored.prompt))
      return { kind: 'completed', forget: false };
    log.warn(`could not send the result of job ${jobId}; it is kept for a re-offer`);
    return { kind: 'kept' };
  }
  ctx.onUploading();
  let delivery;
  try {
    delivery = await io.deliver(stored.entry, ctx.signal);
  } catch (e) {
    if (!isAbortError(e) && !ctx.signal.aborted) throw e;
    log.warn(`upload of job ${jobId} stopped (${ctx.stopReason()}); the result is kept for a re-offer`);
    return { kind: 'kept' };
  }
  switch (delivery.outcome) {
    case 'delivered':
      return { kind: 'completed', bytes: stored.entry.bytes, forget: true };
    case 'not-ours':
      return { kind: 'not-ours' };
    case 'rejected':
      return {
        kind: 'fail',
        error: `the studio refused the upload of job ${jobId} (${delivery.error}); the result is kept in ${delivery.path}`,
        retryable: false,
        forget: true,
      };
    case 'gave-up':
      return {
        kind: 'fail',
        error: `the result of job ${jobId} could not be uploaded: ${delivery.error}`,
        retryable: true,
        forget: false,
      };
  }
}
