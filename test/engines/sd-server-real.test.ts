import { rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
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
  resultInput,
  runReal,
  SDCPP_MODEL,
  sdcppLoads,
  sdcppReady,
  sdcppSkipReason,
  serverPids,
  realScratch,
  TINY_LLM,
} from '../support/sdcpp-real.js';

// The REAL sd-server (warm image models; `/sdapi/v1/txt2img` and `img2img`), built from
// ../shared/vendor, on its random-weight SD 1.x model. What sd.cpp did is read from its own
// log lines and process ids, not from the requests we sent.

let scratch: string;
let models: LocalFirstModels;
let init: string;
beforeAll(async () => {
  ({ scratch, models } = await realScratch('sd-server-real'));
  init = join(scratch, 'init.png');
  await sharp({ create: { width: 64, height: 64, channels: 3, background: '#c04020' } })
    .png()
    .toFile(init);
});
afterEach(closeEngines);
afterAll(() => rm(scratch, { recursive: true, force: true }));

/** A one-channel PNG mask: white is repainted, black is kept. */
async function mask(name: string, color: '#000000' | '#ffffff'): Promise<string> {
  const path = join(scratch, name);
  await sharp({ create: { width: 64, height: 64, channels: 3, background: color } })
    .png()
    .toFile(path);
  return pathToFileURL(path).href;
}

/** The largest per-channel difference between two images' pixels. */
async function maxPixelDifference(a: Buffer | string, b: Buffer | string): Promise<number> {
  const [pa, pb] = await Promise.all([a, b].map((i) => sharp(i).removeAlpha().raw().toBuffer()));
  let max = 0;
  for (let i = 0; i < (pa?.length ?? 0); i++) max = Math.max(max, Math.abs((pa?.[i] ?? 0) - (pb?.[i] ?? 0)));
  return max;
}

