import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { z } from 'zod';
import { ClaimSchema, TaskSchema } from '../protocol/index.js';
import type { ModelSource, TaskKind } from '../protocol/index.js';
import { badRequest, conflict, DevStudioError, notFound } from './errors.js';
import { FINAL_JOB_STATUSES } from './types.js';
import type {
  DevStudioEvents,
  EnqueueJobInput,
  Job,
  JobFailure,
  JobResult,
  WaitForJobOptions,
} from './types.js';

const DEFAULT_MODEL_SOURCE: ModelSource = {
  engine: 'synthetic',
  files: [],
  cliDefaults: { cfgScale: 7, steps: 20, width: 512, height: 512 },
};

const MODEL_SHORT_NAMES: Record<TaskKind, string> = {
  image: 'image',
  llm: 'llm',
  audio_stt: 'stt',
  audio_tts: 'tts',
  video: 'video',
};

type JobRecord = Job;

const now = (): string => new Date().toISOString();

// A snapshot must not share the failure history with the record it was taken from: a listener
// keeping it would see later attempts appear in it.
function snapshot(job: JobRecord): Job {
  return { ...job, failures: job.failures.map((f) => ({ ...f })) };
}

/**
 * Every job and the FIFO queue of those waiting for a worker. A job moves
 * queued → offered → accepted → completed | failed. As production decides it (flows.md §6): a
 * `busy`/`paused` reject sends it back to the front of the queue without an attempt; a reject
 * without a code, a retryable `fail` and a socket closed while the job was held each spend an
 * attempt and send it back to the front, until the attempts are spent (then `rejected` after a
 * reject, `failed` otherwise); a `fail` with `retryable: false` ends it `failed` at once.
 * Every change emits a `job` snapshot.
 */
export class JobBoard {
  private readonly jobs = new Map<string, JobRecord>();
  private queue: string[] = [];
  private seq = 0;
  /** Rejecters of pending `waitFor` calls, so `close` can end them. */
  private readonly waiters = new Set<(e: Error) => void>();

  constructor(
    private readonly events: EventEmitter<DevStudioEvents>,
    private readonly maxAttempts = 3,
  ) {}

  enqueue(input: EnqueueJobInput): Job {
    const parsed = TaskSchema.safeParse(input.task);
    if (!parsed.success) throw badRequest(`invalid task: ${z.prettifyError(parsed.error)}`);
    const task = parsed.data;
    this.seq += 1;
    const rawJobId = (input.rawClaim as { jobId?: unknown } | undefined)?.jobId;
    const jobId =
      input.jobId ??
      (typeof rawJobId === 'string' ? rawJobId : `j-${this.seq}-${randomBytes(4).toString('hex')}`);
    if (this.jobs.has(jobId)) throw conflict(`job ${jobId} already exists`);
    // The newest studio sends neither `prompt` nor `ext` in a claim: the worker derives both from the task.
    const claimInput = {
      jobId,
      gameId: input.gameId ?? 'dev-game',
      assetName: input.assetName ?? `${task.kind}-${this.seq}`,
      model: input.model ?? `synthetic-${MODEL_SHORT_NAMES[task.kind]}`,
      vramGbEstimate: input.vramGbEstimate ?? 1,
      task,
      modelSource: input.modelSource ?? DEFAULT_MODEL_SOURCE,
    };
    const claim = ClaimSchema.safeParse(claimInput);
    if (!claim.success) throw badRequest(`invalid claim: ${z.prettifyError(claim.error)}`);
    const job: JobRecord = {
      jobId,
      status: 'queued',
      kind: task.kind,
      enqueuedAt: now(),
      attempts: 0,
      maxAttempts: input.maxAttempts ?? this.maxAttempts,
      failures: [],
      claim: claim.data,
      ...(input.workerId !== undefined ? { targetWorkerId: input.workerId } : {}),
      ...('rawClaim' in input ? { rawClaim: input.rawClaim } : {}),
    };
    this.jobs.set(jobId, job);
    this.queue.push(jobId);
    this.emit(job);
    return snapshot(job);
  }

  list(): Job[] {
    return [...this.jobs.values()].map(snapshot);
  }

  get(jobId: string): Job {
    return snapshot(this.record(jobId));
  }

  find(jobId: string): Job | undefined {
    const job = this.jobs.get(jobId);
    return job && snapshot(job);
  }

  result(jobId: string): JobResult {
    const job = this.record(jobId);
    if (!job.result) throw conflict(`job ${jobId} has no result (status ${job.status})`);
    return job.result;
  }

  /**
   * Takes the first queued job this worker may run (`fits`: what its capabilities cover) off the
   * queue and marks it offered to it.
   */
  offerNext(
    workerId: string,
    fits: (job: Job) => boolean = () => true,
  ): { jobId: string; claim: unknown } | undefined {
    const index = this.queue.findIndex((id) => {
      const job = this.jobs.get(id);
      if (!job) return false;
      const target = job.targetWorkerId;
      return (target === undefined || target === workerId) && fits(job);
    });
    if (index < 0) return undefined;
    const [jobId] = this.queue.splice(index, 1);
    const job = jobId === undefined ? undefined : this.jobs.get(jobId);
    if (!job) return undefined;
    job.status = 'offered';
    job.workerId = workerId;
    job.offeredAt = now();
    this.emit(job);
    return { jobId: job.jobId, claim: 'rawClaim' in job ? job.rawClaim : job.claim };
  }

