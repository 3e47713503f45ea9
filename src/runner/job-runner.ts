import { readFile } from 'node:fs/promises';
import { rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { EngineDispatcher, EngineResult, ModelProvider, WarmModel } from '../engines/index.js';
import { EngineError } from '../engines/index.js';
import type { WorkerEventBus } from '../events/index.js';
import type { StoredResult, StoredResults } from '../outbox/index.js';
import type { Claim } from '../protocol/index.js';
import { promptFor } from '../protocol/index.js';
import { isAbortError, toError } from '../util/index.js';
import type { AdmissionVerdict } from './admission.js';
import type { JobGate } from './gate.js';
import { rejectionReason } from './decide.js';
import type { JobIO } from './job-io.js';
import { makeScratchDir, sweepScratch } from './scratch.js';

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
  /** Whether the GPU can take a claim now, and which warm models to unload for it (see admission.ts). */
  admission?: (claim: Claim) => AdmissionVerdict;
  /** The one-job gate shared with the local API: an offer is turned down while a local job holds it. */
  gate?: JobGate;
  /** Read per result: fsync it (file, sidecar, folder) before the upload (`fsync_results`). */
  fsyncResults?: () => boolean;
  /** Why `only_when_idle` holds studio work back now, or undefined. */
  presenceProblem?: () => string | undefined;
}

/** Results up to this size ride along on `job:result` events, for previews. */
const PREVIEW_MAX_BYTES = 4 * 1024 * 1024;

export interface CurrentJob {
  jobId: string;
  claim: Claim;
  startedAt: number;
  /** running: on its engine · uploading: binary result going up · delivering: answering a re-offer from disk. */
  phase: 'running' | 'uploading' | 'delivering';
  progress?: { fraction?: number; message?: string };
}

interface Holding {
  /** The session generation the job was accepted on; the studio holds it only there. */
  generation: number | undefined;
  /** Aborted when that session ends: an upload in progress stops, the result is kept. */
  lost: AbortController;
}

/**
 * Runs one job at a time: decides on each offer, runs the accepted one on its engine and hands the
 * result to the studio — but only while the studio still holds the job, i.e. on the session the
 * job was accepted on. Every result is on disk before it is sent; a result that missed its session
 * stays there, and a later offer of the same job is answered from it without running it again.
 */
export class JobRunner {
  private current: (CurrentJob & { holding: Holding }) | undefined;
  /** An offer that arrived while the previous result was still uploading (see `offer`). */
  private heldOffer: Claim | undefined;
  private running: Promise<void> | undefined;
  private paused = false;
  private draining = false;
  /** Job ids with a stored result, so an offer can be checked without touching the disk. */
  private readonly stored = new Set<string>();
  private readonly abort = new AbortController();

  constructor(
    private readonly io: JobIO,
    private readonly opts: JobRunnerOptions,
  ) {}

