/**
 * llama-cpp as it runs inside its engine child process (see ../supervise/): the same engine, made
 * from options the worker sends, with the backends the worker found broken left out.
 */
import type { Logger } from 'pino';
import type { ChildEngineHost } from '../supervise/protocol.js';
import type { Engine } from '../types.js';
import { LlamaCppEngine } from './engine.js';
import type { LlamaGpuChoice } from './runtime.js';

export interface LlamaChildOptions {
  gpu: 'auto' | false;
  threads?: number;
  models?: string[];
  /** Filled in by the supervisor: backends that crashed or failed here ("gpu" when it could not tell which). */
  brokenBackends?: string[];
}

const GPU_TYPES = ['cuda', 'vulkan', 'metal'] as const;

export function gpuChoice(gpu: 'auto' | false, broken: readonly string[]): LlamaGpuChoice {
  if (gpu === false || broken.includes('gpu')) return false;
  const exclude = GPU_TYPES.filter((t) => broken.includes(t));
  if (exclude.length === 0) return 'auto';
  if (exclude.length === GPU_TYPES.length) return false;
  return { type: 'auto', exclude };
}

export function createEngine(options: Record<string, unknown>, host: ChildEngineHost, log: Logger): Engine {
  const opts = options as unknown as LlamaChildOptions;
  return new LlamaCppEngine({
    gpu: gpuChoice(opts.gpu, opts.brokenBackends ?? []),
    ...(opts.threads === undefined ? {} : { threads: opts.threads }),
    ...(opts.models ? { models: opts.models } : {}),
    // The supervisor unloads by stopping this process, so the engine itself keeps its model.
    idleUnloadMs: 0,
    vramThresholdGb: () => {
      const value = host.settings()['vramThresholdGb'];
      return typeof value === 'number' ? value : Infinity;
    },
    onBackend: host.reportBackend,
    log,
  });
}
