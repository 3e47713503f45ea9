import type { WorkerConfig } from '../config/types.js';
import { ExitCode, UserError } from '../util/index.js';

/** Where this worker stands with the studio; derived from config, where every transition is persisted. */
export type RegistrationState =
  | { state: 'pristine' }
  | { state: 'pending'; requestId: string; since?: string }
  | { state: 'approved'; workerId: string }
  | { state: 'rejected'; reason: string };

/** What registration needs of the config store (config/'s `ConfigStore` is one). */
export interface RegistrationStore {
  load(): Promise<WorkerConfig>;
  update(fn: (c: WorkerConfig) => WorkerConfig | void): Promise<WorkerConfig>;
}

export function registrationState(c: WorkerConfig): RegistrationState {
  if (c.authToken && c.workerId) return { state: 'approved', workerId: c.workerId };
  if (c.registrationRejectedReason !== undefined)
    return { state: 'rejected', reason: c.registrationRejectedReason };
  if (c.registrationRequestId) {
    return c.registrationRequestedAt
      ? { state: 'pending', requestId: c.registrationRequestId, since: c.registrationRequestedAt }
      : { state: 'pending', requestId: c.registrationRequestId };
  }
  return { state: 'pristine' };
}

/** The operator rejected this worker: we stop until they run `register --reset`. */
export class RegistrationRejectedError extends UserError {
  override readonly name = 'RegistrationRejectedError';
  constructor(readonly reason: string) {
    super(
      `The studio rejected this worker's registration${reason ? `: ${reason}` : ''}. ` +
        'Run `studio-worker register --reset` to ask again.',
      ExitCode.refused,
    );
  }
}

/** Forgets everything of registration but the install id, so the next start asks afresh. */
export function resetRegistration(store: RegistrationStore): Promise<WorkerConfig> {
  return store.update((c) => ({
    ...c,
    workerId: undefined,
    authToken: undefined,
    registrationRequestId: undefined,
    registrationSecret: undefined,
    registrationRequestedAt: undefined,
    registrationRejectedReason: undefined,
  }));
}
