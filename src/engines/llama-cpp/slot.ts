import type { Logger } from 'pino';
import type { ChatWrapper, Llama, LlamaContext, LlamaModel, LlamaModelOptions } from 'node-llama-cpp';
import { toError } from '../../util/index.js';
import { abortError } from '../abort.js';
import type { ProvisionedModel } from '../types.js';
import { loadError } from './errors.js';

/** What a job asks to have loaded; jobs with equal keys share the loaded model. */
export interface LoadSpec {
  path: string;
  /** A fixed context size, or undefined for node-llama-cpp's "as large as memory allows" capped at 8192. */
  contextSize: number | undefined;
  gpuLayers: NonNullable<LlamaModelOptions['gpuLayers']>;
  threads: number | undefined;
  /** The studio's model id (not part of the key: two ids of one file share it). */
  modelId?: string;
  /** Told how far a load has come (0..1); not part of the key. */
  onLoadProgress?: (fraction: number) => void;
}

/** A model held in memory between jobs, with its one context and the chat wrappers built for it. */
export interface LoadedModel {
  readonly key: string;
  readonly model: LlamaModel;
  readonly context: LlamaContext;
  readonly wrappers: Map<string, ChatWrapper>;
}

interface Entry extends LoadedModel {
  /** The provisioning handle of the job that loaded it, so the cache keeps the file while it is mapped. */
  held: ProvisionedModel;
  modelId: string;
  since: string;
  bytes: number;
}

/** Caps an automatic context size, so a 128K-token model does not reserve memory for 128K tokens. */
const DEFAULT_MAX_CONTEXT = 8192;

/**
 * Keeps at most one model loaded. Jobs run one at a time through `use()`; a job for the loaded key
 * reuses it (paying no load time), a job for another key disposes it and loads its own. After
 * `idleUnloadMs` with no job the model is disposed, freeing RAM/VRAM for other engines.
 */
export class ModelSlot {
  private entry: Entry | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Jobs started so far: an idle unload queued behind a job that started since is stale. */
  private jobs = 0;
  /** How many times a model was loaded from disk (tests read it to see reuse). */
  loads = 0;

  constructor(
    private readonly llama: Llama,
    private readonly idleUnloadMs: number,
    private readonly log: Logger | undefined,
    /** Models the operator keeps loaded: never unloaded for idling. */
    private readonly isKept?: (modelId: string) => boolean,
  ) {}

  get loadedKey(): string | undefined {
    return this.entry?.key;
  }

  /** The loaded llama.cpp model itself (for tokenizing), if any. */
  get loadedModel(): LlamaModel | undefined {
    return this.entry?.model;
  }

  /** The loaded model, for the dashboard and admission. */
  get loadedInfo(): { modelId: string; since: string; bytes: number } | undefined {
    const e = this.entry;
    return e && { modelId: e.modelId, since: e.since, bytes: e.bytes };
  }

