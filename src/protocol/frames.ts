import { z } from 'zod';
import { CapabilitiesSchema } from './capabilities.js';
import { RejectCodeSchema, StudioErrorCodeSchema } from './enums.js';
import { LogEntrySchema } from './log-entry.js';
import { ModelSourceSchema } from './model-source.js';
import { TaskSchema } from './task.js';

const jobId = z.string().min(1);

// Worker → studio -----------------------------------------------------------

export const HelloFrameSchema = z.object({
  type: z.literal('hello'),
  authToken: z.string().min(1),
  capabilities: CapabilitiesSchema,
});
export const HeartbeatFrameSchema = z.object({
  type: z.literal('heartbeat'),
  capabilities: CapabilitiesSchema,
  /** Absent when idle; the original's wire types also read an explicit `null` as idle. */
  currentJobId: jobId.nullable().optional(),
});
export const AcceptFrameSchema = z.object({ type: z.literal('accept'), jobId });
export const RejectFrameSchema = z.object({
  type: z.literal('reject'),
  jobId,
  reason: z.string(),
  /** `busy` / `paused`: transient, requeued without counting an attempt; absent: the claim is released. */
  code: RejectCodeSchema.optional(),
});
export const CompleteJsonFrameSchema = z.object({
  type: z.literal('completeJson'),
  jobId,
  result: z.unknown(),
  /**
   * The full prompt derived from the task (`promptFor`); the studio stores it with the result. This
   * worker always sends it; the original's type lets it be absent.
   */
  prompt: z.string().optional(),
});
export const FailFrameSchema = z.object({
  type: z.literal('fail'),
  jobId,
  error: z.string(),
  retryable: z.boolean(),
});
export const LogBatchFrameSchema = z.object({
  type: z.literal('logBatch'),
  entries: z.array(LogEntrySchema),
});

export const WorkerFrameSchema = z.discriminatedUnion('type', [
  HelloFrameSchema,
  HeartbeatFrameSchema,
  AcceptFrameSchema,
  RejectFrameSchema,
  CompleteJsonFrameSchema,
  FailFrameSchema,
  LogBatchFrameSchema,
]);
export type WorkerFrame = z.infer<typeof WorkerFrameSchema>;
export type WorkerFrameType = WorkerFrame['type'];
export type WorkerFrameOf<T extends WorkerFrameType> = Extract<WorkerFrame, { type: T }>;

// Studio → worker -----------------------------------------------------------

export const WelcomeFrameSchema = z.object({
  type: z.literal('welcome'),
  workerId: z.string().min(1),
  // The contract names the field but not its encoding: accept ISO strings and epoch milliseconds.
  serverTime: z.union([z.string(), z.number()]),
});

/** What the studio offers: one job, with everything needed to run it. */
export const ClaimSchema = z.object({
  jobId,
  gameId: z.string(),
  assetName: z.string(),
  model: z.string(),
  vramGbEstimate: z.number(),
  task: TaskSchema,
  modelSource: ModelSourceSchema,
});
export type Claim = z.output<typeof ClaimSchema>;
export type ClaimInput = z.input<typeof ClaimSchema>;

export const OfferFrameSchema = z.object({ type: z.literal('offer'), claim: ClaimSchema });
export const HeartbeatAckFrameSchema = z.object({ type: z.literal('heartbeatAck') });
export const CompleteAckFrameSchema = z.object({ type: z.literal('completeAck'), jobId });
export const FailAckFrameSchema = z.object({ type: z.literal('failAck'), jobId });
export const ErrorFrameSchema = z.object({
  type: z.literal('error'),
  code: StudioErrorCodeSchema,
  message: z.string(),
});

export const StudioFrameSchema = z.discriminatedUnion('type', [
  WelcomeFrameSchema,
  OfferFrameSchema,
  HeartbeatAckFrameSchema,
  CompleteAckFrameSchema,
  FailAckFrameSchema,
  ErrorFrameSchema,
]);
export type StudioFrame = z.output<typeof StudioFrameSchema>;
export type StudioFrameInput = z.input<typeof StudioFrameSchema>;
export type StudioFrameType = StudioFrame['type'];
export type StudioFrameOf<T extends StudioFrameType> = Extract<StudioFrame, { type: T }>;
