import type { Logger } from 'pino';
import type { Claim, EngineName, ModelSource, Task } from '../../protocol/index.js';
import type { Transcriber } from '../../stt-stream/index.js';
import { currentProgressListener, isAbortError, toError } from '../../util/index.js';
import { abortError, throwIfAborted } from '../abort.js';
import {
  EngineError,
  type Engine,
  type EngineAvailability,
  type EngineCapabilities,
  type EngineProgress,
  type EngineResult,
  type EngineRunContext,
  type ModelProvider,
  type WarmModel,
} from '../types.js';
import { WatchdogStop } from '../watchdog.js';
import { crashOf, EngineCrashError, type EngineCrash } from './crash.js';
import { EngineProcess, ProcessExitError } from './engine-process.js';
import { ModelCalls, type RequestContext } from './model-calls.js';
import type { ChildRequest } from './protocol.js';
import { openRemoteStream } from './stream-proxy.js';

export { EngineCrashError, type EngineCrash } from './crash.js';

export interface SupervisedEngineOptions {
  name: EngineName;
  /** The built module (`dist/…/*.js`) exporting `createEngine(options, host, log)`, loaded in the child. */
  module: string;
  /** Passed to `createEngine` (structured-cloneable). */
  options?: Record<string, unknown>;
  /** Read at each request and handed to the child (values that change while the worker runs). */
  settings?: () => Record<string, unknown>;
  capabilities: EngineCapabilities;
  /** What the engine runs on, for the operator (availability's detail while ready). */
  describe: () => string;
  /** Why it cannot run here at all (a package not installed), known before any child starts. */
  unavailable?: string;
  /** Stop the process (and so unload its models) after this long without a request; 0 keeps it. */
  idleUnloadMs?: number;
  /** Models the operator keeps loaded: their process is never stopped for idling. */
  kept?: (model: string) => boolean;
  /** Crashes and errors on a GPU backend's first evaluation mark it broken and retry on the next one. */
  gpuFallback?: boolean;
  /** How long a cancelled request may take to stop before its process is killed. */
  cancelGraceMs?: number;
  log?: Logger;
  onCrash?: (crash: EngineCrash) => void;
  /** A GPU backend was marked broken (see `gpuFallback`). */
  onBackendBroken?: (backend: string, reason: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** Errors that say the GPU backend itself failed (not the model or the job). */
const BACKEND_FAILURE = /\b(cuda|cublas|vulkan|vk_|metal|hip|rocm|ggml_backend|gpu)\b/i;

/**
 * An engine whose native code runs in a supervised child process (see child-main.ts), so a crash,
 * a hang or a memory blow-up in it costs one job, never the worker (the dispatcher's watchdog
 * stops hangs and memory blow-ups; this kills the process when it does). One process per engine holds
 * its loaded models: the process's life is their residency (idle unload stops it). A process that
 * dies mid-request fails that request as retryable with its signal and last output; the next
 * request starts a fresh one.
 */
export class SupervisedEngine implements Engine {
  readonly name: EngineName;
  private proc: EngineProcess | undefined;
  private readonly calls: ModelCalls;
  private active = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private unavailable: string | undefined;
  /** GPU backends that failed here, with why: never tried again in this process's life. */
  private readonly broken = new Map<string, string>();
  private lastCrash: EngineCrash | undefined;
  crashes = 0;

  constructor(private readonly opts: SupervisedEngineOptions) {
    this.name = opts.name;
    this.unavailable = opts.unavailable;
    this.calls = new ModelCalls(opts.name);
  }

  /** The live engine process's pid, if one runs. */
  get pid(): number | undefined {
    return this.proc?.alive ? this.proc.pid : undefined;
  }

  /** The backends marked broken, with why. */
  get brokenBackends(): ReadonlyMap<string, string> {
    return this.broken;
  }

  capabilities(): EngineCapabilities {
    if (this.unavailable !== undefined) return { taskKinds: [], modelsPerKind: {} };
    return this.opts.capabilities;
  }

  availability(): EngineAvailability {
    if (this.unavailable !== undefined) return { ready: false, detail: this.unavailable };
    const parts = [this.opts.describe()];
    const proc = this.proc?.alive ? this.proc : undefined;
    parts.push(
      proc
        ? `its own process runs (pid ${proc.pid}${proc.backend ? `, on ${proc.backend}` : ''})`
        : 'runs in its own process, started on its first job',
    );
    for (const [backend, why] of this.broken) parts.push(`${backend} backend broken here: ${why}`);
    if (this.lastCrash) parts.push(`last crash ${this.lastCrash.at}: ${this.lastCrash.message}`);
    return { ready: true, detail: parts.join('; ') };
  }

  refuse(claim: Claim): string | undefined {
    if (this.unavailable !== undefined) return this.unavailable;
    if (!this.opts.capabilities.taskKinds.includes(claim.task.kind)) {
      return `${this.name} serves only ${this.opts.capabilities.taskKinds.join(', ')} jobs, not ${claim.task.kind}`;
    }
    return undefined;
  }

  warmModels(): WarmModel[] {
    return this.proc?.alive ? this.proc.warm : [];
  }

  async run(task: Task, modelSource: ModelSource, ctx: EngineRunContext): Promise<EngineResult> {
    throwIfAborted(ctx.signal);
    const value = await this.withFallback(ctx.signal, (proc) =>
      this.ask(
        proc,
        {
          type: 'run',
          task,
          modelSource,
          claim: ctx.claim,
          workDir: ctx.workDir,
          settings: this.opts.settings?.() ?? {},
          streamText: ctx.onText !== undefined,
        },
        ctx.signal,
        ctx.models,
        'running the job',
        {
          ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
          ...(ctx.onText ? { onText: ctx.onText } : {}),
        },
      ),
    );
    return value as EngineResult;
  }

  async preload(
    modelId: string,
    modelSource: ModelSource,
    models: ModelProvider,
    signal: AbortSignal,
    onProgress?: (progress: EngineProgress) => void,
  ): Promise<void> {
    throwIfAborted(signal);
    await this.withFallback(signal, (proc) =>
      this.ask(
        proc,
        { type: 'preload', modelId, modelSource, settings: this.opts.settings?.() ?? {} },
        signal,
        models,
        'loading the model',
        onProgress ? { onProgress } : {},
      ),
    );
  }

  async tokenize(
    modelId: string,
    text: string,
    opts: { addSpecial?: boolean } = {},
  ): Promise<number[] | undefined> {
    const proc = this.proc;
    if (!proc?.alive || !proc.warm.some((w) => w.model === modelId)) return undefined;
    const tokens = await this.ask(
      proc,
      { type: 'tokenize', modelId, text, addSpecial: opts.addSpecial ?? false },
      new AbortController().signal,
      undefined,
      'tokenizing',
    );
    return Array.isArray(tokens) ? (tokens as number[]) : undefined;
  }

  /** A streaming transcription on a model the engine process has loaded (see stream-proxy.ts). */
  async openStream(modelId: string): Promise<Transcriber> {
    const proc = this.proc;
    if (!proc?.alive || !proc.warm.some((w) => w.model === modelId && w.state === 'loaded')) {
      throw new EngineError(`model ${modelId} is not loaded in the ${this.name} engine process`, false);
    }
    const ask = (request: ChildRequest, phase: string, signal: AbortSignal) =>
      this.ask(proc, request, signal, undefined, phase);
    return openRemoteStream(modelId, ask, () => proc.alive);
  }

  async unloadWarm(reason: string, keep?: ReadonlySet<string>): Promise<void> {
    const proc = this.proc;
    if (!proc?.alive || !proc.warm.some((w) => !keep?.has(w.model))) return;
    if (!proc.busy && proc.warm.every((w) => !keep?.has(w.model))) {
      // Nothing of it is to stay: stopping the process gives back every byte, the backend's too.
      await this.stopProcess(proc, reason);
      return;
    }
    await this.ask(
      proc,
      { type: 'unload', reason, keep: [...(keep ?? [])] },
      new AbortController().signal,
      undefined,
      'unloading',
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.idleTimer);
    if (this.proc) await this.stopProcess(this.proc, 'the worker is stopping');
  }

  /**
   * Runs `attempt` on the engine process; when the process's GPU backend fails before its first
   * success (a CUDA build against the wrong driver), marks that backend broken and runs it again
   * on a fresh process that skips it (CUDA → Vulkan → CPU).
   */
  private async withFallback(signal: AbortSignal, attempt: (proc: EngineProcess) => Promise<unknown>) {
    for (;;) {
      if (this.closed) throw new EngineError(`the ${this.name} engine is shut down`, true);
      if (this.unavailable !== undefined) throw new EngineError(this.unavailable, false);
      const proc = this.process();
      try {
        return await attempt(proc);
      } catch (e) {
        const backend = this.brokenBackend(e, proc);
        if (backend === undefined || signal.aborted) throw e;
        const why = toError(e).message;
        this.broken.set(backend, why);
        this.opts.onBackendBroken?.(backend, why);
        this.opts.log?.warn(
          `${this.name}: the ${backend} backend failed before its first success (${why}); it is not used again by this worker, trying the next backend`,
        );
        await this.stopProcess(proc, `its ${backend} backend failed`);
      }
    }
  }

  /** The backend to mark broken for this failure, or undefined when it is not the backend's fault. */
  private brokenBackend(e: unknown, proc: EngineProcess): string | undefined {
    if (!this.opts.gpuFallback || proc.evaluated) return undefined;
    const backend = proc.backend ?? 'gpu';
    if (backend === 'cpu') return undefined;
    if (e instanceof EngineCrashError) return e.afterEvaluation ? undefined : backend;
    const cannotServe = e instanceof EngineError && e.cannotServe;
    if (!cannotServe && BACKEND_FAILURE.test(toError(e).message)) return backend;
    return undefined;
  }

  /** The live engine process, started when there is none. */
  private process(): EngineProcess {
    if (this.proc?.alive) return this.proc;
    const proc: EngineProcess = new EngineProcess({
      engine: this.name,
      module: this.opts.module,
      options: { ...this.opts.options, brokenBackends: [...this.broken.keys()] },
      log: this.opts.log,
      onCall: (call, context): Promise<unknown> =>
        this.calls.answer(call, context as RequestContext | undefined, proc),
      ...(this.opts.env ? { env: this.opts.env } : {}),
    });
    this.proc = proc;
    this.opts.log?.info(`${this.name} engine process started (pid ${proc.pid})`);
    void proc.exited.then((exit) => {
      this.calls.releaseAll(proc);
      if (exit.stoppedBy === undefined) return;
      this.opts.log?.info(`${this.name} engine process ${proc.pid} stopped: ${exit.stoppedBy}`);
    });
    return proc;
  }

  private async stopProcess(proc: EngineProcess, why: string): Promise<void> {
    if (this.proc === proc) clearTimeout(this.idleTimer);
    await proc.stop(why);
  }

  /** Sends one request and waits for its answer, watching the process while it runs. */
  private async ask(
    proc: EngineProcess,
    request: ChildRequest,
    signal: AbortSignal,
    models: ModelProvider | undefined,
    startPhase: string,
    handlers: {
      onProgress?: (p: { fraction?: number; message?: string }) => void;
      onText?: (chunk: string) => void;
    } = {},
  ): Promise<unknown> {
    clearTimeout(this.idleTimer);
    this.active++;
    let phase = startPhase;
    const context: RequestContext = { models, signal, progress: currentProgressListener() };
    let cancelTimer: NodeJS.Timeout | undefined;
    let id: number | undefined;
    const onAbort = (): void => {
      if (signal.reason instanceof WatchdogStop || id === undefined) {
        // A stalled engine is wedged: it will not answer a polite cancel.
        void proc.stop(signal.reason instanceof WatchdogStop ? signal.reason.message : 'cancelled');
        return;
      }
      proc.cancel(id);
      const grace = this.opts.cancelGraceMs ?? 5000;
      cancelTimer = setTimeout(
        () => void proc.stop(`it did not stop within ${grace / 1000} s of a cancel`),
        grace,
      );
    };
    try {
      const sent = await proc.request(request, {
        context,
        onProgress: (p) => {
          if (p.message) phase = p.message;
          handlers.onProgress?.(p);
        },
        ...(handlers.onText ? { onText: handlers.onText } : {}),
      });
      id = sent.id;
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
      const value = await sent.answer;
      // A cancel that crossed the answer on the wire still cancels: the caller has given up on it.
      if (signal.aborted) throw abortError(signal);
      return value;
    } catch (e) {
      throw this.failure(e, proc, phase, signal);
    } finally {
      signal.removeEventListener('abort', onAbort);
      clearTimeout(cancelTimer);
      this.active--;
      this.armIdle(proc);
    }
  }

  /** What a request's rejection means for the job: a crash, our own stop, or the engine's error. */
  private failure(e: unknown, proc: EngineProcess, phase: string, signal: AbortSignal): Error {
    if (signal.aborted && isAbortError(e)) return toError(e);
    if (!(e instanceof ProcessExitError)) {
      const error = toError(e) as Error & { unavailable?: boolean };
      if (error.unavailable === true) this.unavailable = error.message;
      return error;
    }
    if (signal.aborted) return abortError(signal);
    const exit = e.exit;
    if (exit.stoppedBy !== undefined) {
      return new EngineError(`${this.name} was stopped while ${phase}: ${exit.stoppedBy}`, true);
    }
    const crash = crashOf(this.name, exit, phase, proc.backend);
    this.crashes++;
    this.lastCrash = crash;
    this.opts.log?.error(
      { engine: this.name, signal: exit.signal, code: exit.code, pid: proc.pid, phase },
      crash.message,
    );
    this.opts.onCrash?.(crash);
    return new EngineCrashError(crash, proc.evaluated);
  }

  private armIdle(proc: EngineProcess): void {
    const ms = this.opts.idleUnloadMs ?? 0;
    if (ms <= 0 || this.active > 0 || this.proc !== proc || !proc.alive || this.closed) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.active > 0 || !proc.alive) return;
      if (proc.warm.some((w) => this.opts.kept?.(w.model) === true)) {
        this.armIdle(proc);
        return;
      }
      void this.stopProcess(proc, `idle for ${ms / 1000} s`);
    }, ms);
    this.idleTimer.unref();
  }
}
