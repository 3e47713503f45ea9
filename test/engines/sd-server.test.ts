import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EngineError, type EngineResult } from '../../src/engines/index.js';
import { SdCppEngine, type SdCppEngineOptions } from '../../src/engines/sd-cpp/index.js';
import { ClaimSchema, type Claim, type ModelFile, type TaskInput } from '../../src/protocol/index.js';
import { pidAlive } from '../../src/util/index.js';
import { silentLog, STANDIN, startSdFixture, type SdFixture } from '../fixtures/sd-cli-standin/harness.js';

// No stable-diffusion.cpp build can be obtained here: these drive the engine's warm-server path
// against the stand-in sd-server (and the stand-in sd-cli it falls back to); see their headers.
let fixture: SdFixture;
let workDir: string;
let logs: { loads: string; requests: string; args: string; crash: string };
const engines: SdCppEngine[] = [];

beforeAll(async () => {
  fixture = await startSdFixture();
});
afterAll(async () => {
  await fixture.close();
});
beforeEach(async () => {
  workDir = await mkdtemp(join(fixture.scratch, 'job-'));
  logs = {
    loads: `${workDir}-loads.jsonl`,
    requests: `${workDir}-requests.jsonl`,
    args: `${workDir}-args.jsonl`,
    crash: `${workDir}-crash`,
  };
});
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await rm(workDir, { recursive: true, force: true });
});

function engine(opts: Partial<SdCppEngineOptions> = {}): SdCppEngine {
  const e = new SdCppEngine({
    sdCliPath: STANDIN,
    env: {
      ...process.env,
      SD_STANDIN_LOADS_LOG: logs.loads,
      SD_STANDIN_REQUESTS_LOG: logs.requests,
      SD_STANDIN_ARGS_LOG: logs.args,
      SD_STANDIN_CRASH_FILE: logs.crash,
    },
    ...opts,
  });
  engines.push(e);
  return e;
}

function claim(task: TaskInput, files: ModelFile[], model = 'z-image-turbo'): Claim {
  return ClaimSchema.parse({
    jobId: 'job-sd',
    gameId: 'g',
    assetName: 'a',
    model,
    vramGbEstimate: 6,
    task,
    modelSource: { engine: 'sd-cpp', files, cliDefaults: { cfgScale: 1, steps: 4, width: 512, height: 512 } },
  });
}

function run(e: SdCppEngine, c: Claim, signal = new AbortController().signal): Promise<EngineResult> {
  return e.run(c.task, c.modelSource, { signal, log: silentLog, workDir, claim: c, models: fixture.cache });
}

