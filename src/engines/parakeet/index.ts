/**
 * The parakeet engine: streaming speech-to-text for the LAN stream listener (../../stt-stream/),
 * on sherpa-onnx in a supervised engine process. It runs no job; its models are loaded through the
 * model lifecycle (`POST /models/:id/load`) and streamed to through `openStream`.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import type { ModelSource } from '../../protocol/index.js';
import type { Transcriber } from '../../stt-stream/index.js';
import { builtModulePath } from '../../util/index.js';
import { SupervisedEngine, type EngineCrash } from '../supervise/index.js';
import {
  EngineError,
  type Engine,
  type EngineAvailability,
  type EngineCapabilities,
  type EngineProgress,
  type EngineResult,
  type ModelProvider,
  type WarmModel,
} from '../types.js';
import type { ParakeetChildOptions } from './child.js';
import { SHERPA_MISSING_MESSAGE, STREAM_ONLY_MESSAGE } from './messages.js';

export { STREAM_ONLY_MESSAGE, SHERPA_MISSING_MESSAGE } from './messages.js';
export { addedText, SherpaTranscriber, type SherpaRecognizer, type SherpaStream } from './transcriber.js';
export {
  streamLayout,
  chunkSamplesFor,
  recognizerConfig,
  EOU_CHUNK_SAMPLES,
  NEMOTRON_CHUNK_SAMPLES,
  type StreamLayout,
} from './files.js';

export interface ParakeetEngineOptions {
  /** sherpa-onnx-node's entry point, or null for "not installed"; left out, it is looked up. */
  sherpaPath?: string | null;
  /** Inference threads per recognizer (default: the cores, at most 4). */
  threads?: number;
  /** The child-side module (default: the built child.js beside this file). */
  module?: string;
  log?: Logger;
  onCrash?: (crash: EngineCrash) => void;
}

const NOTHING: EngineCapabilities = { taskKinds: [], modelsPerKind: {} };

function resolveSherpa(given: string | null | undefined): string | undefined {
  if (given !== undefined) return given ?? undefined;
  try {
    return createRequire(import.meta.url).resolve('sherpa-onnx-node');
  } catch {
    return undefined;
  }
}

/**
 * Streaming speech models (the original's engine `parakeet`, there on parakeet-rs) on sherpa-onnx's
 * OnlineRecognizer. The engine process holds the loaded recognizers: a native crash there ends the
 * sessions streaming to it and unloads its models, never the worker. It advertises nothing to the
 * studio and refuses every job, saying where it serves instead.
 */
export class ParakeetEngine implements Engine {
  readonly name = 'parakeet' as const;
  private readonly process: SupervisedEngine;

  constructor(opts: ParakeetEngineOptions = {}) {
    const sherpaPath = resolveSherpa(opts.sherpaPath);
    const child: ParakeetChildOptions = {
      sherpaPath: sherpaPath ?? '',
      threads: opts.threads ?? Math.min(4, availableParallelism()),
    };
    this.process = new SupervisedEngine({
      name: 'parakeet',
      module: opts.module ?? builtModulePath(import.meta.url, './child.js'),
      options: { ...child },
      capabilities: NOTHING,
      describe: () =>
        'sherpa-onnx (sherpa-onnx-node, ONNX Runtime on the CPU): streaming speech-to-text for the LAN stream listener',
      ...(sherpaPath ? {} : { unavailable: SHERPA_MISSING_MESSAGE }),
      // Loaded models stay until they are unloaded: a phone may start streaming at any time.
      idleUnloadMs: 0,
      ...(opts.log ? { log: opts.log } : {}),
      ...(opts.onCrash ? { onCrash: opts.onCrash } : {}),
    });
  }

  capabilities(): EngineCapabilities {
    return NOTHING;
  }

  refuse(): string {
    return STREAM_ONLY_MESSAGE;
  }

  run(): Promise<EngineResult> {
    return Promise.reject(EngineError.cannotServe(STREAM_ONLY_MESSAGE));
  }

  availability(): EngineAvailability {
    return this.process.availability();
  }

  warmModels(): WarmModel[] {
    return this.process.warmModels();
  }

  unloadWarm(reason: string, keep?: ReadonlySet<string>): Promise<void> {
    return this.process.unloadWarm(reason, keep);
  }

  preload(
    modelId: string,
    modelSource: ModelSource,
    models: ModelProvider,
    signal: AbortSignal,
    onProgress?: (progress: EngineProgress) => void,
  ): Promise<void> {
    return this.process.preload(modelId, modelSource, models, signal, onProgress);
  }

  openStream(modelId: string): Promise<Transcriber> {
    return this.process.openStream(modelId);
  }

  /** The engine process's pid, while one runs. */
  get pid(): number | undefined {
    return this.process.pid;
  }

  close(): Promise<void> {
    return this.process.close();
  }
}
