import type { Claim, EngineName, ModelSource, TaskKind } from '../protocol/index.js';
import { TASK_KINDS } from '../protocol/index.js';
import type { Logger } from 'pino';
import type { Transcriber } from '../stt-stream/index.js';
import { isAbortError, toError, withProgressListener } from '../util/index.js';
import { watchEngineMemory } from './memory-watch.js';
import { DEFAULT_WATCHDOG_LIMITS, JobWatchdog, type WatchdogLimits } from './watchdog.js';
import {
  EngineError,
  type Engine,
  type EngineResult,
  type EngineRunContext,
  type ModelProvider,
  type WarmModel,
} from './types.js';

/** What the dispatcher's engines serve together, in the shape the worker's capabilities carry. */
export interface DispatcherCapabilities {
  taskKinds: TaskKind[];
  supportedModels: string[];
  supportedModelsPerKind: Partial<Record<TaskKind, string[]>>;
}

export interface DispatcherOptions {
  /** Read at each job: `job_stall_timeout_secs` and `job_timeout_secs` (default 600 s and 3600 s). */
  limits?: () => WatchdogLimits;
  /** Where a watchdog's stop of an engine that ignores it is logged. */
  log?: Logger;
  /** How often engine processes' memory is read while a job runs (default 1 s). */
  memoryPollMs?: number;
}

/** How long an engine may take to give up its job after the watchdog stopped it. */
const WATCHDOG_UNWIND_MS = 10_000;

/**
 * Routes a claim to the engine named by `claim.modelSource.engine` and to no other: the contract
 * forbids falling back, so a job for an engine not installed here is refused, never rerouted.
 * Every run is watched (see watchdog.ts), whoever asked for it: a studio job, a local API request,
 * `generate`.
 */
export class EngineDispatcher {
  private readonly engines = new Map<EngineName, Engine>();
  private closing: Promise<void> | undefined;
  private readonly unloadHooks = new Set<(modelId: string) => Promise<void>>();

  constructor(
    engines: Engine[],
    private readonly opts: DispatcherOptions = {},
  ) {
    for (const engine of engines) {
      if (this.engines.has(engine.name)) throw new Error(`engine "${engine.name}" is registered twice`);
      this.engines.set(engine.name, engine);
    }
  }

  /** Each engine's readiness and the task kinds it offers, for `engines` and the dashboard. */
  availability(): { engine: EngineName; ready: boolean; detail: string; taskKinds: TaskKind[] }[] {
    return [...this.engines.values()].map((engine) => ({
      engine: engine.name,
      ...(engine.availability?.() ?? { ready: true, detail: '' }),
      taskKinds: [...engine.capabilities().taskKinds],
    }));
  }

  /** Every model an engine keeps loaded between jobs. */
  warmModels(): WarmModel[] {
    return [...this.engines.values()].flatMap((engine) => engine.warmModels?.() ?? []);
  }

  /**
   * Calls `hook` before any warm model is unloaded, whoever unloads it (an operator, a studio job
   * that needs the memory): the stream listener ends the session on it first, so the session hears
   * `model unloaded` rather than a failed step. Returns what removes the hook.
   */
  beforeUnload(hook: (modelId: string) => Promise<void>): () => void {
    this.unloadHooks.add(hook);
    return () => this.unloadHooks.delete(hook);
  }

  /** Unloads these warm models (to make room for a job), leaving the engines' other warm models be. */
  async unloadWarm(models: readonly WarmModel[], reason: string): Promise<void> {
    for (const { model } of models) {
      for (const hook of this.unloadHooks) await hook(model);
    }
    for (const engine of this.engines.values()) {
      const mine = models.filter((m) => m.engine === engine.name).map((m) => m.model);
      if (mine.length === 0 || !engine.unloadWarm) continue;
      const keep = new Set(
        (engine.warmModels?.() ?? []).map((w) => w.model).filter((m) => !mine.includes(m)),
      );
      await engine.unloadWarm(reason, keep);
    }
  }