const lines = async (path: string): Promise<Array<Record<string, unknown>>> =>
  existsSync(path)
    ? (await readFile(path, 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];

const image = (prompt: string, extra: Partial<TaskInput> = {}): TaskInput =>
  ({ kind: 'image', prompt, width: 64, height: 48, steps: 3, ext: 'webp', ...extra }) as TaskInput;

describe('warm image models through sd-server (stand-in sd-server)', () => {
  it('loads the model once and serves the next job of the same model set without loading it again', async () => {
    const e = engine();
    const files = fixture.files('diffusion', 'qwen', 'vae');
    const first = await run(e, claim(image('a red fox', { seed: 7 }), files));
    expect(e.warmModels()).toMatchObject([{ engine: 'sd-cpp', model: 'z-image-turbo', state: 'loaded' }]);
    const second = await run(
      e,
      claim(image('a blue fox', { negativePrompt: 'blurry', cfgScale: 2.5 }), files),
    );
    expect(await lines(logs.loads)).toHaveLength(1);
    expect(await lines(logs.args)).toEqual([]); // sd-cli never ran
    for (const r of [first, second]) {
      expect(r.type).toBe('bytes');
      const meta = await sharp((r as { data: Uint8Array }).data).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['webp', 64, 48]);
    }
    const requests = await lines(logs.requests);
    expect(requests.map((r) => r['route'])).toEqual(['txt2img', 'txt2img']);
    expect(requests[0]).toMatchObject({
      prompt: 'a red fox',
      seed: 7,
      width: 64,
      height: 48,
      steps: 3,
      cfg_scale: 1,
    });
    expect(requests[1]).toMatchObject({
      prompt: 'a blue fox',
      negative_prompt: 'blurry',
      cfg_scale: 2.5,
      seed: 42,
    });
  });

  it('restarts the server when the model set changes, and starts it with the model arguments', async () => {
    const e = engine();
    await run(e, claim(image('one'), fixture.files('diffusion', 'qwen', 'vae')));
    const firstPid = (await lines(logs.loads))[0]?.['pid'] as number;
    await run(e, claim(image('two'), fixture.files('wan', 'umt5', 'vae'), 'wan-2.1'));
    const loads = await lines(logs.loads);
    expect(loads).toHaveLength(2);
    expect(pidAlive(firstPid)).toBe(false);
    const argv = loads[1]?.['argv'] as string[];
    expect(argv.slice(0, 2)).toEqual([
      '--diffusion-model',
      join(fixture.cacheRoot, 'wan-2.1', 'wan2.1_t2v_1.3B_fp16.safetensors'),
    ]);
    expect(argv.slice(-4)).toEqual([
      '--listen-ip',
      '127.0.0.1',
      '--listen-port',
      expect.stringMatching(/^\d+$/),
    ]);
    expect(e.warmModels()[0]?.model).toBe('wan-2.1');
  });

  it('sends an init image and mask as img2img with the task’s strength', async () => {
    const e = engine();
    const task = image('edit', {
      initImageUrl: fixture.url('/inputs/init.png'),
      maskUrl: fixture.url('/inputs/mask.png'),
      denoise: 0.4,
    });
    await run(e, claim(task, fixture.files('diffusion', 'qwen', 'vae')));
    expect((await lines(logs.requests))[0]).toMatchObject({
      route: 'img2img',
      init: true,
      mask: true,
      denoising_strength: 0.4,
    });
  });

  it('stops the server after image_idle_unload_secs without a job', async () => {
    const e = engine({ imageIdleUnloadMs: 200 });
    await run(e, claim(image('idle'), fixture.files('diffusion', 'qwen', 'vae')));
    const pid = (await lines(logs.loads))[0]?.['pid'] as number;
    expect(pidAlive(pid)).toBe(true);
    await expect.poll(() => pidAlive(pid), { timeout: 5000 }).toBe(false);
    expect(e.warmModels()).toEqual([]);
  });

  it('unloads the warm model when asked (another job needs the memory), unless it is kept', async () => {
    const e = engine();
    await run(e, claim(image('x'), fixture.files('diffusion', 'qwen', 'vae')));
    const pid = (await lines(logs.loads))[0]?.['pid'] as number;
    await e.unloadWarm('test', new Set(['z-image-turbo']));
    expect(pidAlive(pid)).toBe(true);
    await e.unloadWarm('an llm job needs the memory');
    expect(pidAlive(pid)).toBe(false);
    expect(e.warmModels()).toEqual([]);
  });

  it('fails a job whose server dies mid-job retryably, and the next job starts a fresh server', async () => {
    const e = engine();
    const files = fixture.files('diffusion', 'qwen', 'vae');
    await run(e, claim(image('warm'), files));
    await writeFile(logs.crash, '');
    const error = await run(e, claim(image('crash', { steps: 20 }), files)).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ retryable: true, cannotServe: false });
    expect(String((error as Error).message)).toMatch(/sd-server .* died mid-job \(exit code 139/);
    expect(e.warmModels()).toEqual([]);
    await run(e, claim(image('after'), files));
    expect(await lines(logs.loads)).toHaveLength(2);
  });

  it('stops the server when the job is cancelled, so the GPU is free at once', async () => {
    const e = engine({ env: { ...process.env, SD_STANDIN_LOADS_LOG: logs.loads, SD_STANDIN_SLOW_MS: '50' } });
    const controller = new AbortController();
    const job = run(
      e,
      claim(image('slow', { steps: 200 }), fixture.files('diffusion', 'qwen', 'vae')),
      controller.signal,
    );
    await expect.poll(async () => (await lines(logs.loads)).length, { timeout: 5000 }).toBe(1);
    const pid = (await lines(logs.loads))[0]?.['pid'] as number;
    setTimeout(() => controller.abort(), 200);
    await expect(job).rejects.toMatchObject({ name: 'AbortError' });
    expect(pidAlive(pid)).toBe(false);
  });

  it('runs sd-cli when the server cannot load the model, and keeps using sd-cli for that model set', async () => {
    const e = engine({
      env: {
        ...process.env,
        SD_STANDIN_LOADS_LOG: logs.loads,
        SD_STANDIN_ARGS_LOG: logs.args,
        SD_STANDIN_SERVER_FAIL_LOAD: '1',
      },
    });
    const files = fixture.files('diffusion', 'qwen', 'vae');
    const first = await run(e, claim(image('first'), files));
    const second = await run(e, claim(image('second'), files));
    expect([first.type, second.type]).toEqual(['bytes', 'bytes']);
    expect(await lines(logs.loads)).toMatchObject([{ failed: true }]); // tried once, not per job
    expect(await lines(logs.args)).toHaveLength(2);
    // The dashboard shows the model as failed, with sd-server's own last words.
    expect(e.warmModels()).toMatchObject([{ model: 'z-image-turbo', state: 'failed', bytes: 0 }]);
    expect(e.warmModels()[0]?.error).toContain('new_sd_ctx_t failed');
  });

  it('runs sd-cli per job when there is no sd-server beside it', async () => {
    const dir = await mkdtemp(join(fixture.scratch, 'cli-only-'));
    const cli = join(dir, 'sd-cli');
    await writeFile(cli, `#!/bin/sh\nexec node ${JSON.stringify(STANDIN)} "$@"\n`, { mode: 0o755 });
    const e = engine({ sdCliPath: cli });
    await run(e, claim(image('no server'), fixture.files('diffusion', 'qwen', 'vae')));
    expect(await lines(logs.args)).toHaveLength(1);
    expect(await lines(logs.loads)).toEqual([]);
    expect(e.availability().detail).toContain('no sd-server beside it');
  });

  it('runs video through sd-cli even with a warm server (sd-server’s sdapi routes make images only)', async () => {
    const e = engine();
    await run(
      e,
      claim(
        {
          kind: 'video',
          prompt: 'waves',
          seconds: 1,
          fps: 2,
          width: 32,
          height: 32,
          ext: 'mp4',
        },
        fixture.files('wan', 'umt5', 'vae'),
        'wan-2.1',
      ),
    );
    expect(await lines(logs.args)).toHaveLength(1);
    expect(await lines(logs.loads)).toEqual([]);
  });
});
