import { copyFile, mkdtemp, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../src/engines/index.js';
import type { LocalFirstModels } from '../../src/generate/index.js';
import { pidAlive } from '../../src/util/index.js';
import {
  captureLog,
  closeEngines,
  failure,
  imageMeta,
  realClaim,
  realEngine,
  runReal,
  SD_CLI,
  SDCPP_MODEL,
  sdcppReady,
  sdcppSkipReason,
  serverPids,
  realScratch,
  TINY_LLM,
} from '../support/sdcpp-real.js';

// The REAL sd-cli (one process per job: no warm sd-server, `image_idle_unload_secs = 0`), built
// from ../shared/vendor, on its random-weight SD 1.x model. Every assertion on what sd.cpp did is
// on sd.cpp's own log lines, not on the arguments we passed.

let scratch: string;
let models: LocalFirstModels;
beforeAll(async () => {
  ({ scratch, models } = await realScratch('sd-cli-real'));
});
afterEach(closeEngines);
afterAll(() => rm(scratch, { recursive: true, force: true }));

const perJob = () => realEngine({ imageIdleUnloadMs: 0 });

describe.skipIf(!sdcppReady)(`sd-cpp on the real sd-cli${sdcppSkipReason}`, { timeout: 180_000 }, () => {
  it('makes an image at the requested size and format, with seed, steps, cfg, sampler and size as sd.cpp understood them', async () => {
    const { log, text } = captureLog();
    const fractions: number[] = [];
    const messages: string[] = [];
    const c = realClaim({
      seed: 42,
      steps: 3,
      cfgScale: 0.5,
      samplingMethod: 'euler',
      width: 64,
      height: 64,
      ext: 'webp',
    });
    const result = await runReal(perJob(), c, {
      log,
      models,
      scratch,
      onProgress: (p) => {
        if (p.fraction !== undefined && p.fraction > 0) fractions.push(p.fraction);
        if (p.message) messages.push(p.message);
      },
    });
    expect(await imageMeta(result)).toMatchObject({ width: 64, height: 64, format: 'webp' });
    const said = text();
    expect(said).toContain('generate_image 64x64');
    expect(said).toContain('sampling using Euler method');
    expect(said).toContain('generating image: 1/1 - seed 42');
    // sd.cpp's own warning for a cfg below 1: the value reached it.
    expect(said).toContain('cfg value out of expected range');
    // Progress comes from sd.cpp's own bar, step by step, ending at 3 of 3.
    expect(fractions.at(-1)).toBe(1);
    expect(fractions.length).toBeGreaterThanOrEqual(2);
    expect(messages.at(-1)).toMatch(/^step 3\/3 /);
    expect(serverPids(said)).toEqual([]);
  });

  it('converts sd-cli’s PNG into jpeg at a size sd.cpp rounds (72×40 → 72×40)', async () => {
    const { log, text } = captureLog();
    const result = await runReal(perJob(), realClaim({ width: 72, height: 40, ext: 'jpeg' }), {
      log,
      models,
      scratch,
    });
    expect(await imageMeta(result)).toMatchObject({ width: 72, height: 40, format: 'jpeg' });
    expect(text()).toMatch(/generate_image \d+x\d+/);
  });

  it('kills sd-cli when the job is cancelled mid-sampling and leaves no process behind', async () => {
    const { log, text } = captureLog();
    const controller = new AbortController();
    const error = await failure(
      runReal(perJob(), realClaim({ steps: 30 }), {
        log,
        models,
        scratch,
        signal: controller.signal,
        onProgress: (p) => {
          if ((p.fraction ?? 0) > 0) controller.abort(new Error('cancelled by the test'));
        },
      }),
    );
    expect((error as Error).name).toBe('AbortError');
    const pid = Number(/"pid":(\d+),"binary"[^\n]*sd-cli started/.exec(text())?.[1]);
    expect(pid).toBeGreaterThan(0);
    expect(pidAlive(pid)).toBe(false);
  });

  it('fails non-retryably with sd-cli’s own words when sd-cli rejects an argument (an unknown sampler)', async () => {
    const error = await failure(
      runReal(perJob(), realClaim({ samplingMethod: 'euler_z' }), { log: captureLog().log, models, scratch }),
    );
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ retryable: false });
    expect((error as Error).message).toContain('invalid sample method euler_z');
  });

  it('fails non-retryably, naming sd.cpp’s reason, on a truncated model file', async () => {
    const truncated = join(scratch, 'truncated.gguf');
    await copyFile(SDCPP_MODEL ?? '', truncated);
    const file = await open(truncated, 'r+');
    await file.truncate(50 * 1024 * 1024);
    await file.close();
    const error = await failure(
      runReal(perJob(), realClaim({}, truncated), { log: captureLog().log, models, scratch }),
    );
    await rm(truncated, { force: true });
    expect(error).toBeInstanceOf(EngineError);
    expect((error as EngineError).retryable).toBe(false);
    expect((error as EngineError).message).toMatch(/^sd-cli exited with code 1: .*read tensor data failed/s);
  });

  it('fails non-retryably, naming sd.cpp’s reason, on a model of another architecture (an LLM gguf)', async () => {
    const error = await failure(
      runReal(perJob(), realClaim({}, TINY_LLM), { log: captureLog().log, models, scratch }),
    );
    expect(error).toBeInstanceOf(EngineError);
    expect((error as EngineError).retryable).toBe(false);
    expect((error as EngineError).message).toContain('get sd version from file failed');
  });

  it('runs sd-cli per job when there is no sd-server beside it', async () => {
    const dir = await mkdtemp(join(scratch, 'cli-only-'));
    const cli = join(dir, 'sd-cli');
    await copyFile(SD_CLI, cli);
    const { log, text } = captureLog();
    const e = realEngine({ sdCliPath: cli });
    expect(e.availability().detail).toContain('no sd-server beside it');
    const result = await runReal(e, realClaim({ seed: 9 }), { log, models, scratch });
    expect(await imageMeta(result)).toMatchObject({ width: 64, height: 64, format: 'png' });
    expect(text()).toContain('sd-cli started');
    expect(serverPids(text())).toEqual([]);
  });
});
