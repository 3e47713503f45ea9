import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Llama } from 'node-llama-cpp';
import type { Claim, ModelSource, Task } from '../../protocol/index.js';
import { isAbortError, toError } from '../../util/index.js';
import { abortError, throwIfAborted } from '../abort.js';
import {
  EngineError,
  type Engine,
  type EngineCapabilities,
  type EngineResult,
  type EngineRunContext,
  type ModelProvider,
  type WarmModel,
  type ProvisionedModel,
} from '../types.js';
import { chatWrapperFor, generate } from './chat.js';
import { loadError, MISSING_MESSAGE } from './errors.js';
import { planGpuLayers, startLlama, type LlamaGpuChoice, type NodeLlamaCpp } from './runtime.js';
import { ModelSlot } from './slot.js';
import type { LoadedModel, LoadSpec } from './slot.js';

export interface LlamaCppEngineOptions {
  /**
   * `false` forces the CPU; "auto" (default) uses CUDA, Vulkan or Metal where a prebuilt backend
   * works; `{type: 'auto', exclude}` skips backends found broken here.
   */
  gpu?: LlamaGpuChoice;
  /** CPU threads for generation; default: node-llama-cpp's choice. */
  threads?: number;
  /** Unload the model after this long without a job (from `llm_idle_unload_secs`); 0 keeps it loaded. */
  idleUnloadMs?: number;
  /** Read at each load: models bigger than this many GB are only partly offloaded to the GPU. */
  vramThresholdGb?: () => number;
  /** Model names advertised for llm (any GGUF runs; these are what the studio is told about). */
  models?: string[];
  log?: Logger;
  /** How node-llama-cpp is imported; injectable so a worker without it can be tested. */
  loadLlama?: () => Promise<NodeLlamaCpp>;
  /** Models the operator keeps loaded (`models keep`): never unloaded for idling. */
  kept?: (model: string) => boolean;
  /** Told the backend llama.cpp started on ("cuda", "vulkan", "metal", "cpu"). */
  onBackend?: (backend: string) => void;
}

interface Runtime {
  mod: NodeLlamaCpp;
  llama: Llama;
  slot: ModelSlot;
}

/**
 * llm jobs on llama.cpp through node-llama-cpp, an optional dependency imported on first use: a
 * worker without it still runs and refuses llm offers with what to install. One model stays loaded
 * between jobs (see ModelSlot), so only the first job for a model pays its load time.
 */
export class LlamaCppEngine implements Engine {
  readonly name = 'llama-cpp' as const;
  private runtime: Promise<Runtime> | undefined;
  private missing: string | undefined;
  private slot: ModelSlot | undefined;
  /** What the slot's model was last loaded or used for: a job that matches skips provisioning. */
  private warm:
    { modelId: string; filesKey: string; vramThresholdGb: number | undefined; spec: LoadSpec } | undefined;
  private closed = false;
  /** The backend node-llama-cpp started on ("cuda", "vulkan", "metal", "the CPU"), once started. */
  private runningOn: string | undefined;

  constructor(private readonly opts: LlamaCppEngineOptions = {}) {}

  /**
   * Imports node-llama-cpp and starts its backend, once. The worker awaits it before advertising
   * capabilities; without it, `capabilities()` is optimistic until the first job finds out.
   */
  async init(): Promise<void> {
    // Importing node-llama-cpp and starting its backend costs seconds and memory, so a worker that
    // never gets an llm job should not pay them: the first job does. Only an injected loader (a
    // test, or createEngines' stand-in for a package that does not resolve) is consulted here.
    if (!this.opts.loadLlama) return;
    await this.start().catch(() => undefined);
  }

  /** Why this engine cannot run at all (node-llama-cpp missing or unusable), once known. */
  get unavailableReason(): string | undefined {
    return this.missing;
  }

  /** How many times a model was read from disk into memory; a reused model does not count. */
  get loadCount(): number {
    return this.slot?.loads ?? 0;
  }

  warmModels(): WarmModel[] {
    const info = this.slot?.loadedInfo;
    return info
      ? [{ engine: this.name, model: info.modelId, state: 'loaded', since: info.since, bytes: info.bytes }]
      : [];
  }

  async unloadWarm(reason: string, keep?: ReadonlySet<string>): Promise<void> {
    const info = this.slot?.loadedInfo;
    if (info && !keep?.has(info.modelId)) await this.slot?.unloadNow(reason);
  }

