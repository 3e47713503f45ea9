import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import sharp, { type Metadata } from 'sharp';
import type { EngineProgress, EngineResult } from '../../src/engines/index.js';
import { SdCppEngine, type SdCppEngineOptions } from '../../src/engines/sd-cpp/index.js';
import { LocalFirstModels } from '../../src/generate/index.js';
import { ModelCache } from '../../src/models/index.js';
import { ClaimSchema, type Claim, type TaskInput } from '../../src/protocol/index.js';

/**
 * What the tests on the REAL stable-diffusion.cpp share: sd-cli and sd-server built from
 * ../shared/vendor by the global setup (test/support/sdcpp-setup.ts) and its random-weight SD 1.x
 * model. The images are noise; the processes, flags, routes, output and errors are sd.cpp's own.
 */
export const SDCPP_BIN = process.env['SDCPP_BIN'];
export const SDCPP_MODEL = process.env['SDCPP_MODEL'];
export const sdcppReady = SDCPP_BIN !== undefined && SDCPP_MODEL !== undefined;
/** Appended to a describe's name: why it skipped, where it does. */
export const sdcppSkipReason = sdcppReady
  ? ''
  : ' (skipped: the vendored stable-diffusion.cpp source is absent, nothing was built)';
export const SD_CLI = join(SDCPP_BIN ?? '', 'sd-cli');
/** A real model of another architecture (an LLM gguf) from ../shared/models: sd.cpp refuses it. */
export const TINY_LLM = join(import.meta.dirname, '../../../shared/models/stories260K.gguf');

/** A test file's scratch folder, and model provisioning into a cache inside it (local files in place). */
export async function realScratch(name: string): Promise<{ scratch: string; models: LocalFirstModels }> {
  const scratch = await mkdtemp(join(tmpdir(), `${name}-`));
  const cache = new ModelCache({ root: join(scratch, 'models'), log: pino({ enabled: false }) });
  return { scratch, models: new LocalFirstModels(cache) };
}

/** The engine's log (sd.cpp's own output is logged at debug), kept for assertions on sd.cpp's words. */
export function captureLog(): { log: pino.Logger; text: () => string } {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });
  return { log, text: () => lines.join('') };
}

/** Engines a test made, closed by `closeEngines` after each test. */
const made: SdCppEngine[] = [];
export function realEngine(opts: Partial<SdCppEngineOptions> = {}): SdCppEngine {
  const e = new SdCppEngine({ sdCliPath: SD_CLI, ...opts });
  made.push(e);
  return e;
}
export async function closeEngines(): Promise<void> {
  await Promise.all(made.splice(0).map((e) => e.close()));
}

let n = 0;
/** A claim for a small, fast image job on `modelPath` (the random model by default). */
export function realClaim(
  task: Partial<TaskInput>,
  modelPath = SDCPP_MODEL ?? '',
  model = 'sd1x-random',
): Claim {
  return ClaimSchema.parse({
    jobId: `real-${n++}`,
    gameId: 'g',
    assetName: 'a',
    model,
    vramGbEstimate: 2,
    task: { kind: 'image', prompt: 'a red fox', width: 64, height: 64, steps: 2, ext: 'png', ...task },
    modelSource: {
      engine: 'sd-cpp',
      files: [{ role: 'model', url: pathToFileURL(modelPath).href, filename: 'sd1x-random.gguf' }],
      cliDefaults: { cfgScale: 7, steps: 2, width: 64, height: 64 },
    },
  });
}

export interface RealRun {
  log: pino.Logger;
  models: LocalFirstModels;
  scratch: string;
  signal?: AbortSignal;
  onProgress?: (p: EngineProgress) => void;
}

export async function runReal(e: SdCppEngine, c: Claim, r: RealRun): Promise<EngineResult> {
  const workDir = await mkdtemp(join(r.scratch, 'job-'));
  return e.run(c.task, c.modelSource, {
    signal: r.signal ?? new AbortController().signal,
    log: r.log,
    workDir,
    claim: c,
    models: r.models,
    ...(r.onProgress ? { onProgress: r.onProgress } : {}),
  });
}

/** The error a run failed with (undefined when it succeeded). */
export const failure = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

export function resultInput(result: EngineResult): Buffer | string {
  if (result.type === 'bytes') return Buffer.from(result.data);
  if (result.type === 'file') return result.path;
  throw new Error('expected a binary result');
}

export async function imageMeta(result: EngineResult): Promise<Metadata> {
  return sharp(resultInput(result)).metadata();
}

/** How many times sd.cpp loaded a model (its own "total params memory size" line). */
export const sdcppLoads = (text: string): number => (text.match(/total params memory size/g) ?? []).length;

/** The pids of every sd-server the engine reported loaded for `model`, in order. */
export const serverPids = (text: string, model = 'sd1x-random'): number[] =>
  [...text.matchAll(new RegExp(`sd-server for ${model} is loaded \\(pid (\\d+)`, 'g'))].map((m) =>
    Number(m[1]),
  );
