import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import sharp from 'sharp';
import { DEFAULT_CONFIG } from '../src/config/index.js';
import { sdcppLib } from '../src/demo/sdcpp.js';
import { EngineDispatcher, watchdogLimits, type EngineResult } from '../src/engines/index.js';
import { buildSdapiRequest, buildSdServerArgs } from '../src/engines/sd-cpp/args.js';
import { SdCppEngine } from '../src/engines/sd-cpp/index.js';
import { ModelCache } from '../src/models/index.js';
import { ClaimSchema, type Claim, type ImageTask, type ModelSource } from '../src/protocol/index.js';
import { ModelHost } from '../src/demo/index.js';
import { progress } from './progress.js';
import { DirectSdServer } from './sdcpp-direct.js';
import { median } from './stats.js';

/** The repository root: this file runs from dist-bench/bench/. */
const repoRoot = resolve(import.meta.dirname, '..', '..');
const MODEL = 'sd1x-random';
/** Tiny, so that a CPU makes it in about two seconds warm: the figures are the processes', not a GPU's. */
export const IMAGE_JOB = { side: 64, steps: 2, seed: 42 } as const;

export interface ImageFigures {
  /** The 2.1 GB random-weight model provisioned by the model cache from a loopback HTTP host, ms. */
  provisionMs: number;
  /** Directly started sd-server: spawn → answering HTTP (the model load), median of the cold rounds. */
  directLoadMs: number;
  /** Directly started sd-server: spawn → the first txt2img answered. */
  directColdMs: number;
  /** The first job through the engine on a fresh sd-server (the model already in the cache). */
  workerColdMs: number;
  /** Medians of the warm job: the same txt2img POSTed to sd-server directly / as a job. */
  directWarmMs: number;
  workerWarmMs: number;
  /** `workerWarmMs − directWarmMs`, and as a percentage of `directWarmMs`. */
  shareMs: number;
  sharePct: number;
  /** The median of the per-pair differences (each worker job − the direct request next to it). */
  sharePairedMs: number;
  /** Median of each warm job's time minus its own sd-server request: the worker around sd.cpp. */
  aroundRequestMs: number;
  /** Median of a job run by sd-cli (`image_idle_unload_secs = 0`: a process per job, the model loaded each time). */
  sdCliMs: number;
  coldRuns: number;
  runs: number;
  sdCliRuns: number;
  /** Whether the direct and the worker's image have the same pixels (same seed, same request). */
  samePixels: boolean;
}

const log = pino({ level: 'silent' });

async function pixels(png: Buffer | Uint8Array): Promise<Buffer> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  if (info.width !== IMAGE_JOB.side || info.height !== IMAGE_JOB.side)
    throw new Error(`the image is ${info.width}×${info.height}, not ${IMAGE_JOB.side}×${IMAGE_JOB.side}`);
  return data;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

/**
 * Runs `fn` (one worker job) with fetch wrapped to time the engine's sd-server request (until its
 * answer's headers, which sd-server sends when the image is done): the job's time minus that is
 * what the worker spent around sd.cpp's own work, a figure that the machine's noise in sd.cpp's
 * compute time (seconds here, on a shared 2-core VM) does not swamp. Nothing else fetches meanwhile.
 */
async function aroundRequest<T>(fn: () => Promise<T>): Promise<{ ms: number; requestMs: number; value: T }> {
  const realFetch = globalThis.fetch;
  let requestMs = 0;
  globalThis.fetch = async (input, init) => {
    const t0 = performance.now();
    try {
      return await realFetch(input, init);
    } finally {
      const url = input instanceof Request ? input.url : String(input);
      if (url.includes('/sdapi/')) requestMs += performance.now() - t0;
    }
  };
  try {
    const { ms, value } = await timed(fn);
    return { ms, requestMs, value };
  } finally {
    globalThis.fetch = realFetch;
  }
}

function bytesOf(result: EngineResult): Uint8Array {
  if (result.type !== 'bytes') throw new Error(`the image job gave a ${result.type} result`);
  return result.data;
}

