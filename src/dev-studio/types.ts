import type { Logger } from 'pino';
import type {
  Capabilities,
  Claim,
  LogEntry,
  ModelSource,
  StudioFrameInput,
  TaskInput,
  TaskKind,
  WorkerFrame,
} from '../protocol/index.js';

export interface DevStudioOptions {
  /** 0 picks a free port. Default 8787. */
  port?: number;
  /** Default 127.0.0.1 (loopback only). */
  host?: string;
  /** Approve every register-request at once. Settable later through `admin.autoApprove`. */
  autoApprove?: boolean;
  /** Default: a silent logger. */
  log?: Logger;
  /** Where uploaded results land. Default: a temp folder removed on close. */
  resultsDir?: string;
  /** A connection that sends no frame for this long is closed with 1001. Default 30000. */
  heartbeatTimeoutMs?: number;
  /** A connection that sends no `hello` for this long is a protocol violation. Default 10000. */
  helloTimeoutMs?: number;
  /**
   * Echo the subprotocol `studio-worker-v1` on every upgrade, asked for or not, as production does
   * (default true). False plays a studio that never echoes it, to test a worker against both.
   */
  echoSubprotocol?: boolean;
  /**
   * How many attempts a job gets (flows.md §6: a retryable `fail`, a reject without a code and a
   * socket closed mid-job each spend one; the job is requeued until they are spent). Default 3; a
   * job may set its own at enqueue.
   */
  maxAttempts?: number;
  /**
   * Offer a job only to workers whose last capabilities serve its kind (`taskKinds`) and cover its
   * estimate (`vramThresholdGb`), as production's `pickWorkerForJob` does (flows.md §3). Default
   * true; false lets a test reach a worker's own refusals of such jobs. `autoEnabled: false` is
   * honoured either way. Settable later through `admin.matchCapabilities`.
   */
  matchCapabilities?: boolean;
}

export type RegistrationStatus = 'pending' | 'approved' | 'rejected';

export interface Registration {
  requestId: string;
  installId: string;
  status: RegistrationStatus;
  workerId?: string;
  reason?: string;
  capabilities: Capabilities;
  createdAt: string;
}

export interface WorkerSnapshot {
  workerId: string;
  connected: boolean;
  welcomed: boolean;
  deleted: boolean;
  lastHeartbeatAt?: string;
  heartbeats: number;
  /** As the worker last reported it (hello or heartbeat). */
  capabilities?: Capabilities;
  /** The subprotocols the worker's last upgrade asked for (the contract: `studio-worker-v1`). */
  subprotocolsRequested?: string[];
  /** As the worker's last heartbeat reported it. */
  currentJobId?: string;
  /** The job the studio has offered to / seen accepted by this worker's live connection. */
  offeredJobId?: string;
}

/**
 * `rejected`: a reject without a code spent its last attempt; `failed`: a `fail` with
 * `retryable: false`, or a retryable `fail` or a socket closed mid-job that spent its last attempt
 * (see `maxAttempts`).
 */
export type JobStatus = 'queued' | 'offered' | 'accepted' | 'completed' | 'failed' | 'rejected';
export const FINAL_JOB_STATUSES: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'rejected']);

/** A delivered result; `prompt` is what the worker sent with it (the studio stores it on the job). */
export type JobResult =
  | { type: 'json'; value: unknown; prompt: string }
  | {
      type: 'file';
      ext: string;
      contentType: string;
      filename: string;
      bytes: number;
      path: string;
      prompt: string;
    };

/**
 * One attempt that ended without a result (flows.md §6), kept so a test can see every attempt of a
 * job that was requeued, not only how it ended.
 */
export interface JobFailure {
  /** Which attempt it was, from 1. */
  attempt: number;
  workerId: string;
  /** What ended it: the worker's `fail`, its reject without a code, or its socket closing mid-job. */
  via: 'fail' | 'reject' | 'disconnect';
  /** The `fail`'s error, the reject's reason, or the close code and reason. */
  error: string;
  /** The `fail`'s flag; true for a reject or a closed socket (the claim is released for another try). */
  retryable: boolean;
  at: string;
}

export interface Job {
  jobId: string;
  status: JobStatus;
  kind: TaskKind;
  /** The worker the job is (or was last) offered to. */
  workerId?: string;
  /** When set, the job is offered only to this worker. */
  targetWorkerId?: string;
  rejectReason?: string;
  /** The code of the last reject (`busy`/`paused` put the job back in the queue). */
  rejectCode?: string;
  /** Transient rejects (busy/paused) so far; they never count as attempts. */
  transientRejects?: number;
  /**
   * Attempts spent (flows.md §6): each `fail`, each reject without a code, each socket closed while
   * it held the job — one entry each in `failures`. At `maxAttempts` the job ends.
   */
  attempts: number;
  maxAttempts: number;
  /** Every spent attempt, oldest first (`attempts` entries). */
  failures: JobFailure[];
  /** Set when the job ends `failed`: its last failure's error and flag. */
  error?: string;
  retryable?: boolean;
  result?: JobResult;
  enqueuedAt: string;
  offeredAt?: string;
  acceptedAt?: string;
  finishedAt?: string;
  /** The claim as built and validated; what is sent unless `rawClaim` was given. */
  claim: Claim;
  /** Sent instead of `claim`, unvalidated, when given at enqueue. */
  rawClaim?: unknown;
}

export interface EnqueueJobInput {
  task: TaskInput;
  /** Attempts it gets before it ends `failed` or `rejected`; default the studio's `maxAttempts`. */
  maxAttempts?: number;
  /** Default: a fresh `j-<n>-<hex>` id. */
  jobId?: string;
  modelSource?: ModelSource;
  model?: string;
  vramGbEstimate?: number;
  gameId?: string;
  assetName?: string;
  /** Offer only to this worker. */
  workerId?: string;
  /** Send exactly this as the claim, unvalidated (to test how a worker handles a bad offer). */
  rawClaim?: unknown;
}

export interface WaitForJobOptions {
  /** Default 30000. */
  timeoutMs?: number;
  /** Default: the job reached a final status. */
  until?: (job: Job) => boolean;
}

export interface Violation {
  at: string;
  workerId?: string;
  reason: string;
  /** The offending frame as received (parsed JSON when it parsed, else the text, else a byte count). */
  frame?: unknown;
}

/** An offer frame whose claim may be a raw, unvalidated value. */
export type OutgoingFrame = StudioFrameInput | { type: 'offer'; claim: unknown };

export type FrameEvent =
  | { direction: 'in'; workerId: string; frame: WorkerFrame }
  | { direction: 'out'; workerId: string; frame: OutgoingFrame };

export interface WorkerEvent {
  workerId: string;
  type: 'connected' | 'welcomed' | 'disconnected';
  /** Close code, on `disconnected`. */
  code?: number;
  reason?: string;
}

/** The typed event map of `DevStudio.events`. */
export interface DevStudioEvents {
  frame: [FrameEvent];
  violation: [Violation];
  job: [Job];
  worker: [WorkerEvent];
}

export type { LogEntry };
