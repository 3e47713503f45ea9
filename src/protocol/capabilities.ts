import { z } from 'zod';
import { TaskKindSchema } from './enums.js';

/** What a worker can do; sent in register-request, hello and every heartbeat. */
export const CapabilitiesSchema = z.object({
  machineName: z.string(),
  username: z.string(),
  agentVersion: z.string(),
  engine: z.literal('multi'),
  vramTotalGb: z.number().nonnegative(),
  vramThresholdGb: z.number().nonnegative(),
  autoEnabled: z.boolean(),
  autoStart: z.boolean(),
  supportedModels: z.array(z.string()),
  taskKinds: z.array(TaskKindSchema),
  supportedModelsPerKind: z.partialRecord(TaskKindSchema, z.array(z.string())),
});
export type Capabilities = z.infer<typeof CapabilitiesSchema>;
