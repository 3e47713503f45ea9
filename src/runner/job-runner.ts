import type { Logger } from 'pino';
import type { EngineResult, WarmModel } from '../engines/index.js';
import { EngineError } from '../engines/index.js';
import type { StoredResult } from '../outbox/index.js';
import type { Claim, RejectCode } from '../protocol/index.js';
import { finishesWithin, isAbortError, linkSignals, toError } from '../util/index.js';
import { admit, unloadReclaimed } from './admission.js';
import { availability, type Availability } from './availability.js';
import { holderName } from './gate.js';
import { rejectionReason } from './decide.js';
import type { JobIO } from './job-io.js';
import { handOver } from './hand-over.js';
import type { Current, CurrentJob, Holding, JobRunnerOptions } from './runner-types.js';
import { LazyScratch } from './scratch.js';
import { storeFresh, tidyStoredResults } from './store-result.js';

/**
 * Runs one job at a time: decides on each offer, runs the accepted one on its engine and hands the
 * result to the studio — but only while the studio still holds the job, i.e. on the session the
 * job was accepted on. Every result is on disk before it is sent; a result that missed its session
 * stays there, and a later offer of the same job is answered from it without running it again.
 */
export class JobRunner {
  private current: Current | undefined;
  /** The uploading job, offered again on a newer session: answered once its upload ends (see `offer`). */
  private heldOffer: Claim | undefined;
  private running: Promise<void> | undefined;
  /** Uploads whose answer is still being read beside the next job (see `letUploadFinishBeside`). */
  private readonly finishingBeside = new Set<Promise<void>>();
  private paused = false;
  private draining = false;
  /** What was advertised when no job last held the GPU (see availability.ts). */
  private lastFree: Availability | undefined;
  /** Job ids with a stored result, so an offer can be checked without touching the disk. */
  private readonly stored = new Set<string>();
  private readonly abort = new AbortController();

  constructor(
    private readonly io: JobIO,
    private readonly opts: JobRunnerOptions,
  ) {}

  get currentJob(): Readonly<CurrentJob> | undefined {
    if (!this.current) return undefined;
    const { holding: _holding, releaseGate: _release, ...job } = this.current;
    return job;
  }
  /** Finished results on disk that the studio has not taken yet. */
  get storedResultCount(): number {
    return this.stored.size;
  }
  get isPaused(): boolean {
    return this.paused;
  }
  /** Runtime only: a paused worker rejects offers and says `autoEnabled: false`. */
  setPaused(paused: boolean): void {
    this.paused = paused;
  }

  /** What hello and heartbeats say about taking jobs now (`autoEnabled`, `vramThresholdGb`), and why. */
  availability(): Availability {
    const gateHeld = this.current !== undefined || this.opts.gate?.holder !== undefined;
    const now = availability({
      paused: this.paused,
      draining: this.draining,
      studioJob: this.current !== undefined,
      gateHeld,
      presenceProblem: this.opts.presenceProblem?.(),
      diskProblem: this.opts.diskProblem?.(),
      gpu: this.opts.gpu?.(),
      vramThresholdGb: this.opts.vramThresholdGb(),
      lastFree: this.lastFree,
    });
    if (!gateHeld) this.lastFree = now;
    return now;
  }

  /**
   * Tidies what earlier runs left and reads which results they stored (dropping expired ones).
   * Call before the session opens.
   */
  async loadStoredResults(): Promise<void> {
    for (const jobId of await tidyStoredResults(this.opts)) this.stored.add(jobId);
  }

  /**
   * The session that the current job was accepted on has ended: the studio has released the job,
   * so nothing more is sent about it; an upload in progress stops and its result is kept.
   */
  sessionLost(): void {
    this.heldOffer = undefined;
    const current = this.current;
    if (!current || current.holding.generation === undefined) return;
    current.holding.generation = undefined;
    current.holding.lost.abort(new Error('the studio session that held this job ended'));
    this.opts.log.warn(
      `the studio session dropped during job ${current.jobId}; the studio has released it, so its result will be kept for a re-offer`,
    );
  }

