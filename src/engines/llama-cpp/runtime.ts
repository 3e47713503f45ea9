import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import type * as NodeLlamaCppModule from 'node-llama-cpp';
import type { Llama, LlamaLogLevel, LlamaModelOptions } from 'node-llama-cpp';
import { isRecord } from '../../results/index.js';

export type NodeLlamaCpp = typeof NodeLlamaCppModule;

/** Which backend to start: node-llama-cpp's choice, the CPU, or its choice less broken backends. */
export type LlamaGpuChoice = 'auto' | false | { type: 'auto'; exclude: Array<'cuda' | 'vulkan' | 'metal'> };

const GIB = 1024 ** 3;

/** Starts llama.cpp's backend once per engine: never builds from source, logs through ours. */
export function startLlama(
  mod: NodeLlamaCpp,
  opts: { gpu: LlamaGpuChoice; threads: number | undefined; log: Logger | undefined },
): Promise<Llama> {
  return mod.getLlama({
    gpu: opts.gpu,
    // A worker must not download and compile llama.cpp behind the operator's back.
    build: 'never',
    skipDownload: true,
    progressLogs: false,
    logLevel: mod.LlamaLogLevel.warn,
    logger: (level: LlamaLogLevel, message: string) => forward(opts.log, String(level), message),
    ...(opts.threads === undefined ? {} : { maxThreads: opts.threads }),
  });
}

function forward(log: Logger | undefined, level: string, message: string): void {
  const text = message.trim();
  if (!log || text === '') return;
  if (level === 'fatal' || level === 'error') log.error({ source: 'llama.cpp' }, text);
  else if (level === 'warn') log.warn({ source: 'llama.cpp' }, text);
  else log.debug({ source: 'llama.cpp' }, text);
}

/**
 * How many layers go to the GPU. A model whose file fits the operator's VRAM threshold gets
 * node-llama-cpp's "auto" (as many layers as free VRAM holds). A bigger one is capped at the share
 * of its layers that fits the threshold (layers × threshold ÷ file size), and "auto" fits that cap
 * into free VRAM; the rest run on the CPU.
 */
export async function planGpuLayers(
  mod: NodeLlamaCpp,
  llama: Llama,
  path: string,
  vramThresholdGb: number | undefined,
): Promise<NonNullable<LlamaModelOptions['gpuLayers']>> {
  if (llama.gpu === false || vramThresholdGb === undefined) return 'auto';
  const sizeGb = (await stat(path)).size / GIB;
  if (sizeGb <= vramThresholdGb) return 'auto';
  const blocks = await blockCount(mod, path);
  // The output layer counts as one more offloadable layer in llama.cpp.
  const max = Math.max(0, Math.floor(((blocks + 1) * Math.max(0, vramThresholdGb)) / sizeGb));
  return { max };
}

async function blockCount(mod: NodeLlamaCpp, path: string): Promise<number> {
  const info = await mod.readGgufFileInfo(path, { readTensorInfo: false, logWarnings: false });
  const metadata: unknown = info.metadata;
  if (!isRecord(metadata) || !isRecord(metadata['general'])) return 0;
  const arch = metadata['general']['architecture'];
  const archMeta = typeof arch === 'string' ? metadata[arch] : undefined;
  const blocks = isRecord(archMeta) ? archMeta['block_count'] : undefined;
  return typeof blocks === 'number' ? blocks : 0;
}
