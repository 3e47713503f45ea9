import { copyFile, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EngineError, type EngineResult } from '../../src/engines/index.js';
import { SdCppEngine, type SdCppEngineOptions } from '../../src/engines/sd-cpp/index.js';
import { LocalFirstModels } from '../../src/generate/index.js';
import { ModelCache } from '../../src/models/index.js';
import { ClaimSchema, type Claim, type TaskInput } from '../../src/protocol/index.js';
import { pidAlive } from '../../src/util/index.js';

// The REAL stable-diffusion.cpp (sd-cli, sd-server) built from ../shared/vendor by the global
// setup, with a random-weight SD 1.x model: the images are noise, the processes are the real ones.
const BIN = process.env['SDCPP_BIN'];
const MODEL = process.env['SDCPP_MODEL'];
const ready = BIN !== undefined && MODEL !== undefined;
const why = ready ? '' : ' (skipped: the vendored stable-diffusion.cpp source is absent, nothing was built)';

let scratch: string;
let models: LocalFirstModels;
const engines: SdCppEngine[] = [];
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'sdcpp-real-'));
  models = new LocalFirstModels(
    new ModelCache({ root: join(scratch, 'models'), log: pino({ enabled: false }) }),
  );
});
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});
afterAll(() => rm(scratch, { recursive: true, force: true }));

/** The engine's log lines (sd.cpp's own output is logged at debug), for assertions on sd.cpp's words. */
function capture(): { log: pino.Logger; text: () => string } {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });
  return { log, text: () => lines.join('') };
}

function engine(opts: Partial<SdCppEngineOptions> = {}): SdCppEngine {
  const e = new SdCppEngine({ sdCliPath: join(BIN ?? '', 'sd-cli'), ...opts });
  engines.push(e);
  return e;
}

let n = 0;
function claim(task: Partial<TaskInput>, modelPath = MODEL ?? ''): Claim {
  return ClaimSchema.parse({
    jobId: `real-${n++}`,
    gameId: 'g',
    assetName: 'a',
    model: 'sd1x-random',
    vramGbEstimate: 2,
    task: { kind: 'image', prompt: 'a red fox', width: 64, height: 64, steps: 2, ext: 'png', ...task },
    modelSource: {
      engine: 'sd-cpp',
      files: [{ role: 'model', url: pathToFileURL(modelPath).href, filename: 'sd1x-random.gguf' }],
      cliDefaults: { cfgScale: 7, steps: 2, width: 64, height: 64 },
    },
  });
}

async function run(e: SdCppEngine, c: Claim, log: pino.Logger, signal = new AbortController().signal) {
  const workDir = await mkdtemp(join(scratch, 'job-'));
  return e.run(c.task, c.modelSource, { signal, log, workDir, claim: c, models });
}

async function size(result: EngineResult): Promise<{ width?: number; height?: number; format?: string }> {
  const input =
    result.type === 'bytes' ? Buffer.from(result.data) : result.type === 'file' ? result.path : '';
  return sharp(input).metadata();
}

const loads = (text: string): number => (text.match(/total params memory size/g) ?? []).length;

describe.skipIf(!ready)(`sd-cpp on the real sd-cli${why}`, () => {
  it('makes an image at the requested size and format, with seed, steps, sampler and size as sd.cpp understood them', async () => {
    const { log, text } = capture();
    const steps: number[] = [];
    const e = engine({ imageIdleUnloadMs: 0 });
    const c = claim({ seed: 42, steps: 2, cfgScale: 5, samplingMethod: 'euler', ext: 'webp' });
    const workDir = await mkdtemp(join(scratch, 'job-'));
    const result = await e.run(c.task, c.modelSource, {
      signal: new AbortController().signal,
      log,
      workDir,
      claim: c,
      models,
      onProgress: (p) => {
        if (p.fraction !== undefined) steps.push(p.fraction);
      },
    });
    expect(await size(result)).toMatchObject({ width: 64, height: 64, format: 'webp' });
    const said = text();
    expect(said).toContain('generate_image 64x64');
    expect(said).toContain('sampling using Euler method');
    expect(said).toContain('generating image: 1/1 - seed 42');
    // Progress comes from sd.cpp's own bar: its last sampling step is 2 of 2.
    expect(steps.at(-1)).toBe(1);
  });

  it('fails non-retryably, naming sd.cpp’s reason, on a model file it refuses (truncated)', async () => {
    const truncated = join(scratch, 'truncated.gguf');
    await copyFile(MODEL ?? '', truncated);
    const file = await open(truncated, 'r+');
    await file.truncate(50 * 1024 * 1024);
    await file.close();
    const error = await run(engine({ imageIdleUnloadMs: 0 }), claim({}, truncated), capture().log).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(EngineError);
    expect((error as EngineError).retryable).toBe(false);
    // sd.cpp's own words, not ours.
    expect((error as EngineError).message).toMatch(/^sd-cli exited with code 1: .*read tensor data failed/s);
    await rm(truncated, { force: true });
  });
});

