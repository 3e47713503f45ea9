import type { Logger } from 'pino';
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
export function createEngines(opts: { config: WorkerConfig; log: Logger }): Engine[] {
  const { config } = opts;
  const log = opts.log.child({ category: 'engine' });
  const missing = (name: string) => () => Promise.reject(new Error(`Cannot find package '${name}'`));
  return [
    new SyntheticEngine(),
    new SdCppEngine({ ...(config.sdCliPath ? { sdCliPath: config.sdCliPath } : {}), log }),
    new LlamaCppEngine({
      idleUnloadMs: config.llmIdleUnloadSecs * 1000,
      gpu: config.gpuOffload ? 'auto' : false,
      ...(config.llmThreads > 0 ? { threads: config.llmThreads } : {}),
      vramThresholdGb: () => config.vramThresholdGb,
      log,
      ...(installed('node-llama-cpp') ? {} : { loadLlama: missing('node-llama-cpp') }),
    }),
    new OnnxEngine({ useGpu: config.gpuOffload }),
  ];
}