  /** Unloads the model once the running job (if any) is done; later jobs load again. */
  unloadNow(why: string): Promise<void> {
    this.clearIdleTimer();
    const next = this.queue.then(() => this.unload(why));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Runs `fn` with the model for `spec` loaded, after any job already running. Takes ownership of
   * `provisioned` when it loads the model (the cache keeps the file while it is loaded); otherwise
   * the caller still owns it.
   */
  use<T>(
    spec: LoadSpec,
    provisioned: ProvisionedModel,
    signal: AbortSignal,
    fn: (loaded: LoadedModel) => Promise<T>,
  ): Promise<{ value: T; tookHandle: boolean }> {
    const run = this.queue.then(async () => {
      this.jobs++;
      this.clearIdleTimer();
      try {
        const { loaded, tookHandle } = await this.acquire(spec, provisioned, signal);
        return { value: await fn(loaded), tookHandle };
      } finally {
        this.armIdleTimer();
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * `use` for a model already loaded under `spec`'s key, without a provisioned handle (the slot's
   * own keeps the file): runs `fn` after any job already running if that model is still the loaded
   * one then; otherwise resolves undefined without running it (the caller takes the full way).
   */
  useIfLoaded<T>(spec: LoadSpec, fn: (loaded: LoadedModel) => Promise<T>): Promise<{ value: T } | undefined> {
    const key = keyOf(spec);
    const run = this.queue.then(async () => {
      const entry = this.entry;
      if (entry?.key !== key) return undefined;
      this.jobs++;
      this.clearIdleTimer();
      try {
        return { value: await fn(entry) };
      } finally {
        this.armIdleTimer();
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Disposes the loaded model (if any); later jobs load again. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.clearIdleTimer();
    await this.queue;
    await this.unload('closing');
  }

  private async acquire(
    spec: LoadSpec,
    provisioned: ProvisionedModel,
    signal: AbortSignal,
  ): Promise<{ loaded: LoadedModel; tookHandle: boolean }> {
    if (signal.aborted) throw abortError(signal);
    const key = keyOf(spec);
    if (this.entry?.key === key) return { loaded: this.entry, tookHandle: false };
    await this.unload('another model was asked for');
    const started = Date.now();
    let model: LlamaModel;
    try {
      model = await this.llama.loadModel({
        modelPath: spec.path,
        gpuLayers: spec.gpuLayers,
        loadSignal: signal,
        ...(spec.onLoadProgress ? { onLoadProgress: spec.onLoadProgress } : {}),
      });
    } catch (e) {
      if (signal.aborted) throw abortError(signal);
      throw loadError(e, spec.path);
    }
    let context: LlamaContext;
    try {
      context = await model.createContext({
        contextSize: spec.contextSize ?? { max: DEFAULT_MAX_CONTEXT },
        sequences: 1,
        createSignal: signal,
        ...(spec.threads === undefined ? {} : { threads: spec.threads }),
      });
    } catch (e) {
      await model.dispose();
      if (signal.aborted) throw abortError(signal);
      throw loadError(e, spec.path);
    }
    this.loads++;
    this.entry = {
      key,
      model,
      context,
      wrappers: new Map(),
      held: provisioned,
      modelId: spec.modelId ?? spec.path,
      since: new Date().toISOString(),
      bytes: model.size,
    };
    this.log?.info(
      {
        file: spec.path,
        ms: Date.now() - started,
        gpuLayers: model.gpuLayers,
        contextSize: context.contextSize,
      },
      'llama-cpp loaded a model',
    );
    return { loaded: this.entry, tookHandle: true };
  }

  private async unload(why: string): Promise<void> {
    const entry = this.entry;
    if (!entry) return;
    this.entry = undefined;
    try {
      await entry.context.dispose();
      await entry.model.dispose();
      this.log?.info({ why }, 'llama-cpp unloaded its model');
    } catch (e) {
      this.log?.warn({ err: toError(e) }, 'llama-cpp failed to unload its model');
    } finally {
      entry.held.release();
    }
  }

  private armIdleTimer(): void {
    if (this.closed || this.idleUnloadMs <= 0 || !this.entry) return;
    this.clearIdleTimer();
    const idleUnloadMs = this.idleUnloadMs;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      const jobsWhenArmed = this.jobs;
      // Queued behind any job already waiting, and skipped if one ran: a job never loses its model.
      const kept = this.entry !== undefined && this.isKept?.(this.entry.modelId) === true;
      if (kept) {
        this.armIdleTimer();
        return;
      }
      const next = this.queue.then(() =>
        this.jobs === jobsWhenArmed ? this.unload(`idle for ${idleUnloadMs} ms`) : undefined,
      );
      this.queue = next.catch(() => undefined);
    }, this.idleUnloadMs);
    this.idleTimer.unref();
  }

  private clearIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}

function keyOf(spec: LoadSpec): string {
  return JSON.stringify([spec.path, spec.contextSize ?? 'auto', spec.gpuLayers, spec.threads ?? 'auto']);
}
