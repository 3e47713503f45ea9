/** The Pristine → Pending → Approved / Rejected registration state machine (contract §2). */
export { ensureRegistered, registrationSecretHash } from './register.js';
export type { EnsureRegisteredOptions } from './register.js';
export { RegistrationRejectedError, registrationState, resetRegistration } from './state.js';
export type { RegistrationState, RegistrationStore } from './state.js';
