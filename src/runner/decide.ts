import type { Claim } from '../protocol/index.js';

export interface OfferContext {
  paused: boolean;
  draining: boolean;
  busyWith: string | undefined;
  vramThresholdGb: number;
  /** Why the engines cannot run this claim, or undefined when they can. */
  engineRefusal: string | undefined;
}

/** Why an offer must be rejected, or undefined to accept it. Pure, so every rule is testable alone. */
export function rejectionReason(claim: Claim, ctx: OfferContext): string | undefined {
  if (ctx.draining) return 'worker is shutting down';
  if (ctx.paused) return 'worker is paused by its operator';
  if (ctx.busyWith !== undefined) return `worker is busy with job ${ctx.busyWith}`;
  if (claim.vramGbEstimate > ctx.vramThresholdGb) {
    return `VRAM estimate ${claim.vramGbEstimate} GB is above this worker's threshold of ${ctx.vramThresholdGb} GB`;
  }
  return ctx.engineRefusal;
}
