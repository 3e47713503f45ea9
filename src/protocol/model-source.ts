import { z } from 'zod';
import { EngineNameSchema, FileRoleSchema } from './enums.js';

export const ModelFileSchema = z.object({
  role: FileRoleSchema,
  url: z.string().min(1),
  filename: z.string().min(1),
  approxBytes: z.number().int().nonnegative().optional(),
  sha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'sha256 must be 64 hex digits')
    .optional(),
});
export type ModelFile = z.infer<typeof ModelFileSchema>;

export const CliDefaultsSchema = z.object({
  cfgScale: z.number(),
  steps: z.number().int().positive(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  samplingMethod: z.string().optional(),
  flowShift: z.number().optional(),
  zeroCondT: z.boolean().optional(),
  offloadToCpu: z.boolean().optional(),
  contextSize: z.number().int().positive().optional(),
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