  capabilities(): EngineCapabilities {
    if (this.missing !== undefined) return { taskKinds: [], modelsPerKind: {} };
    return { taskKinds: ['llm'], modelsPerKind: { llm: [...(this.opts.models ?? [])] } };
  }

  availability() {
    if (this.missing !== undefined) return { ready: false, detail: this.missing };
    const running = this.slot ? this.runningOn : undefined;
    const gpu =
      this.opts.gpu === false
        ? 'CPU only (gpu_offload = false)'
        : running
          ? `running on ${running}`
          : `GPU offload automatic; prebuilt backends installed: ${prebuiltBackends().join(', ') || 'none (built from source on first use)'}`;
    return { ready: true, detail: `node-llama-cpp (llama.cpp); ${gpu}` };
  }

  refuse(claim: Claim): string | undefined {
    if (this.missing !== undefined) return this.missing;
    if (claim.task.kind !== 'llm') return `llama-cpp serves only llm jobs, not ${claim.task.kind}`;
    return undefined;
  }

  async run(task: Task, modelSource: ModelSource, ctx: EngineRunContext): Promise<EngineResult> {
    throwIfAborted(ctx.signal);
    if (task.kind !== 'llm')
      throw EngineError.cannotServe(`llama-cpp cannot serve ${task.kind} jobs, only llm`);
    if (this.closed) throw new EngineError('the llama-cpp engine is shut down', true);
    try {
      const kwargs = { ...modelSource.cliDefaults.chatTemplateKwargs, ...task.chatTemplateKwargs };
      const value = await this.withModel(
        ctx.claim.model,
        modelSource,
        ctx.models,
        ctx.signal,
        (mod, loaded) =>
          generate({
            mod,
            loaded,
            task,
            ctx,
            chatWrapper: chatWrapperFor(mod, loaded, kwargs, task.reasoning),
          }),
        ctx.onProgress,
      );
      return { type: 'json', value };
    } catch (e) {
      if (isAbortError(e) || ctx.signal.aborted) throw abortError(ctx.signal);
      throw e;
    }
  }

  /** Loads a model and keeps it loaded (the local API's `/models/:id/load`); no generation. */
  async preload(
    modelId: string,
    modelSource: ModelSource,
    models: ModelProvider,
    signal: AbortSignal,
    onProgress?: EngineRunContext['onProgress'],
  ): Promise<void> {
    await this.withModel(modelId, modelSource, models, signal, () => Promise.resolve(undefined), onProgress);
  }

  /**
   * Runs `use` with the model loaded (loading it, with as many layers on the GPU as fit, unless it
   * is the warm one). The model file stays provisioned while the model stays loaded.
   */
  private async withModel<T>(
    modelId: string,
    modelSource: ModelSource,
    models: ModelProvider | undefined,
    signal: AbortSignal,
    use: (mod: NodeLlamaCpp, loaded: LoadedModel) => Promise<T>,
    onProgress?: EngineRunContext['onProgress'],
  ): Promise<T> {
    const { mod, llama, slot } = await this.start().catch((e: unknown) => {
      throw new EngineError(toError(e).message, false, { cause: e });
    });
    if (!models) throw new EngineError('llama-cpp needs model provisioning, and none was given', false);
    if (!modelSource.files.some((f) => f.role === 'model')) throw noModelFile();
    // A warm job: the model the slot holds, from the same files, planned for the same memory. The
    // slot's handle keeps those files in the cache, so no provisioning round trip and no planning.
    const warm = this.warm;
    const threshold = this.opts.vramThresholdGb?.();
    const filesKey = JSON.stringify(modelSource.files);
    if (
      warm?.modelId === modelId &&
      warm.filesKey === filesKey &&
      warm.vramThresholdGb === threshold &&
      warm.spec.contextSize === modelSource.cliDefaults.contextSize
    ) {
      const ran = await slot.useIfLoaded(warm.spec, (loaded) => use(mod, loaded));
      if (ran) return ran.value;
    }
    const provisioned = await provision(models, modelSource, modelId, signal);
    let handedOver = false;
    try {
      const path = provisioned.path('model');
      if (path === undefined) throw noModelFile();
      const gpuLayers = await planGpuLayers(mod, llama, path, this.opts.vramThresholdGb?.()).catch(
        (e: unknown) => {
          throw loadError(e, path);
        },
      );
      const spec = {
        path,
        contextSize: modelSource.cliDefaults.contextSize,
        gpuLayers,
        threads: this.opts.threads,
        modelId,
        // Load progress keeps the job's stall watchdog from taking a slow cold load for a hang.
        ...(onProgress
          ? { onLoadProgress: (fraction: number) => onProgress({ message: 'loading the model', fraction }) }
          : {}),
      };
      const { value, tookHandle } = await slot.use(spec, provisioned, signal, (loaded) => {
        // Loaded under this spec (now or by an earlier job, whose handle the slot holds).
        const { onLoadProgress: _progress, ...loadedSpec } = spec;
        this.warm = { modelId, filesKey, vramThresholdGb: threshold, spec: loadedSpec };
        return use(mod, loaded);
      });
      handedOver = tookHandle;
      return value;
    } finally {
      if (!handedOver) provisioned.release();
    }
  }