  /** The studio acknowledged a `completeJson`: the stored JSON result can go. */
  completeAcknowledged(jobId: string): void {
    if (!this.stored.delete(jobId)) return;
    this.opts.results.json
      .remove(jobId)
      .catch((e: unknown) =>
        this.opts.log.warn(`could not remove the delivered result of job ${jobId}: ${toError(e).message}`),
      );
  }

  /** Decides on an offer; an accepted job starts running in the background. */
  offer(claim: Claim, diskRechecked = false): void {
    // During an upload: an offer on the session that holds it takes the gate at once (the studio has
    // that result, see `letUploadFinishBeside`); the uploading job offered again (its session dropped)
    // is answered when the upload ends; another job on a newer session meets the held gate: busy, as
    // the original (that offer proves nothing about the result, and a busy reject costs no attempt).
    const uploading = this.current?.phase === 'uploading' && !this.draining ? this.current : undefined;
    if (uploading && uploading.jobId !== claim.jobId && this.holds(uploading.jobId)) {
      this.letUploadFinishBeside(uploading, claim.jobId);
    } else if (uploading?.jobId === claim.jobId && this.heldOffer === undefined) {
      this.opts.log.debug(
        `job ${claim.jobId} offered again while its result uploads; answered when that ends`,
      );
      this.heldOffer = claim;
      return;
    }
    // Space freed since the last reading must not cost this offer: read the disk again first.
    const recheck = this.opts.recheckDisk;
    if (
      !diskRechecked &&
      recheck &&
      !this.stored.has(claim.jobId) &&
      this.opts.diskProblem?.() !== undefined
    ) {
      void recheck()
        .catch(() => undefined)
        .then(() => this.offer(claim, true));
      return;
    }
    this.opts.events.emit('job:offered', { claim });
    const log = this.opts.log.child({ jobId: claim.jobId });
    const current = this.current;
    // The same job again, still running here after its session dropped: take it back.
    if (current?.jobId === claim.jobId && current.holding.generation === undefined && !this.draining) {
      if (!this.io.accept(claim.jobId)) return;
      current.holding = this.hold();
      log.info(`job ${claim.jobId} offered again while still running here; carrying on with it`);
      return;
    }
    const hasStored = this.stored.has(claim.jobId);
    const holder = this.opts.gate?.holder;
    const gpu = hasStored || current || holder ? undefined : this.opts.gpu?.();
    const verdict = gpu && admit(claim, gpu);
    const rejection = rejectionReason(claim, {
      paused: this.paused && !hasStored,
      draining: this.draining,
      busyWith: current?.jobId ?? (holder ? holderName(holder) : undefined),
      vramThresholdGb: hasStored ? Infinity : this.opts.vramThresholdGb(),
      engineRefusal: hasStored ? undefined : this.opts.dispatcher.refuse(claim),
      diskProblem: hasStored ? undefined : this.opts.diskProblem?.(),
      gpuProblem: verdict && !verdict.accept ? verdict.reason : undefined,
      presenceProblem: hasStored ? undefined : this.opts.presenceProblem?.(),
    });
    if (rejection !== undefined) {
      this.reject(claim, rejection.reason, rejection.code, log);
      return;
    }
    // Taken before the accept, synchronously after the check above: nothing can come between.
    const releaseGate = this.opts.gate ? this.opts.gate.tryAcquire('studio', claim.jobId) : () => undefined;
    if (!releaseGate) {
      this.reject(claim, 'worker is busy with another job', 'busy', log);
      return;
    }
    if (!this.io.accept(claim.jobId)) {
      releaseGate();
      return;
    }
    const entry: Current = {
      jobId: claim.jobId,
      claim,
      startedAt: Date.now(),
      phase: hasStored ? 'delivering' : 'running',
      holding: this.hold(),
      releaseGate,
    };
    this.current = entry;
    log.info(
      hasStored
        ? `accepted ${claim.task.kind} job ${claim.jobId}: its result is stored from an earlier run, delivering it`
        : `accepted ${claim.task.kind} job ${claim.jobId} (model ${claim.model}, engine ${claim.modelSource.engine})`,
    );
    this.opts.events.emit('job:accepted', { jobId: claim.jobId, kind: claim.task.kind, model: claim.model });
    const reclaim = verdict?.accept ? verdict.reclaim : [];
    const work = hasStored ? this.deliverStored(claim, Date.now(), log) : this.runJob(claim, log, reclaim);
    const running: Promise<void> = work.finally(() => {
      // Usually long released (the result was handed over before the scratch folder was removed,
      // and the next job may hold the gate now): the release only ever frees our own hold.
      releaseGate();
      // Only this run's own entry: after a retryable fail the studio may offer the same job
      // straight back (flows.md §6), and that run, under the same jobId, is not this one's to end.
      if (this.current === undefined || this.current === entry) this.finishCurrent(claim.jobId);
      if (this.running === running) this.running = undefined;
    });
    this.running = running;
  }

