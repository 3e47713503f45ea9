import { writeFile } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { FrameEvent } from '../../src/dev-studio/index.js';
import { createCommandRunner, probeGpu } from '../../src/platform/index.js';
import type { Harness, RunningWorker } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

// No NVIDIA GPU here: the worker reads its GPU through the stand-in nvidia-smi (see its header),
// whose answers the test writes. Everything else is the real worker against the dev studio, which
// plays flows.md §6: a reject without a code costs the job an attempt, busy/paused do not, and an
// idle heartbeat of a worker that says autoEnabled: true gets the next offer.
const NVIDIA_SMI_STANDIN = fileURLToPath(new URL('../fixtures/nvidia-smi-standin/', import.meta.url));

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function setUp(
  gpu: string,
): Promise<{ h: Harness; w: RunningWorker; setGpu: (line: string) => Promise<void> }> {
  const harness = (h = await startHarness({ config: { vramThresholdGb: 12, maxGpuTempC: 85 } }));
  const state = join(harness.configDir, 'gpu.state');
  const setGpu = (line: string) => writeFile(state, `${line}\n`);
  await setGpu(gpu);
  const w = harness.startWorker({
    gpuCheckMs: 50,
    gpuProbe: () =>
      probeGpu({
        run: createCommandRunner({
          env: {
            PATH: `${NVIDIA_SMI_STANDIN}${delimiter}${dirname(process.execPath)}`,
            NVIDIA_SMI_STANDIN_STATE: state,
          },
        }),
        platform: 'linux',
        arch: 'x64',
        sysRoot: join(harness.configDir, 'no-sys'),
      }),
  });
  await w.next('session:welcomed');
  return { h: harness, w, setGpu };
}

/** Every frame of `type` the worker sent the studio from now on. */
function framesIn(harness: Harness, type: string): FrameEvent[] {
  const seen: FrameEvent[] = [];
  harness.studio.events.on('frame', (e) => {
    if (e.direction === 'in' && e.frame.type === type) seen.push(e);
  });
  return seen;
}

const caps = (harness: Harness) => harness.studio.admin.listWorkers()[0]?.capabilities;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('admission told in heartbeats: a lasting condition stops the offers instead of burning attempts', () => {
  it('a GPU hot for a while (scaled down from a minute: ~30 heartbeats) costs the job no attempt and at most one reject; it runs once the GPU cools', async () => {
    const { h, w, setGpu } = await setUp('memory.free=16384,temperature.gpu=55');
    const rejects = framesIn(h, 'reject');
    const heartbeats = framesIn(h, 'heartbeat');
    await setGpu('memory.free=16384,temperature.gpu=91');
    // The job arrives the moment the worker knows, racing its heartbeat: at most this offer is turned down.
    await expect.poll(() => w.worker.getStatus().gpu?.temperatureC).toBe(91);
    const job = h.studio.admin.enqueueJob({
      task: { kind: 'image', prompt: 'while hot', width: 16, height: 16 },
    });
    await expect.poll(() => caps(h)?.autoEnabled).toBe(false);
    expect(w.worker.getStatus().availability).toMatchObject({
      available: false,
      reasons: [
        'gpu_too_hot: the GPU is at 91 °C, above max_gpu_temp_c = 85 °C; taking no jobs until it cools',
      ],
    });

    const hotSince = heartbeats.length;
    await sleep(3000);
    expect(heartbeats.length - hotSince).toBeGreaterThanOrEqual(10);
    expect(h.studio.admin.getJob(job.jobId)).toMatchObject({ status: 'queued', attempts: 0 });
    expect(rejects.length).toBeLessThanOrEqual(1);
    for (const r of rejects) expect(r.frame).toMatchObject({ jobId: job.jobId, code: 'busy' });

    await setGpu('memory.free=16384,temperature.gpu=60');
    const done = await h.studio.admin.waitForJob(job.jobId, { timeoutMs: 10_000 });
    expect(done).toMatchObject({ status: 'completed', attempts: 0 });
    expect(rejects.length).toBeLessThanOrEqual(1);
    expect(w.worker.getStatus().availability).toEqual({ available: true, reasons: [], vramThresholdGb: 12 });
    expect(h.studio.admin.violations()).toEqual([]);
  });

  it('advertises vramThresholdGb lowered to what fits in free GPU memory, never above the operator’s, so large jobs wait without a reject', async () => {
    const { h, w, setGpu } = await setUp('memory.free=4096,temperature.gpu=50');
    // Production matches kinds and VRAM when it picks a worker (flows.md §3), and so does the dev studio.
    const rejects = framesIn(h, 'reject');
    await expect.poll(() => caps(h)?.vramThresholdGb).toBe(3);
    expect(caps(h)?.autoEnabled).toBe(true);
    expect(w.worker.getStatus().availability?.vramLowered).toBe(
      'insufficient_memory: 4.00 GiB free on the GPU (nvidia-smi), 1.00 GiB kept in reserve; advertising 3 GB of the 12 GB threshold',
    );
    const big = h.studio.admin.enqueueJob({
      task: { kind: 'image', prompt: 'big', width: 16, height: 16 },
      vramGbEstimate: 6,
    });
    const small = h.studio.admin.enqueueJob({
      task: { kind: 'image', prompt: 'small', width: 16, height: 16 },
      vramGbEstimate: 2,
    });
    expect((await h.studio.admin.waitForJob(small.jobId)).status).toBe('completed');
    await sleep(300);
    expect(h.studio.admin.getJob(big.jobId)).toMatchObject({ status: 'queued', attempts: 0 });

    await setGpu('memory.free=40960,temperature.gpu=50');
    await expect.poll(() => caps(h)?.vramThresholdGb).toBe(12);
    expect((await h.studio.admin.waitForJob(big.jobId)).status).toBe('completed');
    expect(rejects.map((r) => r.frame)).toEqual([]);
  });
});