  /** The model's tokens for `text`, when that model is the loaded one; undefined otherwise. */
  tokenize(modelId: string, text: string, opts: { addSpecial?: boolean } = {}): number[] | undefined {
    const loaded = this.slot?.loadedModel;
    if (!loaded || this.slot?.loadedInfo?.modelId !== modelId) return undefined;
    return Array.from(loaded.tokenize(text, opts.addSpecial ?? false), Number);
  }

  /** Unloads the model and stops the backend. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const runtime = await this.runtime?.catch(() => undefined);
    if (!runtime) return;
    await runtime.slot.close();
    await runtime.llama.dispose();
  }

  private start(): Promise<Runtime> {
    this.runtime ??= (async () => {
      let mod: NodeLlamaCpp;
      try {
        mod = await (this.opts.loadLlama ?? importNodeLlamaCpp)();
      } catch (e) {
        this.missing = MISSING_MESSAGE;
        this.opts.log?.warn({ err: toError(e) }, 'node-llama-cpp is not installed: llm jobs are refused');
        throw new Error(MISSING_MESSAGE, { cause: e });
      }
      try {
        const gpu = this.opts.gpu ?? 'auto';
        const llama = await startLlama(mod, { gpu, threads: this.opts.threads, log: this.opts.log });
        this.opts.log?.info({ gpu: llama.gpu }, 'llama-cpp backend started');
        this.runningOn = llama.gpu === false ? 'the CPU' : String(llama.gpu);
        this.opts.onBackend?.(llama.gpu === false ? 'cpu' : String(llama.gpu));
        this.slot = new ModelSlot(llama, this.opts.idleUnloadMs ?? 0, this.opts.log, this.opts.kept);
        return { mod, llama, slot: this.slot };
      } catch (e) {
        this.missing = `node-llama-cpp is installed but its llama.cpp backend does not start here: ${toError(e).message}`;
        throw new Error(this.missing, { cause: e });
      }
    })();
    return this.runtime;
  }
}

function noModelFile(): EngineError {
  return new EngineError('modelSource has no file with role "model" (the GGUF to load)', false);
}

function importNodeLlamaCpp(): Promise<NodeLlamaCpp> {
  return import('node-llama-cpp');
}

async function provision(
  models: NonNullable<EngineRunContext['models']>,
  modelSource: ModelSource,
  model: string,
  signal: AbortSignal,
): Promise<ProvisionedModel> {
  try {
    return await models.provision(modelSource.files, signal, { model });
  } catch (e) {
    if (e instanceof EngineError) throw e;
    if (isAbortError(e) || signal.aborted) throw abortError(signal);
    throw new EngineError(`could not fetch the model files: ${toError(e).message}`, true, { cause: e });
  }
}

/** node-llama-cpp's prebuilt binaries for this platform that are installed (its optional packages). */
export function prebuiltBackends(): string[] {
  const os = process.platform === 'darwin' ? 'mac' : process.platform === 'win32' ? 'win' : process.platform;
  const base = `${os}-${process.arch}`;
  const dirs = createRequire(import.meta.url).resolve.paths('@node-llama-cpp/x') ?? [];
  const has = (name: string) =>
    dirs.some((d) => existsSync(join(d, '@node-llama-cpp', name, 'package.json')));
  const found: string[] = [];
  if (has(base)) found.push('CPU');
  if (has(`${base}-metal`)) found.push('Metal');
  if (has(`${base}-cuda`)) found.push('CUDA');
  if (has(`${base}-vulkan`)) found.push('Vulkan');
  return found;
}
