import type { Claim, EngineName, ModelSource, TaskKind } from '../protocol/index.js';
import { TASK_KINDS } from '../protocol/index.js';
import { isAbortError, toError } from '../util/index.js';
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

/**
 * Routes a claim to the engine named by `claim.modelSource.engine` and to no other: the contract
 * forbids falling back, so a job for an engine not installed here is refused, never rerouted.
 */
export class EngineDispatcher {
  private readonly engines = new Map<EngineName, Engine>();
  private closing: Promise<void> | undefined;

  constructor(engines: Engine[]) {
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

  /** Unloads these warm models (to make room for a job), leaving the engines' other warm models be. */
  async unloadWarm(models: readonly WarmModel[], reason: string): Promise<void> {
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

  /** Loads a model ahead of its jobs on its engine (see `Engine.preload`). */
  async preload(
    modelId: string,
    modelSource: ModelSource,
    models: ModelProvider,
    signal: AbortSignal,
  ): Promise<void> {
    const engine = this.engines.get(modelSource.engine);
    if (!engine?.preload)
      throw new EngineError(`engine "${modelSource.engine}" loads its model per job`, false);
    await engine.preload(modelId, modelSource, models, signal);
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
    try {
      return await engine.run(claim.task, claim.modelSource, ctx);
    } catch (e) {
      if (e instanceof EngineError || isAbortError(e)) throw e;
      const error = toError(e);
      throw new EngineError(`engine "${engine.name}" failed: ${error.message}`, false, { cause: error });
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
