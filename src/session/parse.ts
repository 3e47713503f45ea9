import { z } from 'zod';
import type { Claim, StudioFrame } from '../protocol/index.js';
import { StudioFrameSchema } from '../protocol/index.js';

export type ParsedStudioFrame =
  | { ok: true; frame: StudioFrame }
  /** An offer we cannot run as sent; if it names a job id the job is failed, never guessed at. */
  | { ok: false; reason: string; invalidOfferJobId?: string };

const OfferShape = z.object({ type: z.literal('offer'), claim: z.object({ jobId: z.string().min(1) }) });

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(frame)'}: ${i.message}`)
    .join('; ');
}

/** Parses one text frame from the studio; never throws. */
export function parseStudioFrame(text: string): ParsedStudioFrame {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: `not JSON: ${text.slice(0, 120)}` };
  }
  const parsed = StudioFrameSchema.safeParse(json);
  if (parsed.success) return { ok: true, frame: parsed.data };
  const type = (json as { type?: unknown } | null)?.type;
  const offer = OfferShape.safeParse(json);
  if (offer.success) {
    return {
      ok: false,
      reason: `invalid offer for job ${offer.data.claim.jobId}: ${describeIssues(parsed.error)}`,
      invalidOfferJobId: offer.data.claim.jobId,
    };
  }
  return {
    ok: false,
    reason:
      typeof type === 'string'
        ? `invalid "${type}" frame: ${describeIssues(parsed.error)}`
        : `frame without a known "type": ${text.slice(0, 120)}`,
  };
}

export type { Claim };
