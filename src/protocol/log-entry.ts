import { z } from 'zod';
import { LogLevelSchema } from './enums.js';

/** One shipped log record. `ts` is an ISO 8601 UTC timestamp (see docs/protocol.md). */
export const LogEntrySchema = z.object({
  ts: z.string().min(1),
  level: LogLevelSchema,
  category: z.string(),
  message: z.string(),
  jobId: z.string().optional(),
});
export type LogEntry = z.infer<typeof LogEntrySchema>;