  /**
   * Stops taking offers and waits for the running job up to `graceMs`; past it the job is aborted
   * (and failed as retryable so the studio can give it to another worker).
   */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    try {
      if (!this.running && this.finishingBeside.size === 0) return;
      const running = Promise.all([this.running, ...this.finishingBeside]);
      const what = this.current ? `job ${this.current.jobId}` : 'the last upload’s answer';
      this.opts.log.info(`waiting up to ${Math.round(graceMs / 1000)} s for ${what} to finish`);
      if (await finishesWithin(running, graceMs)) return;
      this.opts.log.warn(`grace period over: cancelling ${what}`);
      this.abort.abort(new Error('worker shutting down'));
      await running;
    } finally {
      // Nothing more is stored: the delivered results' files kept for reuse can go.
      this.opts.results.outbox.dropSpares();
    }
  }

  /**
   * flows.md §3/§5: the studio marks an upload done before it offers the next job, maybe before it
   * answers it. So the job stops being current and frees the gate for the offer (synchronously: no
   * local request slips in between); its answer is read beside the next job; `drain` waits for it.
   */
  private letUploadFinishBeside(uploading: Current, nextJobId: string): void {
    this.opts.log.debug(
      `job ${nextJobId} offered while the result of job ${uploading.jobId} is still uploading: the studio has it, the next job starts`,
    );
    this.current = undefined;
    uploading.releaseGate();
    const running = this.running;
    if (running === undefined) return;
    this.running = undefined;
    this.finishingBeside.add(running);
    void running.finally(() => this.finishingBeside.delete(running));
  }

  private hold(): Holding {
    return { generation: this.io.generation(), lost: new AbortController() };
  }

  /** Whether the studio still holds the current job `jobId` for us (same session as its accept). */
  private holds(jobId: string): boolean {
    const current = this.current;
    if (current?.jobId !== jobId) return false;
    const generation = current.holding.generation;
    return generation !== undefined && generation === this.io.generation();
  }

  private reject(claim: Claim, reason: string, code: RejectCode | undefined, log: Logger): void {
    log.info(`rejected ${claim.task.kind} job ${claim.jobId}: ${reason}`);
    this.io.reject(claim.jobId, reason, code);
    this.opts.events.emit('job:rejected', { jobId: claim.jobId, reason, kind: claim.task.kind });
  }

  /**
   * Marks `jobId` finished (if it is still the current job): its result is with the studio, failed,
   * or kept for a re-offer, so its hold on the gate ends here, and an offer held meanwhile starts —
   * in that order, so the held job takes the gate the moment it is free and no local request can
   * slip in between.
   */
  private finishCurrent(jobId: string): void {
    const current = this.current;
    if (current?.jobId === jobId) {
      this.current = undefined;
      current.releaseGate();
    }
    if (this.current !== undefined) return;
    const held = this.heldOffer;
    this.heldOffer = undefined;
    if (held) this.offer(held);
  }

  private async runJob(claim: Claim, log: Logger, reclaim: readonly WarmModel[] = []): Promise<void> {
    const { jobId } = claim;
    const started = Date.now();
    await unloadReclaimed(claim, reclaim, this.opts.dispatcher, log);
    const scratch = new LazyScratch(this.opts.workRoot);
    try {
      let result: EngineResult;
      try {
        result = await this.opts.dispatcher.run(claim, {
          signal: this.abort.signal,
          log: log.child({ category: 'engine' }),
          get workDir() {
            return scratch.path;
          },
          claim,
          ...(this.opts.models ? { models: this.opts.models } : {}),
          onProgress: (progress) => {
            if (this.current?.jobId === jobId) this.current.progress = progress;
            this.opts.events.emit('job:progress', { jobId, ...progress });
          },
        });
      } catch (e) {
        this.failJob(claim, e, log);
        return;
      }
      let stored: StoredResult;
      try {
        const { results, events, identity } = this.opts;
        const sync = this.opts.fsyncResults?.() ?? false;
        stored = await storeFresh({ results, events, identity, sync }, this.stored, claim, result);
      } catch (e) {
        // The disk would not take the result (full, unwritable): the worker's fault, not the job's.
        this.failJob(claim, new Error(`could not store the result: ${toError(e).message}`), log);
        return;
      }
      await this.deliverStored(claim, started, log, stored);
    } finally {
      await scratch.remove(log);
    }
  }

  /**
   * Hands a stored result (`fresh` when it was just stored, else read from disk) to the studio if it
   * still holds the job; otherwise keeps it for a re-offer.
   */
  private async deliverStored(
    claim: Claim,
    started: number,
    log: Logger,
    fresh?: StoredResult,
  ): Promise<void> {
    const { jobId } = claim;
    const stored = fresh ?? (await this.opts.results.get(jobId));
    if (!stored) {
      this.stored.delete(jobId);
      this.failJob(claim, new Error('its stored result has disappeared from disk'), log);
      return;
    }
    const current = this.current;
    const lost = current?.holding.lost.signal;
    const link = linkSignals(this.abort.signal, ...(lost ? [lost] : []));
    const outcome = await handOver(jobId, stored, {
      io: this.io,
      log,
      holds: () => this.holds(jobId),
      signal: link.signal,
      stopReason: () => (this.abort.signal.aborted ? 'the worker is stopping' : 'its studio session ended'),
      onUploading: () => {
        if (current?.jobId === jobId) current.phase = 'uploading';
      },
    }).finally(link.unlink);
    if ((outcome.kind === 'completed' || outcome.kind === 'fail') && outcome.forget)
      this.stored.delete(jobId);
    if (outcome.kind === 'completed') this.completed(claim, started, log, outcome.bytes);
    else if (outcome.kind === 'fail') this.sendFail(claim, outcome.error, outcome.retryable, log);
  }

  private completed(claim: Claim, started: number, log: Logger, bytes?: number): void {
    const { jobId, task } = claim;
    const ms = Date.now() - started;
    log.info(`completed ${task.kind} job ${jobId} in ${ms} ms`);
    this.opts.events.emit('job:completed', {
      jobId,
      kind: task.kind,
      ms,
      ...(bytes === undefined ? {} : { bytes }),
    });
    // The studio has the result: the next offer may run now, before our own cleanup.
    this.finishCurrent(claim.jobId);
  }

  /**
   * An engine error, classified as the original does: only "cannot serve" errors (unsupported kind
   * or model, no such engine) are final; crashes, out-of-memory, I/O and everything else may work
   * on another attempt.
   */
  private failJob(claim: Claim, e: unknown, log: Logger): void {
    const err = toError(e);
    const aborted = isAbortError(e) || this.abort.signal.aborted;
    const retryable = aborted || !(err instanceof EngineError && err.cannotServe);
    const message = aborted ? `cancelled: ${toError(this.abort.signal.reason ?? err).message}` : err.message;
    log.error({ err }, `job ${claim.jobId} failed: ${message}`);
    this.sendFail(claim, message, retryable, log);
  }

  private sendFail(claim: Claim, error: string, retryable: boolean, log: Logger): void {
    const { jobId } = claim;
    if (this.holds(jobId)) this.io.fail(jobId, error, retryable);
    else {
      log.warn(
        `not reporting the failure of job ${jobId}: the studio no longer holds it for this worker (its session ended, or it has offered the next job)`,
      );
    }
    this.opts.events.emit('job:failed', { jobId, kind: claim.task.kind, error, retryable });
    this.finishCurrent(jobId);
  }
}
