import type { Logger } from 'pino';
import type { ResidencyStore } from '../config/index.js';
import type { EngineDispatcher, ModelProvider, WarmModelState } from '../engines/index.js';
import type { JobGate } from '../runner/index.js';
import { toError } from '../util/index.js';
import { admitLoad, refuseDisabled, type GpuFreeReading } from './admission.js';
import type { CatalogModel, CatalogStore } from './catalog.js';
import { ApiError } from './errors.js';
import { BUSY_MESSAGE, RETRY_AFTER_SECONDS } from './run-job.js';

/** Where a catalogue model is in its life (docs/local-api.md, the original's model-lifecycle.md). */
export type ModelState = 'unloaded' | WarmModelState;

/** A catalogue model with its state, as `GET /models` lists it. */
export type CatalogModelView = CatalogModel & {
  state: ModelState;
  /** The operator keeps it loaded (a load sets it, an unload clears it; restored at start). */
  resident: boolean;
  /** When it entered its state (ISO 8601), when known. */
  since?: string;
  /** Why its last load (or unload) failed (state `failed`). */
  error?: string;
  /** Its engine has an in-process loader, so it can be loaded ahead of its jobs and kept loaded. */
  loadable: boolean;
};

/** `GET /models/:id/state`. */
export interface ModelStateAnswer {
  id: string;
  state: ModelState;
  resident: boolean;
  since?: string;
  error?: string;
}

/** A load or unload: 202 when it started, 200 when there was nothing to do. */
export interface LifecycleAnswer {
  status: 200 | 202;
  body: { id: string; state: ModelState };
}

export interface ModelLifecycleDeps {
  catalog: CatalogStore;
  residency: ResidencyStore;
  dispatcher: EngineDispatcher;
  models: ModelProvider;
  gate: JobGate;
  log: Logger;
  /** The GPU's free memory now (the worker's GPU watch); without it, or without a reading, loads are admitted. */
  gpuFree?: GpuFreeReading | undefined;
}

/** How long a load may take (a large model's download included). */
const LOAD_TIMEOUT_MS = 30 * 60_000;

interface Pending {
  state: 'loading' | 'unloading';
  since: string;
  done: Promise<void>;
}

interface Settled {
  state: 'unloaded' | 'failed';
  since: string;
  error?: string;
}

/** Engines with a loader that keeps a model loaded between uses (the others load per job). */
const LOADABLE_ENGINES: ReadonlySet<string> = new Set(['llama-cpp', 'parakeet']);

/**
 * Whether a catalogue model can be loaded ahead: an LLM (llama-cpp), or a streaming speech model
 * (parakeet), which serves the stream listener only while it is loaded.
 */
export function isLoadable(model: CatalogModel): boolean {
  return LOADABLE_ENGINES.has(model.source.engine);
}

/**
 * The catalogue models' lifecycle: each model's state, and loading or unloading one on request (the
 * local API's `/models/:id/load` and `/unload`, the dashboard's Models tab). A load sets the
 * model resident and runs in the background under the one-job gate; an unload clears residency.
 * Loads and unloads in flight, and the last failure of each model, are kept here, so a model
 * reads `loading` from the request on and `failed` with its reason after a failed load.
 */
export class ModelLifecycle {
  private readonly pending = new Map<string, Pending>();
  private readonly settled = new Map<string, Settled>();

  constructor(readonly deps: ModelLifecycleDeps) {}

  /** Every catalogue model with its state, in catalogue order. */
  async list(): Promise<CatalogModelView[]> {
    return (await this.deps.catalog.list()).map((m) => this.view(m));
  }

  async state(id: string): Promise<ModelStateAnswer> {
    const v = this.view(await this.known(id));
    return {
      id: v.id,
      state: v.state,
      resident: v.resident,
      ...(v.since ? { since: v.since } : {}),
      ...(v.error ? { error: v.error } : {}),
    };
  }

  /**
   * Loads a model ahead of its jobs and keeps it resident: 200 when it is loaded already, 202 when
   * the load started (or is under way). Refused (ApiError), changing nothing, for a model not in the
   * catalogue (404), one disabled there (400 `model_disabled`), one whose engine loads per job (400
   * `not_loadable`), one that does not fit in the GPU's free memory (409 `insufficient_memory`, see
   * admission.ts), or while a job holds the gate (503 `busy`). A model of an exclusive group first
   * unloads the group's loaded (or loading) member; the memory that gives back counts as free.
   */
  async load(id: string): Promise<LifecycleAnswer> {
    const m = await this.known(id);
    refuseDisabled(m);
    if (!isLoadable(m)) {
      throw new ApiError(
        400,
        'not_loadable',
        `model '${m.id}' runs on ${m.source.engine}, which loads its model per job; only llama-cpp and parakeet models can be loaded ahead`,
      );
    }
    const { residency, gate, dispatcher, models, log } = this.deps;
    const state = this.view(m).state;
    if (state === 'loaded' || state === 'loading') {
      await residency.set(m.id, true);
      return answer(state === 'loaded' ? 200 : 202, m.id, state);
    }
    const rivals = await this.groupRivals(m);
    const warm = dispatcher.warmModels();
    const reclaimBytes = warm
      .filter((w) => w.state !== 'failed' && rivals.some((r) => r.id === w.model))
      .reduce((sum, w) => sum + w.bytes, 0);
    // A refused load changes nothing, residency included.
    admitLoad(m, this.deps.gpuFree, reclaimBytes);
    const release = gate.tryAcquire('local', `load-${m.id}`);
    if (!release)
      throw new ApiError(503, 'busy', BUSY_MESSAGE, { 'retry-after': String(RETRY_AFTER_SECONDS) });
    const unloads: Promise<void>[] = [];
    try {
      await residency.set(m.id, true);
      for (const r of rivals) {
        log.info(
          `unloading ${r.id} first: ${m.id} is loading and shares its exclusive group '${r.exclusiveGroup}'`,
        );
        await this.unload(r.id, `unloaded for ${m.id} of its exclusive group '${r.exclusiveGroup}'`);
        const done = this.pending.get(r.id)?.done;
        if (done) unloads.push(done);
      }
    } catch (e) {
      release();
      throw e;
    }
    // An unload in flight finishes first: a load and an unload of one model never overlap.
    const before = this.pending.get(m.id)?.done;
    this.track(m.id, 'loading', async () => {
      try {
        await before;
        await Promise.all(unloads);
        await dispatcher.preload(m.id, m.source, models, AbortSignal.timeout(LOAD_TIMEOUT_MS));
        this.settled.delete(m.id);
        log.info(`loaded ${m.id}`);
      } catch (e) {
        const error = toError(e).message;
        this.settled.set(m.id, { state: 'failed', since: new Date().toISOString(), error });
        log.warn(`could not load ${m.id}: ${error}`);
      } finally {
        release();
      }
    });
    return answer(202, m.id, 'loading');
  }