  accept(jobId: string): void {
    const job = this.record(jobId);
    job.status = 'accepted';
    job.acceptedAt = now();
    this.emit(job);
  }

  /**
   * A reject without a code: the claim is released and the attempt counted (flows.md §6), so the
   * job goes back to the front of the queue for another worker — or ends `rejected` once its
   * attempts are spent.
   */
  releaseRejected(jobId: string, workerId: string, reason: string): void {
    const job = this.record(jobId);
    job.rejectReason = reason;
    delete job.rejectCode;
    if (this.spendAttempt(job, { workerId, via: 'reject', error: reason, retryable: true })) {
      this.finish(job, { status: 'rejected' });
      return;
    }
    this.requeueFront(job);
  }

  /** A `busy`/`paused` reject: back to the front of the queue without counting an attempt. */
  requeueTransient(jobId: string, reason: string, code: string): void {
    const job = this.record(jobId);
    Object.assign(job, {
      rejectReason: reason,
      rejectCode: code,
      transientRejects: (job.transientRejects ?? 0) + 1,
    });
    this.requeueFront(job);
  }

  /**
   * flows.md §6, production's `failJob`: a retryable failure requeues the job with the attempt
   * counted, and ends it `failed` once its attempts are spent; a non-retryable one ends it at once.
   */
  fail(jobId: string, workerId: string, error: string, retryable: boolean): void {
    const job = this.record(jobId);
    const spent = this.spendAttempt(job, { workerId, via: 'fail', error, retryable });
    if (!retryable || spent) {
      this.finish(job, { status: 'failed', error, retryable });
      return;
    }
    this.requeueFront(job);
  }

  complete(jobId: string, result: JobResult, workerId: string): void {
    const job = this.record(jobId);
    this.queue = this.queue.filter((id) => id !== jobId);
    job.workerId = workerId;
    this.finish(job, { status: 'completed', result });
  }

  /**
   * The socket of the worker holding the job (offered or accepted) closed: production's
   * `handleWebSocketClose` releases the claim, "requeue or fail by attempts" (flows.md §6). The
   * drop spends an attempt — the claim was held, and a job that keeps killing its worker must not
   * come back forever — and ends the job `failed` once they are spent.
   */
  releaseDropped(jobId: string, workerId: string, code: number, reason: string): void {
    const job = this.jobs.get(jobId);
    if (!job || FINAL_JOB_STATUSES.has(job.status) || job.status === 'queued') return;
    const error = `the worker's connection closed while it held the job (${code}${reason ? ` ${reason}` : ''})`;
    if (this.spendAttempt(job, { workerId, via: 'disconnect', error, retryable: true })) {
      this.finish(job, { status: 'failed', error, retryable: true });
      return;
    }
    this.requeueFront(job);
  }

  waitFor(jobId: string, opts: WaitForJobOptions = {}): Promise<Job> {
    const until = opts.until ?? ((j: Job) => FINAL_JOB_STATUSES.has(j.status));
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const current = this.get(jobId);
    if (until(current)) return Promise.resolve(current);
    return new Promise((resolve, reject) => {
      const onJob = (job: Job): void => {
        if (job.jobId !== jobId || !until(job)) return;
        cleanup();
        resolve(job);
      };
      const timer = setTimeout(() => {
        cleanup();
        const state = JSON.stringify(this.find(jobId) ?? null);
        reject(new DevStudioError(504, `job ${jobId} did not get there within ${timeoutMs} ms: ${state}`));
      }, timeoutMs);
      const onClose = (e: Error): void => {
        cleanup();
        reject(e);
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.events.off('job', onJob);
        this.waiters.delete(onClose);
      };
      this.waiters.add(onClose);
      this.events.on('job', onJob);
    });
  }

  /** Ends every pending `waitFor` with an error: the studio is closing. */
  close(): void {
    for (const reject of [...this.waiters]) reject(new Error('the dev studio closed'));
  }

  /** Counts an attempt and records how it ended; answers whether the job has none left. */
  private spendAttempt(job: JobRecord, failure: Omit<JobFailure, 'attempt' | 'at'>): boolean {
    job.attempts += 1;
    job.failures.push({ attempt: job.attempts, ...failure, at: now() });
    return job.attempts >= job.maxAttempts;
  }

  /** Back to the front of the queue: a released job goes before the jobs that waited behind it. */
  private requeueFront(job: JobRecord): void {
    job.status = 'queued';
    this.queue.unshift(job.jobId);
    this.emit(job);
  }

  private finish(job: JobRecord, patch: Partial<Job>): void {
    Object.assign(job, patch, { finishedAt: now() });
    this.emit(job);
  }

  private record(jobId: string): JobRecord {
    const job = this.jobs.get(jobId);
    if (!job) throw notFound(`job ${jobId}`);
    return job;
  }

  private emit(job: JobRecord): void {
    this.events.emit('job', snapshot(job));
  }
}
