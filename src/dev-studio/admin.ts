import type { LogEntry } from '../protocol/index.js';
import { badRequest } from './errors.js';
import type { FileStore } from './files.js';
import type { Hub } from './hub.js';
import type { JobBoard } from './job-board.js';
import type { Registry } from './registry.js';
import type {
  EnqueueJobInput,
  Job,
  JobResult,
  Registration,
  Violation,
  WaitForJobOptions,
  WorkerSnapshot,
} from './types.js';

/**
 * The operator's handle on the dev studio, in process. The admin HTTP API (`/admin/…`) exposes the
 * same operations; see src/dev-studio/README.md.
 */
export interface DevStudioAdmin {
  /** Approve every new register-request at once. */
  autoApprove: boolean;
  /**
   * Offer jobs only to workers whose `taskKinds` and `vramThresholdGb` cover them (production's
   * matching; on by default). Off only for a test that must reach the worker's own refusals.
   */
  matchCapabilities: boolean;
  /** A 1 s 16 kHz mono 16-bit PCM tone, served at `/files/sample.wav`. */
  readonly sampleAudioUrl: string;

  listRegistrations(): Registration[];
  approve(requestId: string): { workerId: string; authToken: string };
  reject(requestId: string, reason: string): void;
  /** Removes the request: its next poll answers 404. */
  forget(requestId: string): void;

  listWorkers(): WorkerSnapshot[];
  /** The last 1,000 entries the worker shipped in `logBatch` frames. */
  workerLogs(workerId: string): LogEntry[];
  /** Closes the worker's socket with `code` (default 1001). */
  disconnectWorker(workerId: string, code?: number, reason?: string): void;
  /**
   * Sends `data` to the worker unvalidated (a string as a text frame, bytes as a binary frame): the
   * one way to make the dev studio break the contract, for testing the worker's handling of it.
   */
  sendRaw(workerId: string, data: string | Uint8Array): void;
  /** Cuts the worker's TCP connection without a close frame (the worker sees 1006). */
  dropWorker(workerId: string): void;
  /**
   * Stops reading the worker's socket and sends nothing more on it, leaving it open: a half-open
   * connection as the worker sees it (what it writes is never read; nothing comes back).
   */
  stopReading(workerId: string): void;
  /** Sends `error{worker_deleted}`, closes 4004; the worker's token is invalid from then on. */
  deleteWorker(workerId: string): void;

  enqueueJob(input: EnqueueJobInput): Job;
  listJobs(): Job[];
  getJob(jobId: string): Job;
  jobResult(jobId: string): JobResult;
  /**
   * Resolves once `until` (default: a final status) holds; rejects on timeout with the job's state.
   * The job's `failures` tell each spent attempt, including those of a job requeued and then completed.
   */
  waitForJob(jobId: string, opts?: WaitForJobOptions): Promise<Job>;

  /** The next `n` multipart complete requests answer `status` (after their body is read). */
  failNextUploads(n: number, status?: number): void;
  violations(): Violation[];
  /** Serves `bytes` at `GET /files/:name` and returns that URL. */
  addFile(name: string, bytes: Uint8Array, contentType: string): string;
}

export interface AdminParts {
  registry: Registry;
  board: JobBoard;
  hub: Hub;
  files: FileStore;
  uploadFaults: number[];
}

export function createAdmin({ registry, board, hub, files, uploadFaults }: AdminParts): DevStudioAdmin {
  return {
    get autoApprove() {
      return registry.autoApprove;
    },
    set autoApprove(value: boolean) {
      registry.autoApprove = value;
    },
    get matchCapabilities() {
      return hub.matchCapabilities;
    },
    set matchCapabilities(value: boolean) {
      hub.matchCapabilities = value;
      hub.pump();
    },
    get sampleAudioUrl() {
      return files.urlOf('sample.wav');
    },
    listRegistrations: () => registry.list(),
    approve: (requestId) => registry.approve(requestId),
    reject: (requestId, reason) => registry.reject(requestId, reason),
    forget: (requestId) => registry.forget(requestId),
    listWorkers: () => hub.listWorkers(),
    workerLogs: (workerId) => hub.workerLogs(workerId),
    disconnectWorker: (workerId, code = 1001, reason = 'disconnected by the operator') =>
      hub.disconnect(workerId, code, reason),
    dropWorker: (workerId) => hub.drop(workerId),
    stopReading: (workerId) => hub.stopReading(workerId),
    sendRaw: (workerId, data) => hub.sendRaw(workerId, data),
    deleteWorker: (workerId) => hub.deleteWorker(workerId),
    enqueueJob(input) {
      const job = board.enqueue(input);
      hub.pump();
      return board.get(job.jobId);
    },
    listJobs: () => board.list(),
    getJob: (jobId) => board.get(jobId),
    jobResult: (jobId) => board.result(jobId),
    waitForJob: (jobId, opts) => board.waitFor(jobId, opts),
    failNextUploads(n, status = 500) {
      if (!Number.isInteger(n) || n < 0) throw badRequest(`n must be a whole number ≥ 0, got ${n}`);
      if (!Number.isInteger(status) || status < 400 || status > 599) {
        throw badRequest(`status must be an HTTP error status (400-599), got ${status}`);
      }
      // Sets (not adds to) the count, so failNextUploads(0) turns injected failures off.
      uploadFaults.length = 0;
      for (let i = 0; i < n; i++) uploadFaults.push(status);
    },
    violations: () => hub.violations(),
    addFile: (name, bytes, contentType) => files.add(name, bytes, contentType),
  };
}
