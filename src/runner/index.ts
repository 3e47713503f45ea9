export { JobRunner } from './job-runner.js';
export type { CurrentJob, JobRunnerOptions } from './job-runner.js';
export type { JobIO } from './job-io.js';
export { rejectionReason } from './decide.js';
export type { OfferContext } from './decide.js';
export { admit, ADMISSION_MARGIN_BYTES } from './admission.js';
export type { AdmissionInput, AdmissionVerdict } from './admission.js';
export { JobGate } from './gate.js';
export type { GateHolder } from './gate.js';