describe.skipIf(!sdcppReady)(`sd-cpp on the real sd-server${sdcppSkipReason}`, { timeout: 180_000 }, () => {
  it('keeps the model warm: the second job reuses the same server and does not load again', async () => {
    const e = realEngine();
    const { log, text } = captureLog();
    const first = await runReal(e, realClaim({ seed: 1 }), { log, models, scratch });
    expect(await imageMeta(first)).toMatchObject({ width: 64, height: 64, format: 'png' });
    expect(e.warmModels()).toMatchObject([{ engine: 'sd-cpp', model: 'sd1x-random', state: 'loaded' }]);
    expect(sdcppLoads(text())).toBe(1);
    const [pid] = serverPids(text());
    const second = await runReal(e, realClaim({ seed: 2, ext: 'webp' }), { log, models, scratch });
    expect(await imageMeta(second)).toMatchObject({ width: 64, height: 64, format: 'webp' });
    expect(sdcppLoads(text())).toBe(1);
    expect(serverPids(text())).toEqual([pid]);
    expect(pidAlive(pid ?? 0)).toBe(true);
    expect(text()).toContain('generating image: 1/1 - seed 2');
    expect(text()).not.toMatch(/running this job with sd-cli instead/);
  });

  it('restarts the server when the model changes, and the old one is gone', async () => {
    const other = join(scratch, 'sd1x-other.gguf');
    await symlink(SDCPP_MODEL ?? '', other);
    const e = realEngine();
    const { log, text } = captureLog();
    await runReal(e, realClaim({ seed: 1 }), { log, models, scratch });
    await runReal(e, realClaim({ seed: 1 }, other, 'sd1x-other'), { log, models, scratch });
    expect(sdcppLoads(text())).toBe(2);
    const [first] = serverPids(text());
    const [second] = serverPids(text(), 'sd1x-other');
    expect(second).not.toBe(first);
    expect(pidAlive(first ?? 0)).toBe(false);
    expect(text()).toContain(`loading model from '${other}'`);
    expect(e.warmModels()).toMatchObject([{ model: 'sd1x-other', state: 'loaded' }]);
  });

  it('serves img2img with an init image at the requested size', async () => {
    const { log, text } = captureLog();
    const result = await runReal(
      realEngine(),
      realClaim({ initImageUrl: pathToFileURL(init).href, denoise: 0.6, ext: 'png' }),
      { log, models, scratch },
    );
    expect(await imageMeta(result)).toMatchObject({ width: 64, height: 64, format: 'png' });
    expect(text()).toContain('IMG2IMG');
    expect(text()).not.toMatch(/running this job with sd-cli instead/);
  });

  it('inpaints with a mask: where the mask keeps everything, the prompt no longer matters', async () => {
    const e = realEngine();
    const { log, text } = captureLog();
    const edit = (prompt: string, maskUrl: string) =>
      runReal(
        e,
        realClaim({
          prompt,
          initImageUrl: pathToFileURL(init).href,
          maskUrl,
          denoise: 0.9,
          seed: 1,
          samplingMethod: 'euler',
        }),
        { log, models, scratch },
      ).then(resultInput);
    const keepAll = await mask('keep-all.png', '#000000');
    const repaintAll = await mask('repaint-all.png', '#ffffff');
    // A black mask keeps the init image's latent everywhere: another prompt paints nothing new.
    expect(
      await maxPixelDifference(await edit('a red fox', keepAll), await edit('a blue whale', keepAll)),
    ).toBe(0);
    // A white mask repaints everything: the prompt shows.
    expect(
      await maxPixelDifference(await edit('a red fox', repaintAll), await edit('a blue whale', repaintAll)),
    ).toBeGreaterThan(0);
    expect(text()).toContain('IMG2IMG');
    expect(sdcppLoads(text())).toBe(1);
  });

  it('stops the server after image_idle_unload_secs without a job', async () => {
    const e = realEngine({ imageIdleUnloadMs: 300 });
    const { log, text } = captureLog();
    await runReal(e, realClaim({}), { log, models, scratch });
    const [pid] = serverPids(text());
    await expect.poll(() => pidAlive(pid ?? 0), { timeout: 10_000 }).toBe(false);
    expect(e.warmModels()).toEqual([]);
  });

  it('unloads the warm model when asked (another job needs the memory), unless it is kept', async () => {
    const e = realEngine();
    const { log, text } = captureLog();
    await runReal(e, realClaim({}), { log, models, scratch });
    const [pid] = serverPids(text());
    await e.unloadWarm('test', new Set(['sd1x-random']));
    expect(pidAlive(pid ?? 0)).toBe(true);
    await e.unloadWarm('an llm job needs the memory');
    expect(pidAlive(pid ?? 0)).toBe(false);
    expect(e.warmModels()).toEqual([]);
  });

  it('fails a job whose sd-server is killed mid-job retryably, and the next job starts a fresh server', async () => {
    const e = realEngine();
    const { log, text } = captureLog();
    let killed: number | undefined;
    const error = await failure(
      runReal(e, realClaim({ steps: 8, seed: 3 }), {
        log,
        models,
        scratch,
        onProgress: () => {
          // Once sd.cpp says it is sampling (its own line), the server dies under the job.
          const [pid] = serverPids(text());
          if (killed === undefined && text().includes('generating image: 1/1') && pid && pidAlive(pid)) {
            killed = pid;
            process.kill(pid, 'SIGKILL');
          }
        },
      }),
    );
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ retryable: true });
    expect((error as Error).message).toMatch(/sd-server .*died mid-job/);
    expect(killed).toBeDefined();
    expect(e.warmModels()).toEqual([]);
    const result = await runReal(e, realClaim({ seed: 4 }), { log, models, scratch });
    expect(await imageMeta(result)).toMatchObject({ width: 64, height: 64 });
    const servers = serverPids(text());
    expect(servers).toHaveLength(2);
    expect(servers[1]).not.toBe(killed);
  });

  it('stops the server when the job is cancelled mid-job, so the memory is free at once', async () => {
    const { log, text } = captureLog();
    const controller = new AbortController();
    const error = await failure(
      runReal(realEngine(), realClaim({ steps: 30, seed: 5 }), {
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
    const [pid] = serverPids(text());
    expect(pidAlive(pid ?? 0)).toBe(false);
  });

  it('passes a model sd-server refuses to sd-cli once, then keeps that model on sd-cli, naming sd.cpp’s reason', async () => {
    const e = realEngine();
    const { log, text } = captureLog();
    const first = await failure(runReal(e, realClaim({}, TINY_LLM, 'not-sd'), { log, models, scratch }));
    // sd-cli refuses it too: the job fails for good, in sd.cpp's words.
    expect(first).toBeInstanceOf(EngineError);
    expect(first).toMatchObject({ retryable: false });
    expect((first as Error).message).toContain('get sd version from file failed');
    expect(text()).toMatch(/running this job with sd-cli instead of sd-server/);
    expect(e.warmModels()).toMatchObject([{ model: 'not-sd', state: 'failed', bytes: 0 }]);
    expect(e.warmModels()[0]?.error).toContain('get sd version from file failed');
    const starts = (text().match(/starting sd-server for not-sd/g) ?? []).length;
    await failure(runReal(e, realClaim({}, TINY_LLM, 'not-sd'), { log, models, scratch }));
    // Tried once, not per job.
    expect((text().match(/starting sd-server for not-sd/g) ?? []).length).toBe(starts);
  });
});
