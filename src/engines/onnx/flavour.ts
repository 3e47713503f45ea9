import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ldconfigCache } from '../../platform/index.js';
import type { CommandRunner } from '../../platform/index.js';

/** Which ONNX Runtime build the engine wants: the original's three flavours. */
export type OrtFlavour = 'cpu' | 'cuda12' | 'cuda13';
export const ORT_FLAVOUR_ENV = 'STUDIO_WORKER_ORT_FLAVOUR';
const FLAVOURS: readonly OrtFlavour[] = ['cpu', 'cuda12', 'cuda13'];

/**
 * The original's rule over `ldconfig -p`: a CUDA flavour needs cuRAND 10 and cuDNN 9, plus the
 * CUDA runtime, cuBLAS and cuBLASLt of one major version; the newest complete one wins (13, then 12).
 * A library counts only when its exact soname is listed.
 */
export function cudaFlavourFromLdconfig(output: string): OrtFlavour | undefined {
  const names = new Set(
    output
      .split('\n')
      .map((line) => line.trim().split(' ')[0])
      .filter((n): n is string => Boolean(n)),
  );
  if (!names.has('libcurand.so.10') || !names.has('libcudnn.so.9')) return undefined;
  for (const major of [13, 12] as const) {
    if (['libcudart', 'libcublas', 'libcublasLt'].every((lib) => names.has(`${lib}.so.${major}`))) {
      return `cuda${major}`;
    }
  }
  return undefined;
}

export interface FlavourChoice {
  flavour: OrtFlavour;
  /** Why this one: pinned, detected, or why no GPU flavour. */
  source: string;
}

/**
 * The flavour to use: `STUDIO_WORKER_ORT_FLAVOUR` when set (an unknown value is an error naming
 * the three), else a complete CUDA runtime found by ldconfig on Linux x64, else the CPU.
 */
export async function chooseOrtFlavour(opts: {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  arch: string;
  run: CommandRunner;
}): Promise<FlavourChoice> {
  const pinned = opts.env[ORT_FLAVOUR_ENV]?.trim().toLowerCase();
  if (pinned) {
    if (!(FLAVOURS as readonly string[]).includes(pinned)) {
      throw new Error(`${ORT_FLAVOUR_ENV}=${JSON.stringify(pinned)} is not one of ${FLAVOURS.join(', ')}`);
    }
    return { flavour: pinned as OrtFlavour, source: `pinned by ${ORT_FLAVOUR_ENV}` };
  }
  if (opts.platform !== 'linux' || opts.arch !== 'x64') {
    return { flavour: 'cpu', source: `no CUDA build of ONNX Runtime for ${opts.platform}/${opts.arch}` };
  }
  const cache = await ldconfigCache(opts.run);
  if (cache === undefined) return { flavour: 'cpu', source: 'ldconfig could not be run' };
  const cuda = cudaFlavourFromLdconfig(cache);
  return cuda
    ? { flavour: cuda, source: `CUDA ${cuda.slice(4)} and cuDNN 9 found by ldconfig` }
    : { flavour: 'cpu', source: 'no complete CUDA 12/13 + cuDNN 9 runtime found by ldconfig' };
}

/** CUDA majors the installed onnxruntime-node's CUDA provider is built for (its npm install offers 12 only). */
const PACKAGE_CUDA: Readonly<Record<string, OrtFlavour>> = { linux: 'cuda12', win32: 'cuda12' };

/**
 * What the inpainting sessions run on for a wanted flavour: the CUDA execution provider only when
 * onnxruntime-node's CUDA provider library is installed beside its runtime and built for that CUDA
 * major; otherwise the CPU, with why.
 */
export function ortProviders(
  choice: FlavourChoice,
  runtimePath: string | undefined,
  platform: NodeJS.Platform = process.platform,
  arch: string = process.arch,
): { providers: ('cuda' | 'cpu')[]; detail: string } {
  if (choice.flavour === 'cpu')
    return { providers: ['cpu'], detail: `ONNX Runtime on the CPU (${choice.source})` };
  const packageFlavour = PACKAGE_CUDA[platform];
  if (packageFlavour !== choice.flavour) {
    return {
      providers: ['cpu'],
      detail: `ONNX Runtime on the CPU: ${choice.flavour} wanted (${choice.source}), but onnxruntime-node ships a CUDA provider for ${packageFlavour ?? 'no CUDA'} only here`,
    };
  }
  const lib = platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  const dir = runtimePath ? join(dirname(runtimePath), '..', 'bin', 'napi-v6', platform, arch) : undefined;
  if (!dir || !existsSync(join(dir, lib))) {
    return {
      providers: ['cpu'],
      detail:
        `ONNX Runtime on the CPU: ${choice.flavour} wanted (${choice.source}), but onnxruntime-node's CUDA provider ` +
        `(${lib}) is not installed; install it with \`npm install onnxruntime-node --onnxruntime-node-install=cuda12\``,
    };
  }
  return { providers: ['cuda', 'cpu'], detail: `ONNX Runtime on CUDA (${choice.flavour}; ${choice.source})` };
}
