/**
 * The dev studio: the repository's reference implementation of the contract's server side, on
 * loopback with in-memory state. Integration tests, the demo and the benchmarks run the real worker
 * against it.
 */
export { startDevStudio } from './server.js';
export type { DevStudio } from './server.js';
export type { DevStudioAdmin } from './admin.js';
export { runDevStudioCli, devStudioBanner } from './cli.js';
export type { DevStudioCliOptions } from './cli.js';
export { DevStudioError } from './errors.js';
export { toneWav } from './files.js';
export { FINAL_JOB_STATUSES } from './types.js';
export type {
  DevStudioEvents,
  DevStudioOptions,
  EnqueueJobInput,
  FrameEvent,
  Job,
  JobFailure,
  JobResult,
  JobStatus,
  OutgoingFrame,
  Registration,
  RegistrationStatus,
  Violation,
  WaitForJobOptions,
  WorkerEvent,
  WorkerSnapshot,
} from './types.js';
