import type { Logger } from 'pino';
import type { EngineDispatcher, ModelProvider } from '../engines/index.js';
import type { WorkerEventBus } from '../events/index.js';
import type { StoredResults } from '../outbox/index.js';
import type { Claim } from '../protocol/index.js';
import type { AdmissionInput } from './admission.js';
import type { JobGate } from './gate.js';

export interface JobRunnerOptions {
  dispatcher: EngineDispatcher;
  /** Finished results until the studio takes them (outbox + JSON results). */
  results: StoredResults;
  events: WorkerEventBus;
  log: Logger;
  /** Model provisioning handed to engines (absent: engines that need model files refuse to run). */
  models?: ModelProvider;
  /** Scratch space; each job gets its own folder inside, removed when the job ends. */
  workRoot: string;
  /** Read at every offer, so `set-threshold` and the dashboard take effect without a restart. */
  vramThresholdGb: () => number;
  /** Where a binary result must be uploaded (the approved identity at the time the job ran). */
  identity: () => { workerId: string; apiBaseUrl: string };
  /** Why the disk cannot take a job now (see `DiskWatch`), or undefined. */
  diskProblem?: () => string | undefined;
  /** Reads the disk again: an offer that meets a "disk full" reading asks for a fresh one first. */
  recheckDisk?: () => Promise<void>;
  /** The GPU's latest reading and the warm models, read at every offer and heartbeat (see admission.ts). */
  gpu?: () => AdmissionInput;
  /**
   * The one-job gate shared with the local API: a studio job holds it from its accept until its
   * result is with the studio (or failed, or kept for a re-offer); an offer is turned down while
   * another job holds it.
   */
  gate?: JobGate;
  /** Read per result: fsync it (file, sidecar, folder) before the upload (`fsync_results`). */
  fsyncResults?: () => boolean;
  /** Why `only_when_idle` holds studio work back now, or undefined. */
  presenceProblem?: () => string | undefined;
}

export interface CurrentJob {
  jobId: string;
  claim: Claim;
  startedAt: number;
  /** running: on its engine · uploading: binary result going up · delivering: answering a re-offer from disk. */
  phase: 'running' | 'uploading' | 'delivering';
  progress?: { fraction?: number; message?: string };
}

/** The runner's own view of the current job: which session holds it, and its hold on the gate. */
export interface Current extends CurrentJob {
  holding: Holding;
  /** Lets the one-job gate go (idempotent). */
  releaseGate: () => void;
}

export interface Holding {
  /** The session generation the job was accepted on; the studio holds it only there. */
  generation: number | undefined;
  /** Aborted when that session ends: an upload in progress stops, the result is kept. */
  lost: AbortController;
}
