import { z } from 'zod';
import { CapabilitiesSchema } from './capabilities.js';

export const RegisterRequestSchema = z.object({
  installId: z.uuid(),
  registrationSecretHash: z.string().regex(/^[0-9a-f]{64}$/, 'lowercase hex SHA-256'),
  capabilities: CapabilitiesSchema,
  userAgent: z.string().regex(/^studio-worker\/\S+$/, 'studio-worker/<version>'),
});
export type RegisterRequest = z.infer<typeof RegisterRequestSchema>;

// As lenient as the original (`status: String`): whatever the studio says here, the request's fate
// is read from the poll that follows.
export const RegisterResponseSchema = z.object({
  requestId: z.string().min(1),
  status: z.string(),
});
export type RegisterResponse = z.infer<typeof RegisterResponseSchema>;

export const RegisterStatusSchema = z.discriminatedUnion('status', [
  z.object({ status: z.literal('pending') }),
  z.object({ status: z.literal('approved'), workerId: z.string().min(1), authToken: z.string().min(1) }),
  // The original reads a rejection without `reason` as an empty reason.
  z.object({ status: z.literal('rejected'), reason: z.string().default('') }),
]);
export type RegisterStatus = z.infer<typeof RegisterStatusSchema>;
