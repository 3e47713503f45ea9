import type { Logger } from 'pino';
import type { Transcriber } from '../stt-stream/index.js';
import type {
  Claim,
  EngineName,
  FileRole,
  ModelFile,
  ModelSource,
  Task,
  TaskKind,
} from '../protocol/index.js';

/** What an engine can serve; merged by the dispatcher into the worker's capabilities. */
export interface EngineCapabilities {
  taskKinds: TaskKind[];
  /** Model names advertised per kind (the synthetic engine advertises only `synthetic*` names). */
  modelsPerKind: Partial<Record<TaskKind, string[]>>;
}

/** Progress an engine reports while it runs (fraction in 0..1 when known). */
export interface EngineProgress {
  fraction?: number;
  message?: string;
}

export interface EngineRunContext {
  /** Aborted when the job is cancelled or the worker shuts down past its grace period. */
  signal: AbortSignal;
  /** A logger already bound to the job (`jobId`, `category: "engine"`). */
  log: Logger;
  /** A scratch folder owned by this job; removed after the job. Engines write file results here. */
  workDir: string;
  /** The claim being run (job id, model name, prompt, ext) for engines that need more than the task. */
  claim: Claim;
  onProgress?: (progress: EngineProgress) => void;
  /** Generated text as it comes (llm jobs; the local API streams it). Stop strings are never passed on. */
  onText?: (chunk: string) => void;
  /**
   * Model provisioning (the worker's model cache). Absent only where an engine needs no model files
   * (the synthetic engine); real engines fail with a non-retryable EngineError when it is missing.
   */
  models?: ModelProvider;
}

/** The files of a `modelSource`, downloaded and verified, held in use until `release()`. */
export interface ProvisionedModel {
  /** Absolute paths of the files with this role, in the order the modelSource lists them. */
  byRole(role: FileRole): string[];
  /** The first file with this role, if any. */
  path(role: FileRole): string | undefined;
  /** Lets the cache prune these files again. Idempotent. */
  release(): void;
}

/** What engines need from model provisioning (implemented by `models/`' ModelCache). */
export interface ModelProvider {
  /**
   * Ensures every file is cached (downloading what is missing) and marks them in use. `model` (the
   * claim's model id) gives the files a folder of their own, so models never share a file by name.
   */
  provision(files: ModelFile[], signal: AbortSignal, opts?: { model?: string }): Promise<ProvisionedModel>;
  /**
   * Downloads a job input (an `inputUrl`, `initImageUrl`, …) into `destDir`; not cached. Rejects
   * with a non-retryable EngineError on 4xx, a retryable one on network errors / 5xx.
   */
  fetchInput(
    url: string,
    destDir: string,
    signal: AbortSignal,
    opts?: { maxBytes?: number },
  ): Promise<string>;
}

/** A finished job's output: JSON (llm, audio_stt) or binary bytes/file (image, audio_tts, video). */
export type EngineResult =
  | { type: 'json'; value: unknown }
  | { type: 'bytes'; ext: string; data: Uint8Array }
  | { type: 'file'; ext: string; path: string };

/** One inference backend. Routing to it is strictly by `modelSource.engine === name`. */
export interface Engine {
  readonly name: EngineName;
  capabilities(): EngineCapabilities;
  /** Why this engine will not run the claim (model not served, kind not served), or undefined if it will. */
  refuse?(claim: Claim): string | undefined;
  run(task: Task, modelSource: ModelSource, ctx: EngineRunContext): Promise<EngineResult>;
  /**
   * Finds out, cheaply, whether the engine can run here (an optional package importable, a binary
   * present), so `capabilities()` and `refuse()` are true before the first offer. Never throws.
   */
  init?(): Promise<void>;
  /** Frees what the engine holds (loaded models, child processes). Idempotent. */
  close?(): Promise<void>;
  /** Whether it can run here, and what it runs on or what is missing (for the operator). */
  availability?(): EngineAvailability;
  /** The models it keeps loaded between jobs (a warm sd-server, a loaded LLM). */
  warmModels?(): WarmModel[];
  /**
   * Unloads the models it keeps warm (another job needs the memory), except `keep` (model ids the
   * next job uses, or the operator pinned). Resolves once the memory is given back.
   */
  unloadWarm?(reason: string, keep?: ReadonlySet<string>): Promise<void>;
  /** Loads a model ahead of its jobs and keeps it loaded (engines that can: llama-cpp). */
  preload?(
    modelId: string,
    modelSource: ModelSource,
    models: ModelProvider,
    signal: AbortSignal,
    onProgress?: (progress: EngineProgress) => void,
  ): Promise<void>;
  /**
   * A fresh streaming transcription (one utterance's state) on a model this engine has loaded, for
   * the LAN stream listener (engines that stream: parakeet). Rejects when the model is not loaded.
   */
  openStream?(modelId: string): Promise<Transcriber>;
  /** The loaded model's tokens for `text`; undefined when that model is not the loaded one. */
  tokenize?(
    modelId: string,
    text: string,
    opts?: { addSpecial?: boolean },
  ): number[] | undefined | Promise<number[] | undefined>;
}

/** Where a model kept between jobs is in its life. */
export type WarmModelState = 'loading' | 'loaded' | 'unloading' | 'failed';

export interface WarmModel {
  engine: EngineName;
  /** The studio's model id. */
  model: string;
  state: WarmModelState;
  /** When it entered this state (ISO 8601). */
  since: string;
  /** Roughly what unloading it gives back: the size of its files (0 for a failed one). */
  bytes: number;
  /** Why it failed to load (state `failed`). */
  error?: string;
}

export interface EngineAvailability {
  ready: boolean;
  /** "sd-cli found at …", or what to install. */
  detail: string;
}

/**
 * A job failure with its classification: `retryable` tells the studio whether another attempt
 * (here or on another worker) may succeed.
 */
export class EngineError extends Error {
  override readonly name: string = 'EngineError';
  /**
   * This worker cannot serve the job at all (a kind or model its engines do not serve): the only
   * failure reported to the studio as `retryable: false`, as the original reports it. Every other
   * failure — a crash, out of memory, a download or disk error — may work on another attempt.
   */
  readonly cannotServe: boolean;
  /**
   * @param retryable whether trying again *here* may help (download retries, the runner's own
   *   loops); what the studio is told is decided by `cannotServe`.
   */
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown; cannotServe?: boolean },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.cannotServe = options?.cannotServe ?? false;
  }

  /** A job this worker cannot serve (kind, model or engine): failed for good. */
  static cannotServe(message: string): EngineError {
    return new EngineError(message, false, { cannotServe: true });
  }
}

/**
 * The task's `jsonSchema` as a schema object, or undefined when the task has none. The wire takes
 * any JSON value there (as the original does); one that is not an object cannot constrain an
 * answer, and fails the job here, where it is used.
 */
export function jsonSchemaOf(task: { jsonSchema?: unknown }): Record<string, unknown> | undefined {
  const schema = task.jsonSchema;
  if (schema === undefined || schema === null) return undefined;
  if (typeof schema !== 'object' || Array.isArray(schema)) {
    throw EngineError.cannotServe(
      `cannot serve this llm task: its jsonSchema is not a JSON object (${JSON.stringify(schema).slice(0, 60)})`,
    );
  }
  return schema as Record<string, unknown>;
}
