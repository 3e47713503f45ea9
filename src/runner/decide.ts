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

/** Why an offer must be rejected, or undefined to accept it. Pure, so every rule is testable alone. */
export function rejectionReason(claim: Claim, ctx: OfferContext): Rejection | undefined {
  if (ctx.draining) return { reason: 'worker is shutting down', code: 'busy' };
  if (ctx.paused) return { reason: 'worker paused by operator', code: 'paused' };
  // `paused`, as the original: the studio requeues it without spending an attempt.
  if (ctx.presenceProblem !== undefined) return { reason: ctx.presenceProblem, code: 'paused' };
  if (ctx.busyWith !== undefined) {
    const what = ctx.busyWith.startsWith('a local API request') ? ctx.busyWith : `job ${ctx.busyWith}`;
    return { reason: `worker is busy with ${what}`, code: 'busy' };
  }
  // No code: a full disk here is no reason to keep the job from a worker that has room.
  if (ctx.diskProblem !== undefined) return { reason: ctx.diskProblem };
  if (claim.vramGbEstimate > ctx.vramThresholdGb) {
    return {
      reason: `VRAM estimate ${claim.vramGbEstimate} GB is above this worker's threshold of ${ctx.vramThresholdGb} GB`,
    };
  }
  if (ctx.engineRefusal !== undefined) return { reason: ctx.engineRefusal };
  // No code either: another worker with room (or a cooler GPU) should take the job.
  if (ctx.gpuProblem !== undefined) return { reason: ctx.gpuProblem };
  return undefined;
}