  /**
   * Unloads a model and clears its residency: 200 when it is not loaded (a failed load is cleared
   * to `unloaded`), 202 when the unload started. A load under way completes first.
   */
  async unload(id: string, reason = 'unloaded through the local API'): Promise<LifecycleAnswer> {
    const m = await this.known(id);
    const { residency, dispatcher, log } = this.deps;
    await residency.set(m.id, false);
    const busy = this.pending.get(m.id);
    if (busy?.state === 'unloading') return answer(202, m.id, 'unloading');
    const warm = dispatcher.warmModels().some((w) => w.model === m.id);
    if (!busy && !warm) {
      if (this.settled.get(m.id)?.state === 'failed') this.markUnloaded(m.id);
      return answer(200, m.id, 'unloaded');
    }
    this.track(m.id, 'unloading', async () => {
      try {
        await busy?.done;
        await dispatcher.unloadModel(m.id, reason);
        this.markUnloaded(m.id);
        log.info(`unloaded ${m.id}`);
      } catch (e) {
        const error = toError(e).message;
        this.settled.set(m.id, { state: 'failed', since: new Date().toISOString(), error });
        log.warn(`could not unload ${m.id}: ${error}`);
      }
    });
    return answer(202, m.id, 'unloading');
  }

  /** Removes a model from the catalogue: unloaded first, its residency dropped. */
  async remove(id: string): Promise<void> {
    const m = await this.known(id);
    await this.deps.dispatcher.unloadModel(m.id, 'removed from the catalogue');
    await this.deps.residency.set(m.id, false);
    await this.deps.catalog.remove(m.id);
    this.settled.delete(m.id);
  }

  /** A catalogue model with its state: a load or unload under way, else the engine's word, else ours. */
  view(m: CatalogModel): CatalogModelView {
    const busy = this.pending.get(m.id);
    const warm = this.deps.dispatcher.warmModels().find((w) => w.model === m.id);
    // A model a job has loaded since our last word on it has left that state.
    if (warm?.state === 'loaded') this.settled.delete(m.id);
    const settled = this.settled.get(m.id);
    const now: { state: ModelState; since?: string; error?: string } = busy
      ? { state: busy.state, since: busy.since }
      : warm
        ? { state: warm.state, since: warm.since, ...(warm.error ? { error: warm.error } : {}) }
        : (settled ?? { state: 'unloaded' });
    return {
      ...m,
      state: now.state,
      resident: this.deps.residency.has(m.id),
      ...(now.since ? { since: now.since } : {}),
      ...(now.error ? { error: now.error } : {}),
      loadable: isLoadable(m),
    };
  }

  /** The other members of a model's exclusive group that are loaded or loading now. */
  private async groupRivals(m: CatalogModel): Promise<CatalogModel[]> {
    const group = m.exclusiveGroup;
    if (group === undefined) return [];
    return (await this.deps.catalog.list()).filter((o) => {
      if (o.id === m.id || o.exclusiveGroup !== group) return false;
      const state = this.view(o).state;
      return state === 'loaded' || state === 'loading';
    });
  }

  /** The catalogue model with this id, or a 404 `unknown_model`. */
  async known(id: string): Promise<CatalogModel> {
    const m = await this.deps.catalog.get(id);
    if (!m) throw new ApiError(404, 'unknown_model', `unknown model '${id}' (not in the local catalog)`);
    return m;
  }

  private markUnloaded(id: string): void {
    this.settled.set(id, { state: 'unloaded', since: new Date().toISOString() });
  }

  private track(id: string, state: Pending['state'], work: () => Promise<void>): void {
    const entry: Pending = { state, since: new Date().toISOString(), done: Promise.resolve() };
    this.pending.set(id, entry);
    entry.done = work().finally(() => {
      if (this.pending.get(id) === entry) this.pending.delete(id);
    });
  }
}

function answer(status: 200 | 202, id: string, state: ModelState): LifecycleAnswer {
  return { status, body: { id, state } };
}
