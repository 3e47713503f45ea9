import { z } from 'zod';
import { EngineNameSchema, FileRoleSchema } from './enums.js';

export const ModelFileSchema = z.object({
  role: FileRoleSchema,
  url: z.string().min(1),
  filename: z.string().min(1),
  approxBytes: z.number().int().nonnegative().optional(),
  /** Hex SHA-256, any case; checked to be 64 hex digits when the file is provisioned. */
  sha256: z.string().optional(),
});
export type ModelFile = z.infer<typeof ModelFileSchema>;

const u32 = z.number().int().nonnegative();

export const CliDefaultsSchema = z.object({
  cfgScale: z.number(),
  steps: u32,
  width: u32,
  height: u32,
  samplingMethod: z.string().optional(),
  flowShift: z.number().optional(),
  zeroCondT: z.boolean().optional(),
  offloadToCpu: z.boolean().optional(),
  contextSize: u32.optional(),
  chatTemplateKwargs: z.record(z.string(), z.unknown()).optional(),
});
export type CliDefaults = z.infer<typeof CliDefaultsSchema>;

/** Where a job's model comes from and which engine must run it. */
export const ModelSourceSchema = z.object({
  engine: EngineNameSchema,
  files: z.array(ModelFileSchema),
  cliDefaults: CliDefaultsSchema,
});
export type ModelSource = z.infer<typeof ModelSourceSchema>;
