import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SyntheticEngine } from '../../src/engines/index.js';
import { SdCppEngine } from '../../src/engines/sd-cpp/index.js';
import { SdCppInstaller } from '../../src/engines/sd-cpp/install/index.js';
import { createCommandRunner, probeGpu } from '../../src/platform/index.js';
import type { ModelSource } from '../../src/protocol/index.js';
import { silentLog, startSdFixture, type SdFixture } from '../fixtures/sd-cli-standin/harness.js';
import { startReleaseServer, type ReleaseServer } from '../fixtures/sd-cli-standin/release.js';
import type { Harness, RunningWorker } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

// No stable-diffusion.cpp build, model or NVIDIA GPU can be had on this machine. The worker here
// installs the stand-in sd-cli/sd-server from a loopback release server, and reads its GPU through
// the stand-in nvidia-smi (see each file's header); everything else is the real worker and studio.
const NVIDIA_SMI_STANDIN = fileURLToPath(new URL('../fixtures/nvidia-smi-standin/', import.meta.url));
const NODE_MODULES = fileURLToPath(new URL('../../node_modules/', import.meta.url));

let h: Harness;
let w: RunningWorker;
let release: ReleaseServer;
let fixture: SdFixture;
let scratch: string;
let modelsRoot: string;
let gpuState: string;
let loadsLog: string;

const setGpu = (line: string) => writeFile(gpuState, `${line}\n`);

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'gpu-host-'));
  modelsRoot = join(scratch, 'models');
  gpuState = join(scratch, 'gpu-state');
  loadsLog = join(scratch, 'loads.jsonl');
  await setGpu('memory.free=8192,temperature.gpu=55,utilization.gpu=0');
  release = await startReleaseServer();
  fixture = await startSdFixture();
  h = await startHarness({ config: { vramThresholdGb: 24, modelsRoot, maxGpuTempC: 85 } });
  // These tests rely on the dev studio offering a worker only what its vramThresholdGb covers, as
  // production's pickWorkerForJob does (flows.md §3; the dev studio's default).
  const env = {
    ...process.env,
    PATH: '/usr/bin:/bin', // no sd-cli anywhere it is looked for
    STUDIO_WORKER_SDCPP_API: release.url,
    SD_STANDIN_NODE_MODULES: NODE_MODULES,
    SD_STANDIN_LOADS_LOG: loadsLog,
  };
  const sd = new SdCppEngine({
    modelsRoot,
    env,
    log: silentLog,
    installer: new SdCppInstaller({
      modelsRoot,
      env,
      log: silentLog,
      host: { platform: 'linux', arch: 'x64', nvidia: false },
      // This machine has no Vulkan loader; the build being installed is the stand-in, which needs none.
      vulkanPresent: () => Promise.resolve(true),
    }),
  });
  w = h.startWorker({
    engines: [new SyntheticEngine(), sd],
    gpuCheckMs: 100,
    gpuProbe: () =>
      probeGpu({
        run: createCommandRunner({
          env: {
            PATH: `${NVIDIA_SMI_STANDIN}${delimiter}${dirname(process.execPath)}`,
            NVIDIA_SMI_STANDIN_STATE: gpuState,
          },
        }),
        platform: 'linux',
        arch: 'x64',
        sysRoot: join(scratch, 'no-sys'),
      }),
  });
  await w.next('session:welcomed');
});

afterAll(async () => {
  await h.close();
  await release.close();
  await fixture.close();
  await rm(scratch, { recursive: true, force: true });
});

const source = (): ModelSource => ({
  engine: 'sd-cpp',
  files: fixture.files('diffusion', 'qwen', 'vae'),
  cliDefaults: { cfgScale: 1, steps: 4, width: 512, height: 512 },
});

function enqueueImage(prompt: string, vramGbEstimate = 4) {
  return h.studio.admin.enqueueJob({
    task: { kind: 'image', prompt, width: 64, height: 48, steps: 3, ext: 'webp' },
    model: 'z-image-turbo',
    modelSource: source(),
    vramGbEstimate,
  });
}

