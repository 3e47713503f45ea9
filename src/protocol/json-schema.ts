import { z } from 'zod';
import { CapabilitiesSchema } from './capabilities.js';
import { ClaimSchema, StudioFrameSchema, WorkerFrameSchema } from './frames.js';
import { LogEntrySchema } from './log-entry.js';
import { ModelSourceSchema } from './model-source.js';
import { RegisterRequestSchema, RegisterResponseSchema, RegisterStatusSchema } from './registration.js';
import { ReleaseFeedSchema } from './release-feed.js';
import { TaskSchema } from './task.js';

const SCHEMAS = {
  'worker-frame': WorkerFrameSchema,
  'studio-frame': StudioFrameSchema,
  claim: ClaimSchema,
  task: TaskSchema,
  'model-source': ModelSourceSchema,
  capabilities: CapabilitiesSchema,
  'register-request': RegisterRequestSchema,
  'register-response': RegisterResponseSchema,
  'register-status': RegisterStatusSchema,
  'log-entry': LogEntrySchema,
  'release-feed': ReleaseFeedSchema,
} as const;

/**
 * JSON Schema (draft 2020-12) of every wire type, keyed by file stem. Schemas describe the wire
 * input, so fields with defaults are optional, as a sender may leave them out.
 */
export function jsonSchemas(): Record<keyof typeof SCHEMAS, object> {
  const out = {} as Record<keyof typeof SCHEMAS, object>;
  for (const [name, schema] of Object.entries(SCHEMAS) as [keyof typeof SCHEMAS, z.ZodType][]) {
    out[name] = { $id: `studio-worker/${name}.schema.json`, ...z.toJSONSchema(schema, { io: 'input' }) };
  }
  return out;
}