  /** Unloads the warm model with this id, wherever it is loaded. */
  async unloadModel(modelId: string, reason: string): Promise<void> {
    await this.unloadWarm(
      this.warmModels().filter((w) => w.model === modelId),
      reason,
    );
  }

  /** Loads a model ahead of its jobs on its engine (see `Engine.preload`), watched as a job is. */
  async preload(
    modelId: string,
    modelSource: ModelSource,
    models: ModelProvider,
    signal: AbortSignal,
  ): Promise<void> {
    const engine = this.engines.get(modelSource.engine);
    if (!engine?.preload)
      throw new EngineError(`engine "${modelSource.engine}" loads its model per job`, false);
    const preload = engine.preload.bind(engine);
    await this.watched(engine.name, signal, (watchdog) =>
      preload(modelId, modelSource, models, watchdog.signal, (p) => watchdog.progress(p.message)),
    );
  }

  /** A streaming transcription on a loaded model of an engine that streams (parakeet). */
  openStream(modelId: string, modelSource: ModelSource): Promise<Transcriber> {
    const engine = this.engines.get(modelSource.engine);
    if (!engine?.openStream) {
      return Promise.reject(new EngineError(`engine "${modelSource.engine}" does not stream`, false));
    }
    return engine.openStream(modelId);
  }

  /** The loaded model's tokens for `text` (llama-cpp), or undefined when it is not loaded. */
  tokenize(
    modelId: string,
    modelSource: ModelSource,
    text: string,
    opts: { addSpecial?: boolean } = {},
  ): Promise<number[] | undefined> {
    return Promise.resolve(this.engines.get(modelSource.engine)?.tokenize?.(modelId, text, opts));
  }

  capabilities(): DispatcherCapabilities {
    const kinds = new Set<TaskKind>();
    const perKind = new Map<TaskKind, Set<string>>();
    for (const engine of this.engines.values()) {
      const caps = engine.capabilities();
      for (const kind of caps.taskKinds) kinds.add(kind);
      for (const kind of TASK_KINDS) {
        const models = caps.modelsPerKind[kind] ?? [];
        if (models.length === 0) continue;
        const set = perKind.get(kind) ?? new Set<string>();
        for (const model of models) set.add(model);
        perKind.set(kind, set);
      }
    }
    const supportedModelsPerKind: Partial<Record<TaskKind, string[]>> = {};
    for (const [kind, models] of perKind) supportedModelsPerKind[kind] = [...models];
    return {
      taskKinds: TASK_KINDS.filter((kind) => kinds.has(kind)),
      supportedModels: [...new Set([...perKind.values()].flatMap((models) => [...models]))],
      supportedModelsPerKind,
    };
  }

  /** Why this worker will not run `claim` (a sentence for the studio and the operator), or undefined. */
  refuse(claim: Claim): string | undefined {
    const wanted = claim.modelSource.engine;
    const engine = this.engines.get(wanted);
    if (!engine) {
      const here = [...this.engines.keys()].join(', ') || 'none';
      return `engine "${wanted}" is not installed on this worker (engines here: ${here})`;
    }
    // The engine's own reason first: an engine that cannot run at all (a missing binary or
    // package) says what to install, which beats "serves nothing".
    const own = engine.refuse?.(claim);
    if (own !== undefined) return own;
    const kinds = engine.capabilities().taskKinds;
    if (!kinds.includes(claim.task.kind)) {
      return `engine "${wanted}" does not serve ${claim.task.kind} jobs (it serves: ${kinds.join(', ') || 'nothing'})`;
    }
    return undefined;
  }

  /**
   * Runs the claim on its engine. Refusals and engine failures reject with an `EngineError`
   * (anything else an engine throws becomes one: a crash, reported as retryable); cancellation rejects with the
   * engine's AbortError unchanged.
   */
  async run(claim: Claim, ctx: EngineRunContext): Promise<EngineResult> {
    if (this.closing) throw new EngineError('the worker is shutting down', true);
    const refusal = this.refuse(claim);
    if (refusal) throw EngineError.cannotServe(refusal);
    const engine = this.engines.get(claim.modelSource.engine);
    if (!engine) throw EngineError.cannotServe(`engine "${claim.modelSource.engine}" is not installed`);
    return this.watched(engine.name, ctx.signal, (watchdog) =>
      engine.run(claim.task, claim.modelSource, watched(ctx, watchdog)),
    );
  }

