import { availableParallelism, totalmem } from 'node:os';
import type { Logger } from 'pino';
import { expandHome } from '../config/defaults.js';
import type { WorkerConfig } from '../config/types.js';
import { builtModulePath } from '../util/index.js';
import { LLAMA_CPP_MISSING_MESSAGE, prebuiltBackends, type LlamaChildOptions } from './llama-cpp/index.js';
import { OnnxEngine } from './onnx/index.js';
import { ParakeetEngine } from './parakeet/index.js';
import { SdCppEngine } from './sd-cpp/index.js';
import { SyntheticEngine } from './synthetic/index.js';
import { SupervisedEngine, type EngineCrash } from './supervise/index.js';
import type { Engine } from './types.js';
import type { WatchdogLimits } from './watchdog.js';

const GIB = 1024 ** 3;

/** The job watchdog's limits from the config (read at each job). */
export function watchdogLimits(config: WorkerConfig): () => WatchdogLimits {
  return () => ({
    stallMs: config.jobStallTimeoutSecs * 1000,
    timeoutMs: config.jobTimeoutSecs * 1000,
    maxRssBytes: engineMaxRssBytes(config),
  });
}

/** `engine_max_rss_gb` in bytes; unset: 85 % of this machine's RAM. */
export function engineMaxRssBytes(config: WorkerConfig): number {
  return config.engineMaxRssGb !== undefined ? config.engineMaxRssGb * GIB : defaultMaxRss();
}

let machineRam: number | undefined;
/** 85 % of the RAM, read once: a machine's RAM does not change while the worker runs, and each job asks. */
function defaultMaxRss(): number {
  machineRam ??= totalmem();
  return Math.floor(machineRam * 0.85);
}

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
  /** An engine process crashed (the job it ran has failed as retryable). */
  onCrash?: (crash: EngineCrash) => void;
  /** An engine marked a GPU backend broken and moved on to the next. */
  onBackendBroken?: (engine: string, backend: string, reason: string) => void;
}): Engine[] {
  const { config } = opts;
  const log = opts.log.child({ category: 'engine' });
  return [
    new SyntheticEngine(),
    new SdCppEngine({
      ...(config.sdCliPath ? { sdCliPath: config.sdCliPath } : {}),
      modelsRoot: expandHome(config.modelsRoot),
      imageIdleUnloadMs: config.imageIdleUnloadSecs * 1000,
      log,
      ...(opts.kept ? { kept: opts.kept } : {}),
    }),
    createLlamaCppEngine(config, log, opts),
    new OnnxEngine({
      useGpu: config.gpuOffload,
      inpaintIdleUnloadMs: config.imageIdleUnloadSecs * 1000,
      log,
      ...(opts.onCrash ? { onCrash: opts.onCrash } : {}),
    }),
    new ParakeetEngine({ log, ...(opts.onCrash ? { onCrash: opts.onCrash } : {}) }),
  ];
}

/**
 * llama-cpp in a supervised child process: node-llama-cpp's native code (a CUDA error that calls
 * abort(), an out-of-memory in a kernel) must never take the worker down.
 */
export function createLlamaCppEngine(
  config: WorkerConfig,
  log: Logger,
  opts: {
    kept?: (model: string) => boolean;
    onCrash?: (crash: EngineCrash) => void;
    onBackendBroken?: (engine: string, backend: string, reason: string) => void;
  },
): Engine {
  const { onBackendBroken } = opts;
  const options: LlamaChildOptions = {
    gpu: config.gpuOffload ? 'auto' : false,
    // 0 = one per core this process may use: node-llama-cpp's own default was measured 50× slower
    // on a 2-core VM (37 s instead of 0.75 s for 64 tokens of stories260K), see docs/gpu-runs.md.
    threads: config.llmThreads > 0 ? config.llmThreads : availableParallelism(),
    models: [],
  };
  return new SupervisedEngine({
    name: 'llama-cpp',
    module: builtModulePath(import.meta.url, './llama-cpp/child.js'),
    options: { ...options },
    settings: () => ({ vramThresholdGb: config.vramThresholdGb }),
    capabilities: { taskKinds: ['llm'], modelsPerKind: { llm: [] } },
    describe: () =>
      `node-llama-cpp (llama.cpp); ${
        config.gpuOffload
          ? `GPU offload automatic; prebuilt backends installed: ${prebuiltBackends().join(', ') || 'none (built from source on first use)'}`
          : 'CPU only (gpu_offload = false)'
      }`,
    ...(installed('node-llama-cpp') ? {} : { unavailable: LLAMA_CPP_MISSING_MESSAGE }),
    idleUnloadMs: config.llmIdleUnloadSecs * 1000,
    gpuFallback: config.gpuOffload,
    log,
    ...(opts.kept ? { kept: opts.kept } : {}),
    ...(opts.onCrash ? { onCrash: opts.onCrash } : {}),
    ...(onBackendBroken
      ? { onBackendBroken: (backend: string, why: string) => onBackendBroken('llama-cpp', backend, why) }
      : {}),
  });
}
