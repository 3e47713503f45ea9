import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { expandHome } from '../config/defaults.js';
import type { WorkerConfig } from '../config/types.js';
import { LlamaCppEngine } from './llama-cpp/index.js';
import { OnnxEngine } from './onnx/index.js';
import { SdCppEngine } from './sd-cpp/index.js';
import { SyntheticEngine } from './synthetic/index.js';
import type { Engine } from './types.js';

/**
 * Whether an optional package can be imported, without importing it: starting node-llama-cpp's
 * backend costs memory and seconds, and a worker that never gets an llm job should not pay them.
 */
function installed(specifier: string): boolean {
  try {
    import.meta.resolve(specifier);
    return true;
  } catch {
    return false;
  }
}

/** Every engine this build ships, configured from the worker's config. Call `init()` on them before use. */
export function createEngines(opts: {
  config: WorkerConfig;
  log: Logger;
  /** Models the operator keeps loaded (`models keep`); engines never unload them for idling. */
  kept?: (model: string) => boolean;
}): Engine[] {
  const { config } = opts;
  const log = opts.log.child({ category: 'engine' });
  const missing = (name: string) => () => Promise.reject(new Error(`Cannot find package '${name}'`));
  return [
    new SyntheticEngine(),
    new SdCppEngine({
      ...(config.sdCliPath ? { sdCliPath: config.sdCliPath } : {}),
      modelsRoot: expandHome(config.modelsRoot),
      imageIdleUnloadMs: config.imageIdleUnloadSecs * 1000,
      log,
      ...(opts.kept ? { kept: opts.kept } : {}),
    }),
    new LlamaCppEngine({
      idleUnloadMs: config.llmIdleUnloadSecs * 1000,
      gpu: config.gpuOffload ? 'auto' : false,
      // 0 = one per core this process may use: node-llama-cpp's own default was measured 50× slower
      // on a 2-core VM (37 s instead of 0.75 s for 64 tokens of stories260K), see docs/gpu-runs.md.
      threads: config.llmThreads > 0 ? config.llmThreads : availableParallelism(),
      vramThresholdGb: () => config.vramThresholdGb,
      log,
      ...(opts.kept ? { kept: opts.kept } : {}),
      ...(installed('node-llama-cpp') ? {} : { loadLlama: missing('node-llama-cpp') }),
    }),
    new OnnxEngine({ useGpu: config.gpuOffload }),
  ];
}