  /**
   * Runs `work` under a job watchdog: stall, time and memory limits (see watchdog.ts). A stop
   * becomes a retryable EngineError naming why; an engine's own errors pass through classified.
   */
  private async watched<T>(
    engineName: EngineName,
    signal: AbortSignal,
    work: (watchdog: JobWatchdog) => Promise<T>,
  ): Promise<T> {
    const limits = this.opts.limits?.() ?? DEFAULT_WATCHDOG_LIMITS;
    const watchdog = new JobWatchdog(limits, signal);
    const unwatchMemory =
      limits.maxRssBytes === undefined
        ? undefined
        : watchEngineMemory(watchdog, limits.maxRssBytes, this.opts.memoryPollMs ?? 1000);
    try {
      const run = withProgressListener(watchdog.progress, () => work(watchdog));
      return await untilStopped(run, watchdog, engineName, this.opts.log);
    } catch (e) {
      if (watchdog.stop) throw new EngineError(watchdog.stop.message, true, { cause: watchdog.stop });
      if (e instanceof EngineError || isAbortError(e)) throw e;
      const error = toError(e);
      throw new EngineError(`engine "${engineName}" failed: ${error.message}`, false, { cause: error });
    } finally {
      unwatchMemory?.();
      watchdog.dispose();
    }
  }

  /** Lets every engine find out whether it can run (a package present, a binary found). Never throws. */
  async init(): Promise<void> {
    await Promise.allSettled(
      [...this.engines.values()].map((engine) => engine.init?.() ?? Promise.resolve()),
    );
  }

  /** Closes every engine once; later calls return the same promise. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const results = await Promise.allSettled(
        [...this.engines.values()].map((engine) => engine.close?.() ?? Promise.resolve()),
      );
      const errors = results.flatMap((r) => (r.status === 'rejected' ? [toError(r.reason)] : []));
      if (errors.length > 0) throw new AggregateError(errors, `closing ${errors.length} engine(s) failed`);
    })();
    return this.closing;
  }
}

/** The job's context as the engine sees it: the watchdog's signal, and progress that feeds it. */
function watched(ctx: EngineRunContext, watchdog: JobWatchdog): EngineRunContext {
  const onText = ctx.onText;
  return {
    signal: watchdog.signal,
    log: ctx.log,
    // A getter: the runner makes the scratch folder only when an engine asks for it.
    get workDir() {
      return ctx.workDir;
    },
    claim: ctx.claim,
    ...(ctx.models ? { models: ctx.models } : {}),
    onProgress: (progress) => {
      watchdog.progress(progress.message);
      ctx.onProgress?.(progress);
    },
    ...(onText
      ? {
          onText: (chunk: string) => {
            watchdog.progress();
            onText(chunk);
          },
        }
      : {}),
  };
}

/**
 * The engine's answer, or — once the watchdog has stopped the job and the engine does not give it
 * up within WATCHDOG_UNWIND_MS — the watchdog's stop: a wedged engine must not hold the worker.
 */
async function untilStopped<T>(
  run: Promise<T>,
  watchdog: JobWatchdog,
  engine: string,
  log: Logger | undefined,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const abandoned = new Promise<never>((_, reject) => {
    const onStop = (): void => {
      if (!watchdog.stop) return;
      timer = setTimeout(() => {
        log?.error(
          `engine "${engine}" did not stop within ${WATCHDOG_UNWIND_MS / 1000} s of its job being stopped (${watchdog.stop?.message}); carrying on without it`,
        );
        reject(watchdog.stop ?? new Error(`engine "${engine}" did not stop`));
      }, WATCHDOG_UNWIND_MS);
    };
    watchdog.signal.addEventListener('abort', onStop, { once: true });
  });
  try {
    return await Promise.race([run, abandoned]);
  } finally {
    clearTimeout(timer);
  }
}
