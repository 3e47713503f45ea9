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
  const parsed = StudioFrameSchema.safeParse(withoutNullFields(json));
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

/**
 * serde reads `null` for an `Option` field as "absent", and the original's claim types are all
 * `Option`s where they are optional: fields holding `null` in the frame, the claim, its task and
 * model source (files, cliDefaults, messages) are dropped before the schema sees them, so
 * `{"language": null}` parses as the original parses it. Free-form JSON inside (a jsonSchema, the
 * chat template's kwargs) is left exactly as sent.
 */
function withoutNullFields(frame: unknown): unknown {
  const claim = stripNulls(asRecord(frame)?.claim);
  if (!claim) return stripNulls(frame) ?? frame;
  const task = stripNulls(claim.task);
  if (task && Array.isArray(task.messages))
    task.messages = task.messages.map((m: unknown) => stripNulls(m) ?? m);
  const source = stripNulls(claim.modelSource);
  if (source) {
    if (Array.isArray(source.files)) source.files = source.files.map((f: unknown) => stripNulls(f) ?? f);
    source.cliDefaults = stripNulls(source.cliDefaults) ?? source.cliDefaults;
  }
  return {
    ...stripNulls(frame),
    claim: { ...claim, task: task ?? claim.task, modelSource: source ?? claim.modelSource },
  };
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** A shallow copy of an object without its null-valued fields; undefined for a non-object. */
function stripNulls(value: unknown): Record<string, unknown> | undefined {
  const record = asRecord(value);
  if (!record) return undefined;
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== null));
}

export type { Claim };