async function imageJob(prompt: string, vramGbEstimate = 4) {
  const job = enqueueImage(prompt, vramGbEstimate);
  return h.studio.admin.waitForJob(job.jobId, { timeoutMs: 25_000 });
}

const caps = () => h.studio.admin.listWorkers()[0]?.capabilities;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const loads = async () =>
  existsSync(loadsLog) ? (await readFile(loadsLog, 'utf8')).split('\n').filter(Boolean) : [];

describe('a GPU host that sets itself up (stand-in stable-diffusion.cpp build and nvidia-smi)', () => {
  it('installs stable-diffusion.cpp on the first image job, verified by the release digest, and completes it', async () => {
    expect(existsSync(join(modelsRoot, 'bin', 'sd-cli'))).toBe(false);
    const done = await imageJob('a lighthouse at dusk');
    expect(done.status).toBe('completed');
    const result = h.studio.admin.jobResult(done.jobId);
    expect(result?.type).toBe('file');
    if (result?.type !== 'file') return;
    const meta = await sharp(await readFile(result.path)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['webp', 64, 48]);
    expect(existsSync(join(modelsRoot, 'bin', 'sd-server'))).toBe(true);
    const marker = JSON.parse(
      await readFile(join(modelsRoot, 'bin', '.stable-diffusion-cpp.json'), 'utf8'),
    ) as {
      archives: { sha256: string }[];
    };
    expect(marker.archives[0]?.sha256).toBe(release.sha256);
    expect(h.logText()).toContain('installing stable-diffusion.cpp');
  });

  it('serves the next job of the same model from the warm sd-server, without loading it again', async () => {
    const done = await imageJob('a lighthouse at dawn');
    expect(done.status).toBe('completed');
    expect(await loads()).toHaveLength(1);
    expect(w.worker.getStatus().models).toMatchObject([
      { model: 'z-image-turbo', state: 'loaded', engine: 'sd-cpp' },
    ]);
    expect(release.requests.filter((r) => r.startsWith('/download/'))).toHaveLength(1);
  });

  it('advertises vramThresholdGb lowered to what fits in free GPU memory, so the studio holds back a job that does not fit (no reject, no attempt)', async () => {
    await expect.poll(() => caps()?.vramThresholdGb).toBe(7);
    const job = enqueueImage('a huge model', 20);
    await sleep(300);
    expect(h.studio.admin.getJob(job.jobId)).toMatchObject({ status: 'queued', attempts: 0 });
    expect(w.worker.getStatus().availability?.vramLowered).toMatch(
      /^insufficient_memory: 8\.00 GiB free on the GPU \(nvidia-smi\), 1\.00 GiB kept in reserve.*; advertising 7 GB of the 24 GB threshold$/,
    );
    expect(w.worker.getStatus().gpu).toMatchObject({
      source: 'nvidia-smi',
      freeBytes: 8192 * 1024 ** 2,
      temperatureC: 55,
    });
  });

  it('says autoEnabled: false while the GPU is hotter than max_gpu_temp_c, and takes the job waiting meanwhile once it cools', async () => {
    await setGpu('memory.free=8192,temperature.gpu=91,utilization.gpu=100');
    await expect.poll(() => w.worker.getStatus().gpu?.temperatureC, { timeout: 5000 }).toBe(91);
    await expect.poll(() => caps()?.autoEnabled).toBe(false);
    expect(w.worker.getStatus().availability?.reasons).toEqual([
      'gpu_too_hot: the GPU is at 91 °C, above max_gpu_temp_c = 85 °C; taking no jobs until it cools',
    ]);
    const hot = enqueueImage('while hot');
    await sleep(300);
    expect(h.studio.admin.getJob(hot.jobId)).toMatchObject({ status: 'queued', attempts: 0 });
    await setGpu('memory.free=8192,temperature.gpu=60,utilization.gpu=0');
    const done = await h.studio.admin.waitForJob(hot.jobId, { timeoutMs: 25_000 });
    expect(done).toMatchObject({ status: 'completed', attempts: 0 });
    expect(done.transientRejects).toBeUndefined();
  });
});
