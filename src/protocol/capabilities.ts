import { z } from 'zod';
import { TaskKindSchema } from './enums.js';

/**
 * What a worker can do; sent in register-request, hello and every heartbeat. This worker sends
 * `engine: "multi"` and every field; read as the original's type reads it (any engine string,
 * `taskKinds` and `supportedModelsPerKind` defaulting to empty, newer optional fields kept out).
 */
export const CapabilitiesSchema = z.object({
  machineName: z.string(),
  username: z.string(),
  agentVersion: z.string(),
  engine: z.string(),
  vramTotalGb: z.number().nonnegative(),
  vramThresholdGb: z.number().nonnegative(),
  autoEnabled: z.boolean(),
  autoStart: z.boolean(),
  supportedModels: z.array(z.string()),
  taskKinds: z.array(TaskKindSchema).default([]),
  supportedModelsPerKind: z.partialRecord(TaskKindSchema, z.array(z.string())).default({}),
  /** The original's newer fields: **Update automatically**, **Only utilise when I'm not using this computer**. */
  autoUpdate: z.boolean().optional(),
  onlyWhenIdle: z.boolean().optional(),
  /** The original's tray setting (`start_minimised`); told, not acted on by the studio. */
  startMinimised: z.boolean().optional(),
  /** `idle` (2 minutes without input) or `active`; absent while unknown. */
  userPresence: z.enum(['idle', 'active']).optional(),
});
export type Capabilities = z.infer<typeof CapabilitiesSchema>;
