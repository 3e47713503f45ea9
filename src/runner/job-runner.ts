import { mkdirSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { EngineDispatcher, EngineResult, ModelProvider } from '../engines/index.js';
import { EngineError } from '../engines/index.js';
import type { WorkerEventBus } from '../events/index.js';
import type { Outbox, OutboxEntry } from '../outbox/index.js';
import type { Claim } from '../protocol/index.js';
import { isAbortError, toError } from '../util/index.js';
import { rejectionReason } from './decide.js';
import type { JobIO } from './job-io.js';

export interface JobRunnerOptions {
  dispatcher: EngineDispatcher;
  outbox: Outbox;
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
  /**
   * The delivery in flight of a result an earlier run already finished for this job, if any: an
   * offer for such a job (the studio re-queued it when that run died) is answered with that result
   * instead of running the job again.
   */
  leftoverDelivery?: (jobId: string) => Promise<'delivered' | 'rejected'> | undefined;
}

/** Results up to this size ride along on `job:result` events, for previews. */
const PREVIEW_MAX_BYTES = 4 * 1024 * 1024;

export interface CurrentJob {
  jobId: string;
  claim: Claim;
  startedAt: number;
  phase: 'running' | 'uploading';
  progress?: { fraction?: number; message?: string };
}

/**
 * Runs one job at a time: decides on each offer, runs the accepted one on its engine and hands the
 * result to the studio. A binary result is in the outbox before its upload starts, so a crash or a
 * dead studio never loses it.
 */
export class JobRunner {
  private current: CurrentJob | undefined;
  /** An offer that arrived while the previous result was still uploading (see `offer`). */
  private heldOffer: Claim | undefined;
  private workRootMade = false;
  private running: Promise<void> | undefined;
  private paused = false;
  private draining = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly io: JobIO,
    private readonly opts: JobRunnerOptions,
  ) {}

  get currentJob(): Readonly<CurrentJob> | undefined {
    return this.current;
  }
  get isPaused(): boolean {
    return this.paused;
  }
  /** Runtime only: a paused worker rejects offers and says `autoEnabled: false`. */
  setPaused(paused: boolean): void {
    this.paused = paused;
  }

  /** Decides on an offer; an accepted job starts running in the background. */
  offer(claim: Claim): void {
    // The studio offers the next job as soon as it has the previous result, which for an upload
    // can be before our HTTP client has read the response. Such an offer waits for that moment
    // instead of being rejected as "busy".
    if (this.current?.phase === 'uploading' && this.heldOffer === undefined && !this.draining) {
      this.heldOffer = claim;
      return;
    }
    this.opts.events.emit('job:offered', { claim });
    const reason = rejectionReason(claim, {
      paused: this.paused,
      draining: this.draining,
      busyWith: this.current?.jobId,
      vramThresholdGb: this.opts.vramThresholdGb(),
      engineRefusal: this.opts.dispatcher.refuse(claim),
    });
    const log = this.opts.log.child({ jobId: claim.jobId });
    if (reason !== undefined) {
      log.info(`rejected ${claim.task.kind} job ${claim.jobId}: ${reason}`);
      this.io.reject(claim.jobId, reason);
      this.opts.events.emit('job:rejected', { jobId: claim.jobId, reason });
      return;
    }
    const leftover = this.opts.leftoverDelivery?.(claim.jobId);
    this.current = {
      jobId: claim.jobId,
      claim,
      startedAt: Date.now(),
      phase: leftover ? 'uploading' : 'running',
    };
    this.io.accept(claim.jobId);
    log.info(
      `accepted ${claim.task.kind} job ${claim.jobId} (model ${claim.model}, engine ${claim.modelSource.engine})`,
    );
    this.opts.events.emit('job:accepted', { jobId: claim.jobId, kind: claim.task.kind, model: claim.model });
    const work = leftover ? this.finishLeftover(claim, leftover, log) : this.runJob(claim, log);
    const running: Promise<void> = work.finally(() => {
      // The next job may already have started (the result was handed over before the scratch
      // folder was removed): clear only what is still ours.
      this.finishCurrent(claim.jobId);
      if (this.running === running) this.running = undefined;
    });
    this.running = running;
  }

  private workRoot(): string {
    if (!this.workRootMade) mkdirSync(this.opts.workRoot, { recursive: true });
    this.workRootMade = true;
    return this.opts.workRoot;
  }

  /** Marks `jobId` finished (if it is still the current job) and takes an offer held meanwhile. */
  private finishCurrent(jobId: string): void {
    if (this.current?.jobId === jobId) this.current = undefined;
    if (this.current !== undefined) return;
    const held = this.heldOffer;
    this.heldOffer = undefined;
    if (held) this.offer(held);
  }

  /**
   * Stops taking offers and waits for the running job up to `graceMs`; past it the job is aborted
   * (and failed as retryable so the studio can give it to another worker).
   */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    const running = this.running;
    if (!running) return;
    this.opts.log.info(
      `waiting up to ${Math.round(graceMs / 1000)} s for job ${this.current?.jobId} to finish`,
    );
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      running.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.opts.log.warn(`grace period over: cancelling job ${this.current?.jobId}`);
      this.abort.abort(new Error('worker shutting down'));
      await running;
    }
  }

  private async runJob(claim: Claim, log: Logger): Promise<void> {
    const { jobId } = claim;
    const kind = claim.task.kind;
    const started = Date.now();
    // The scratch folder is made on first use: engines that answer with bytes in memory (the
    // synthetic image, llm and stt jobs) never touch the disk for it.
    let workDir: string | undefined;
    const scratch = (): string => (workDir ??= mkdtempSync(join(this.workRoot(), 'job-')));
    try {
      const result = await this.opts.dispatcher.run(claim, {
        signal: this.abort.signal,
        log: log.child({ category: 'engine' }),
        get workDir() {
          return scratch();
        },
        claim,
        ...(this.opts.models ? { models: this.opts.models } : {}),
        onProgress: (progress) => {
          if (this.current) this.current.progress = progress;
          this.opts.events.emit('job:progress', { jobId, ...progress });
        },
      });
      const bytes = await this.deliver(claim, result, log);
      if (bytes !== 'rejected') {
        const ms = Date.now() - started;
        log.info(`completed ${kind} job ${jobId} in ${ms} ms`);
        this.opts.events.emit('job:completed', {
          jobId,
          kind,
          ms,
          ...(bytes === undefined ? {} : { bytes }),
        });
      }
      // The studio has the result: the next offer may run now, before our own cleanup.
      this.finishCurrent(jobId);
    } catch (e) {
      const err = toError(e);
      const aborted = isAbortError(e) || this.abort.signal.aborted;
      if (aborted && this.current?.phase === 'uploading') {
        // The result is safe in the outbox; the next start delivers it. Failing the job now would
        // make the studio hand it elsewhere and then refuse our upload.
        log.warn(
          `upload of job ${jobId} interrupted by shutdown; the result stays in the outbox for the next start`,
        );
        return;
      }
      const retryable = aborted || (err instanceof EngineError ? err.retryable : false);
      const message = aborted
        ? `cancelled: ${toError(this.abort.signal.reason ?? err).message}`
        : err.message;
      log.error({ err }, `job ${jobId} failed: ${message}`);
      this.current = undefined;
      this.io.fail(jobId, message, retryable);
      this.opts.events.emit('job:failed', { jobId, kind, error: message, retryable });
    } finally {
      if (workDir !== undefined) {
        const dir = workDir;
        await rm(dir, { recursive: true, force: true }).catch((e: unknown) =>
          log.warn({ err: toError(e) }, `could not remove scratch folder ${dir}`),
        );
      }
    }
  }

  private async finishLeftover(
    claim: Claim,
    delivery: Promise<'delivered' | 'rejected'>,
    log: Logger,
  ): Promise<void> {
    log.info(`job ${claim.jobId} was finished by an earlier run; answering with that result`);
    const started = Date.now();
    try {
      if ((await delivery) === 'rejected') {
        this.failRefusedUpload(claim, log);
        return;
      }
      this.opts.events.emit('job:completed', {
        jobId: claim.jobId,
        kind: claim.task.kind,
        ms: Date.now() - started,
      });
    } catch (e) {
      // Aborted by shutdown: the entry stays in the outbox for the next start.
      log.warn(`delivery of the earlier result of job ${claim.jobId} stopped: ${toError(e).message}`);
    }
  }

  /** Returns the uploaded size for binary results, undefined for JSON, 'rejected' if the studio refused it. */
  private async deliver(
    claim: Claim,
    result: EngineResult,
    log: Logger,
  ): Promise<number | undefined | 'rejected'> {
    if (result.type === 'json') {
      this.io.completeJson(claim.jobId, result.value, claim.prompt);
      return undefined;
    }
    const { workerId, apiBaseUrl } = this.opts.identity();
    const entry: OutboxEntry = await this.opts.outbox.put(
      {
        jobId: claim.jobId,
        workerId,
        apiBaseUrl,
        ext: result.ext,
        ...(claim.prompt !== undefined ? { prompt: claim.prompt } : {}),
      },
      result.type === 'bytes' ? { data: result.data } : { path: result.path },
      { sync: false },
    );
    this.opts.events.emit('job:result', {
      jobId: claim.jobId,
      kind: claim.task.kind,
      ext: result.ext,
      bytes: entry.bytes,
      ...(result.type === 'bytes' && result.data.byteLength <= PREVIEW_MAX_BYTES
        ? { data: result.data }
        : {}),
    });
    if (this.current) this.current.phase = 'uploading';
    const outcome = await this.io.deliver(entry, this.abort.signal);
    if (outcome === 'rejected') {
      this.failRefusedUpload(claim, log);
      return 'rejected';
    }
    return entry.bytes;
  }

  /** The studio answered the upload with a 4xx: the job fails for good; the bytes stay in rejected/. */
  private failRefusedUpload(claim: Claim, log: Logger): void {
    const error = `the studio refused the upload of job ${claim.jobId}; the result is kept in the outbox's rejected/ folder`;
    log.error(error);
    this.io.fail(claim.jobId, error, false);
    this.opts.events.emit('job:failed', {
      jobId: claim.jobId,
      kind: claim.task.kind,
      error,
      retryable: false,
    });
  }
}