  get currentJob(): Readonly<CurrentJob> | undefined {
    if (!this.current) return undefined;
    const { holding: _holding, ...job } = this.current;
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

  /**
   * Tidies what earlier runs left and reads which results they stored (dropping expired ones).
   * Call before the session opens.
   */
  async loadStoredResults(): Promise<void> {
    const swept = await sweepScratch(this.opts.workRoot);
    if (swept.length > 0) {
      this.opts.log.info(
        `removed ${swept.length} scratch folder(s) left by a worker that was stopped mid-job`,
      );
    }
    const temps = await this.opts.results.removeTempFiles();
    if (temps.length > 0) {
      this.opts.log.info(
        `removed ${temps.length} half-written result file(s) left by a worker that was killed`,
      );
    }
    await this.opts.results.expire();
    for (const jobId of await this.opts.results.jobIds()) this.stored.add(jobId);
    if (this.stored.size > 0) {
      this.opts.log.info(
        `${this.stored.size} finished result(s) from earlier sessions are stored; each is delivered if the studio offers its job again`,
      );
    }
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
  offer(claim: Claim): void {
    // The studio offers the next job as soon as it has the previous result, which for an upload
    // can be before our HTTP client has read the response. Such an offer waits for that moment
    // instead of being rejected as "busy".
    if (this.current?.phase === 'uploading' && this.heldOffer === undefined && !this.draining) {
      this.heldOffer = claim;
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
    const verdict = hasStored || current ? undefined : this.opts.admission?.(claim);
    const local = this.opts.gate?.holder?.source === 'local' ? this.opts.gate.holder : undefined;
    const rejection = rejectionReason(claim, {
      paused: this.paused && !hasStored,
      draining: this.draining,
      busyWith: current?.jobId ?? (local ? `a local API request (${local.id})` : undefined),
      vramThresholdGb: hasStored ? Infinity : this.opts.vramThresholdGb(),
      engineRefusal: hasStored ? undefined : this.opts.dispatcher.refuse(claim),
      diskProblem: hasStored ? undefined : this.opts.diskProblem?.(),
      gpuProblem: verdict && !verdict.accept ? verdict.reason : undefined,
      presenceProblem: hasStored ? undefined : this.opts.presenceProblem?.(),
    });
    if (rejection !== undefined) {
      log.info(`rejected ${claim.task.kind} job ${claim.jobId}: ${rejection.reason}`);
      this.io.reject(claim.jobId, rejection.reason, rejection.code);
      this.opts.events.emit('job:rejected', {
        jobId: claim.jobId,
        reason: rejection.reason,
        kind: claim.task.kind,
      });
      return;
    }
    if (!this.io.accept(claim.jobId)) return;
    const releaseGate = this.opts.gate?.tryAcquire('studio', claim.jobId);
    this.current = {
      jobId: claim.jobId,
      claim,
      startedAt: Date.now(),
      phase: hasStored ? 'delivering' : 'running',
      holding: this.hold(),
    };
    log.info(
      hasStored
        ? `accepted ${claim.task.kind} job ${claim.jobId}: its result is stored from an earlier run, delivering it`
        : `accepted ${claim.task.kind} job ${claim.jobId} (model ${claim.model}, engine ${claim.modelSource.engine})`,
    );
    this.opts.events.emit('job:accepted', { jobId: claim.jobId, kind: claim.task.kind, model: claim.model });
    const reclaim = verdict?.accept ? verdict.reclaim : [];
    const work = hasStored ? this.deliverStored(claim, Date.now(), log) : this.runJob(claim, log, reclaim);
    const running: Promise<void> = work.finally(() => {
      releaseGate?.();
      // The next job may already have started (the result was handed over before the scratch
      // folder was removed): clear only what is still ours.
      this.finishCurrent(claim.jobId);
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

  /** Marks `jobId` finished (if it is still the current job) and takes an offer held meanwhile. */
  private finishCurrent(jobId: string): void {
    if (this.current?.jobId === jobId) this.current = undefined;
    if (this.current !== undefined) return;
    const held = this.heldOffer;
    this.heldOffer = undefined;
    if (held) this.offer(held);
  }

  private async runJob(claim: Claim, log: Logger, reclaim: readonly WarmModel[] = []): Promise<void> {
    const { jobId } = claim;
    const started = Date.now();
    if (reclaim.length > 0) {
      const names = reclaim.map((w) => w.model).join(', ');
      log.info(`unloading ${names} to make room on the GPU for job ${jobId}`);
      await this.opts.dispatcher
        .unloadWarm(reclaim, `job ${jobId} (${claim.model}) needs the GPU memory`)
        .catch((e: unknown) => log.warn(`could not unload ${names}: ${toError(e).message}`));
    }
    // The scratch folder is made on first use: engines that answer with bytes in memory (the
    // synthetic image, llm and stt jobs) never touch the disk for it.
    let workDir: string | undefined;
    const scratch = (): string => (workDir ??= makeScratchDir(this.opts.workRoot));
    try {
      let result: EngineResult;
      try {
        result = await this.opts.dispatcher.run(claim, {
          signal: this.abort.signal,
          log: log.child({ category: 'engine' }),
          get workDir() {
            return scratch();
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
        stored = await this.store(claim, result);
      } catch (e) {
        // The disk would not take the result (full, unwritable): the worker's fault, not the job's.
        this.failJob(claim, new Error(`could not store the result: ${toError(e).message}`), log);
        return;
      }
      await this.deliverStored(claim, started, log, stored);
    } finally {
      if (workDir !== undefined) {
        const dir = workDir;
        await rm(dir, { recursive: true, force: true }).catch((e: unknown) =>
          log.warn({ err: toError(e) }, `could not remove scratch folder ${dir}`),
        );
      }
    }
  }

  private syncResults(): boolean {
    return this.opts.fsyncResults?.() ?? false;
  }

  /** Puts a fresh result on disk (JSON results beside the outbox, binary ones in it) and returns it. */
  private async store(claim: Claim, result: EngineResult): Promise<StoredResult> {
    const { jobId } = claim;
    const prompt = promptFor(claim.task);
    let stored: StoredResult;
    if (result.type === 'json') {
      // By default no fsync: the common case is an ack within milliseconds; a crash of the process
      // still keeps it. `fsync_results` makes it survive a power cut too.
      const json = await this.opts.results.json.put(jobId, result.value, prompt, {
        sync: this.syncResults(),
      });
      stored = { type: 'json', stored: json };
      const text = resultText(result.value);
      this.opts.events.emit('job:result', {
        jobId,
        kind: claim.task.kind,
        ext: 'json',
        bytes: json.bytes,
        ...(text !== undefined ? { text } : {}),
      });
    } else {
      const { workerId, apiBaseUrl } = this.opts.identity();
      const entry = await this.opts.results.outbox.put(
        { jobId, workerId, apiBaseUrl, ext: result.ext, prompt },
        result.type === 'bytes' ? { data: result.data } : { path: result.path },
        { sync: this.syncResults() },
      );
      stored = { type: 'binary', entry };
      // Small results ride along for previews; a file result (video) is read back only when a
      // listener (the dashboard) wants it.
      const small = entry.bytes <= PREVIEW_MAX_BYTES;
      const data =
        result.type === 'bytes'
          ? small
            ? result.data
            : undefined
          : small && this.opts.events.listenerCount('job:result') > 0
            ? await readFile(entry.filePath).catch(() => undefined)
            : undefined;
      this.opts.events.emit('job:result', {
        jobId,
        kind: claim.task.kind,
        ext: result.ext,
        bytes: entry.bytes,
        ...(data ? { data } : {}),
      });
    }
    this.stored.add(jobId);
    // Only results other than this one can be past a limit: in the common case (none waiting)
    // there is nothing to read back from disk.
    if (this.stored.size > 1) {
      for (const id of await this.opts.results.expire(Date.now(), jobId)) this.stored.delete(id);
    }
    return stored;
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
    if (!this.holds(jobId)) {
      log.warn(`job ${jobId} finished after its studio session ended; the result is kept for a re-offer`);
      return;
    }
    if (stored.type === 'json') {
      if (!this.io.completeJson(jobId, stored.stored.result, stored.stored.prompt)) {
        log.warn(`could not send the result of job ${jobId}; it is kept for a re-offer`);
        return;
      }
      this.completed(claim, started, log);
      return;
    }
    const current = this.current;
    if (current?.jobId === jobId) current.phase = 'uploading';
    const lost = current?.holding.lost.signal;
    const signal = lost ? AbortSignal.any([lost, this.abort.signal]) : this.abort.signal;
    let delivery;
    try {
      delivery = await this.io.deliver(stored.entry, signal);
    } catch (e) {
      if (!isAbortError(e) && !signal.aborted) throw e;
      const why = this.abort.signal.aborted ? 'the worker is stopping' : 'its studio session ended';
      log.warn(`upload of job ${jobId} stopped (${why}); the result is kept for a re-offer`);
      return;
    }
    switch (delivery.outcome) {
      case 'delivered':
        this.stored.delete(jobId);
        this.completed(claim, started, log, stored.entry.bytes);
        return;
      case 'not-ours':
        return;
      case 'rejected': {
        this.stored.delete(jobId);
        const error = `the studio refused the upload of job ${jobId} (${delivery.error}); the result is kept in ${delivery.path}`;
        this.sendFail(claim, error, false, log);
        return;
      }
      case 'gave-up': {
        const error = `the result of job ${jobId} could not be uploaded: ${delivery.error}`;
        this.sendFail(claim, error, true, log);
        return;
      }
    }
  }

  private completed(claim: Claim, started: number, log: Logger, bytes?: number): void {
    const ms = Date.now() - started;
    log.info(`completed ${claim.task.kind} job ${claim.jobId} in ${ms} ms`);
    this.opts.events.emit('job:completed', {
      jobId: claim.jobId,
      kind: claim.task.kind,
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
    if (this.holds(jobId)) {
      this.io.fail(jobId, error, retryable);
    } else {
      log.warn(
        `not reporting the failure of job ${jobId}: its studio session ended, and the studio has released it`,
      );
    }
    if (this.current?.jobId === jobId) this.current = undefined;
    this.opts.events.emit('job:failed', { jobId, kind: claim.task.kind, error, retryable });
  }
}

/** The text a person wants to see of a JSON result: the chat answer, or the transcript. */
function resultText(value: unknown): string | undefined {
  const v = value as { choices?: { message?: { content?: unknown } }[]; text?: unknown } | null;
  const content = v?.choices?.[0]?.message?.content;
  if (typeof content === 'string') return content;
  return typeof v?.text === 'string' ? v.text : undefined;
}