/**
 * The real image row: stable-diffusion.cpp's sd-server (built from the vendored source) with the
 * random-weight SD 1.x model, a 64×64 2-step txt2img, started and called directly vs. the same
 * request as a job through the dispatcher and the sd-cpp engine (warm sd-server, model provisioned
 * by a real ModelCache from a loopback host, as a studio job's is); then sd-cli per job.
 * `{ skipped }` where the vendored source (or the repository's scripts/) is absent.
 */
export async function measureImage(
  opts: { coldRuns?: number; runs?: number; sdCliRuns?: number; warmup?: number } = {},
): Promise<ImageFigures | { skipped: string }> {
  const { coldRuns = 3, runs = 12, sdCliRuns = 3, warmup = 1 } = opts;
  const lib = await sdcppLib(repoRoot);
  if (!lib) return { skipped: `${repoRoot}/scripts/sdcpp-lib.mjs is absent` };
  if (!lib.sdcppSource())
    return { skipped: 'the vendored stable-diffusion.cpp source (../shared/vendor) is absent' };
  const say = (line: string): void => progress(`image: ${line}`);
  const binDir = await lib.sdcppBuild({ log: say });
  const modelPath = await lib.sdcppModel({ log: say });

  const root = await mkdtemp(join(tmpdir(), 'sw-bench-image-'));
  const host = new ModelHost();
  await host.start();
  const cache = new ModelCache({ root: join(root, 'models'), log });
  const modelSource: ModelSource = {
    engine: 'sd-cpp',
    files: [
      {
        role: 'model',
        url: host.add('sd1x-random.gguf', modelPath),
        filename: 'sd1x-random.gguf',
        approxBytes: (await stat(modelPath)).size,
      },
    ],
    cliDefaults: { cfgScale: 7, steps: IMAGE_JOB.steps, width: IMAGE_JOB.side, height: IMAGE_JOB.side },
  };
  const task: ImageTask = {
    kind: 'image',
    prompt: 'a lighthouse at dusk, watercolour',
    width: IMAGE_JOB.side,
    height: IMAGE_JOB.side,
    steps: IMAGE_JOB.steps,
    seed: IMAGE_JOB.seed,
    ext: 'png',
  };
  let n = 0;
  const claim = (): Claim =>
    ClaimSchema.parse({
      jobId: `image-${n++}`,
      gameId: 'bench',
      assetName: 'lighthouse',
      model: MODEL,
      vramGbEstimate: 2,
      task,
      modelSource,
    });
  // As the worker runs it (createEngines): the sd-cpp engine with the real sd-cli, under the watchdog.
  const dispatcherFor = (imageIdleUnloadSecs: number) => {
    const config = { ...DEFAULT_CONFIG, sdCliPath: join(binDir, 'sd-cli'), imageIdleUnloadSecs };
    return new EngineDispatcher(
      [new SdCppEngine({ sdCliPath: config.sdCliPath, imageIdleUnloadMs: imageIdleUnloadSecs * 1000, log })],
      { limits: watchdogLimits(config) },
    );
  };
  const runJob = async (dispatcher: EngineDispatcher): Promise<Uint8Array> => {
    const c = claim();
    const workDir = await mkdtemp(join(root, 'job-'));
    const ctx = { signal: new AbortController().signal, log, workDir, claim: c, models: cache };
    try {
      return bytesOf(await dispatcher.run(c, ctx));
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  };

  const warm = dispatcherFor(300);
  // The directly started server of the latest cold round, kept for the warm rounds.
  const held: { direct?: DirectSdServer } = {};
  try {
    await warm.init();
    say(`provisioning ${modelPath} through the model cache from a loopback host`);
    const provisioned = await timed(() => cache.provision(modelSource.files, new AbortController().signal));
    const cachedPath = provisioned.value.byRole('model')[0];
    provisioned.value.release();
    if (!cachedPath) throw new Error('the model cache gave no model file');
    // The 2 GB just written is flushed before the cold rounds, so the first one does not load it
    // while the kernel writes it back (measured: that doubled the first cold load).
    const written = await open(cachedPath, 'r');
    await written.datasync();
    await written.close();
    // The same file and the same arguments as the engine passes.
    const serverArgs = buildSdServerArgs(modelSource.cliDefaults, { model: [cachedPath] });
    const request = buildSdapiRequest(task, modelSource.cliDefaults, {});

    // Unmeasured: the first sd-server to load the model after it was provisioned was the slowest
    // of every run, whichever side it was (up to twice the others), so neither side pays that.
    say('an unmeasured cold start first');
    const first = await DirectSdServer.start(binDir, serverArgs);
    await first.txt2img(request).finally(() => first.stop());

    const directLoad: number[] = [];
    const directCold: number[] = [];
    const workerCold: number[] = [];
    for (let i = 0; i < coldRuns; i++) {
      const directRound = async () => {
        await held.direct?.stop();
        const t0 = performance.now();
        const server = (held.direct = await DirectSdServer.start(binDir, serverArgs));
        await server.txt2img(request);
        directLoad.push(server.loadMs);
        directCold.push(performance.now() - t0);
      };
      const workerRound = async () => {
        await warm.unloadModel(MODEL, 'a cold round');
        workerCold.push((await timed(() => runJob(warm))).ms);
      };
      if (i % 2 === 0) await workerRound().then(directRound);
      else await directRound().then(workerRound);
      say(
        `cold ${i + 1}/${coldRuns}: direct ${directCold.at(-1)?.toFixed(0)} ms, worker ${workerCold.at(-1)?.toFixed(0)} ms`,
      );
    }
    const server = held.direct;
    if (!server) throw new Error('no direct sd-server');

    const directWarm: number[] = [];
    const workerWarm: number[] = [];
    const paired: number[] = [];
    const around: number[] = [];
    let samePixels = true;
    for (let i = 0; i < warmup + runs; i++) {
      const d = () => timed(() => server.txt2img(request));
      const w = () => aroundRequest(() => runJob(warm));
      const [dr, wr] =
        i % 2 === 0 ? [await d(), await w()] : await w().then(async (x) => [await d(), x] as const);
      samePixels &&= (await pixels(dr.value)).equals(await pixels(wr.value));
      if (i < warmup) continue;
      directWarm.push(dr.ms);
      workerWarm.push(wr.ms);
      paired.push(wr.ms - dr.ms);
      around.push(wr.ms - wr.requestMs);
    }
    const directWarmMs = median(directWarm);
    const workerWarmMs = median(workerWarm);
    say(
      `warm: direct ${directWarmMs.toFixed(0)} ms, worker ${workerWarmMs.toFixed(0)} ms (median of ${runs})`,
    );
    await server.stop();
    await warm.close();

    say(`sd-cli: ${sdCliRuns} jobs, a process per job`);
    const cli = dispatcherFor(0);
    await cli.init();
    const sdCli: number[] = [];
    try {
      for (let i = 0; i < sdCliRuns; i++) {
        const r = await timed(() => runJob(cli));
        await pixels(r.value);
        sdCli.push(r.ms);
      }
    } finally {
      await cli.close();
    }
    return {
      provisionMs: provisioned.ms,
      directLoadMs: median(directLoad),
      directColdMs: median(directCold),
      workerColdMs: median(workerCold),
      directWarmMs,
      workerWarmMs,
      shareMs: workerWarmMs - directWarmMs,
      sharePct: ((workerWarmMs - directWarmMs) / directWarmMs) * 100,
      sharePairedMs: median(paired),
      aroundRequestMs: median(around),
      sdCliMs: median(sdCli),
      coldRuns,
      runs,
      sdCliRuns,
      samePixels,
    };
  } finally {
    await held.direct?.stop();
    await warm.close();
    await cache.close();
    await host.close();
    await rm(root, { recursive: true, force: true });
  }
}
