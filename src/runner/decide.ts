import type { Claim, RejectCode } from '../protocol/index.js';

export interface OfferContext {
  paused: boolean;
  draining: boolean;
  busyWith: string | undefined;
  vramThresholdGb: number;
  /** Why the engines cannot run this claim, or undefined when they can. */
  engineRefusal: string | undefined;
  /** Why nothing should be written to disk now (too little free space), or undefined. */
  diskProblem?: string | undefined;
  /** Why the GPU cannot take this claim now (memory, temperature; see admission.ts), or undefined. */
  gpuProblem?: string | undefined;
  /** Why `only_when_idle` holds studio work back now (someone at the keyboard, or unknown), or undefined. */
  presenceProblem?: string | undefined;
}

export interface Rejection {
  reason: string;
  /**
   * `busy` and `paused` tell the studio the reject is transient (requeued without counting an
   * attempt). Without a code the studio releases the claim, so another worker can take the job.
   */
  code?: RejectCode;
}

/**
 * Why an offer must be rejected, or undefined to accept it. Pure, so every rule is testable alone.
 *
 * The code tells the studio whether the refusal will pass (flows.md §6): `busy` and `paused` put
 * the job back in the queue without spending an attempt, and the studio does not offer it straight
 * back. Only what will not change here — a job this worker's engines cannot run, or one above the
 * operator's threshold — goes without a code, so the studio releases it to another worker. The
 * passing conditions (disk, GPU) are also announced in heartbeats (see availability.ts), so an
 * offer meets them only when it raced that announcement.
 */
export function rejectionReason(claim: Claim, ctx: OfferContext): Rejection | undefined {
  if (ctx.draining) return { reason: 'worker is shutting down', code: 'busy' };
  if (ctx.paused) return { reason: 'worker paused by operator', code: 'paused' };
  // `paused`, as the original: the studio requeues it without spending an attempt.
  if (ctx.presenceProblem !== undefined) return { reason: ctx.presenceProblem, code: 'paused' };
  if (ctx.busyWith !== undefined) {
    const what = ctx.busyWith.startsWith('a local API request') ? ctx.busyWith : `job ${ctx.busyWith}`;
    return { reason: `worker is busy with ${what}`, code: 'busy' };
  }
  if (claim.vramGbEstimate > ctx.vramThresholdGb) {
    return {
      reason: `VRAM estimate ${claim.vramGbEstimate} GB is above this worker's threshold of ${ctx.vramThresholdGb} GB`,
    };
  }
  if (ctx.engineRefusal !== undefined) return { reason: ctx.engineRefusal };
  // Passing conditions: back to the queue without an attempt, offered again once they clear.
  if (ctx.diskProblem !== undefined) return { reason: ctx.diskProblem, code: 'busy' };
  if (ctx.gpuProblem !== undefined) return { reason: ctx.gpuProblem, code: 'busy' };
  return undefined;
}
