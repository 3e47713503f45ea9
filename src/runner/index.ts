export { JobRunner } from './job-runner.js';
export type { CurrentJob, JobRunnerOptions } from './job-runner.js';
export type { JobIO } from './job-io.js';
export { rejectionReason } from './decide.js';
export type { OfferContext } from './decide.js';