describe.skipIf(!ready)(`sd-cpp on the real sd-server${why}`, () => {
  it('keeps the model warm: the second job reuses the same server and does not load again', async () => {
    const e = engine();
    const { log, text } = capture();
    const first = await run(e, claim({ seed: 1 }), log);
    expect(await size(first)).toMatchObject({ width: 64, height: 64, format: 'png' });
    const warm = e.warmModels();
    expect(warm.map((w) => w.model)).toEqual(['sd1x-random']);
    expect(loads(text())).toBe(1);
    const serverPid = /sd-server for sd1x-random is loaded \(pid (\d+)/.exec(text())?.[1];
    expect(serverPid).toBeDefined();
    await run(e, claim({ seed: 2, width: 64, height: 64 }), log);
    expect(loads(text())).toBe(1);
    expect(pidAlive(Number(serverPid))).toBe(true);
    expect(text()).not.toMatch(/running this job with sd-cli instead/);
  });

  it('serves img2img with an init image at the requested size', async () => {
    const init = join(scratch, 'init.png');
    await sharp({ create: { width: 64, height: 64, channels: 3, background: '#c04020' } })
      .png()
      .toFile(init);
    const { log, text } = capture();
    const result = await run(
      engine(),
      claim({ initImageUrl: pathToFileURL(init).href, denoise: 0.6, ext: 'png' }),
      log,
    );
    expect(await size(result)).toMatchObject({ width: 64, height: 64, format: 'png' });
    expect(text()).not.toMatch(/running this job with sd-cli instead/);
  });

  it('fails a job whose sd-server is killed mid-job retryably, and the next job starts a fresh server', async () => {
    const e = engine();
    const { log, text } = capture();
    const c = claim({ steps: 8, seed: 3 });
    let killed: number | undefined;
    const workDir = await mkdtemp(join(scratch, 'job-'));
    const pending = e
      .run(c.task, c.modelSource, {
        signal: new AbortController().signal,
        log,
        workDir,
        claim: c,
        models,
        onProgress: () => {
          // Once sd.cpp says it is sampling (its own line), the server dies under the job.
          const pid = /sd-server for sd1x-random is loaded \(pid (\d+)/.exec(text())?.[1];
          if (text().includes('generating image: 1/1') && pid && pidAlive(Number(pid))) {
            killed = Number(pid);
            process.kill(killed, 'SIGKILL');
          }
        },
      })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    const error = await pending;
    expect(error).toBeInstanceOf(EngineError);
    expect((error as EngineError).retryable).toBe(true);
    expect(killed).toBeDefined();
    const result = await run(e, claim({ seed: 4 }), log);
    expect(await size(result)).toMatchObject({ width: 64, height: 64 });
    const servers = [...text().matchAll(/sd-server for sd1x-random is loaded \(pid (\d+)/g)].map((m) =>
      Number(m[1]),
    );
    expect(servers).toHaveLength(2);
    expect(servers[1]).not.toBe(killed);
  });

  it('stops the server when the job is cancelled mid-job', async () => {
    const e = engine();
    const { log, text } = capture();
    const controller = new AbortController();
    const c = claim({ steps: 8, seed: 5 });
    const workDir = await mkdtemp(join(scratch, 'job-'));
    const error = await e
      .run(c.task, c.modelSource, {
        signal: controller.signal,
        log,
        workDir,
        claim: c,
        models,
        onProgress: (p) => {
          if (p.fraction !== undefined && p.fraction > 0)
            controller.abort(new Error('cancelled by the test'));
        },
      })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect((error as Error).name).toBe('AbortError');
    const pid = Number(/sd-server for sd1x-random is loaded \(pid (\d+)/.exec(text())?.[1]);
    expect(pidAlive(pid)).toBe(false);
  });
});
