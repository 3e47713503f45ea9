import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { gpuPinEnv, probeGpu, type CommandRunner } from '../../src/platform/index.js';
import type { Harness } from '../support/harness.js';
import { startHarness } from '../support/harness.js';
import { CLI, startRun } from '../support/cli.js';

const NVIDIA_SMI_STANDIN = fileURLToPath(new URL('../fixtures/nvidia-smi-standin/', import.meta.url));
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('one worker per GPU (--gpu N)', () => {
  it('pins CUDA (in nvidia-smi’s order), ROCm and ggml’s Vulkan to the one GPU', () => {
    expect(gpuPinEnv(2)).toEqual({
      CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
      CUDA_VISIBLE_DEVICES: '2',
      HIP_VISIBLE_DEVICES: '2',
      ROCR_VISIBLE_DEVICES: '2',
      GGML_VK_VISIBLE_DEVICES: '2',
    });
  });

  it('reads only that GPU’s free memory and temperature', async () => {
    const calls: string[][] = [];
    const run: CommandRunner = (_cmd, args) => {
      calls.push([...args]);
      return Promise.resolve({ code: 0, stdout: '2000, 50, 1\n', stderr: '' });
    };
    await probeGpu({ run, platform: 'linux', arch: 'x64', sysRoot: '/nonexistent', gpuIndex: 1 });
    expect(calls[0]).toContain('--id=1');
  });

  it('run --gpu 1 (stand-in nvidia-smi with two GPUs) reports GPU 1 in its metrics', async () => {
    h = await startHarness();
    await h.register();
    // The stand-in's GPUs, beside the config (removed with it).
    const state = join(h.configDir, 'gpus.state');
    await writeFile(
      state,
      'memory.free=1000,temperature.gpu=40,memory.total=8000\nmemory.free=2000,temperature.gpu=50,memory.total=16000\n',
    );
    const run = startRun(h.configDir, ['--gpu', '1', '--metrics-listen', '127.0.0.1:0'], {
      PATH: `${NVIDIA_SMI_STANDIN}${delimiter}${dirname(process.execPath)}${delimiter}/usr/bin:/bin`,
      NVIDIA_SMI_STANDIN_STATE: state,
    });
    try {
      await expect
        .poll(() => /metrics on (http:\/\/[^/]+)\/metrics/.exec(run.stdout())?.[1], { timeout: 20_000 })
        .toBeTruthy();
      const base = /metrics on (http:\/\/[^/]+)\/metrics/.exec(run.stdout())?.[1] ?? '';
      await expect
        .poll(
          async () =>
            (await (await fetch(`${base}/metrics`)).text()).match(
              /^studio_worker_gpu_memory_free_bytes (\S+)$/m,
            )?.[1],
          {
            timeout: 20_000,
          },
        )
        .toBe(String(2000 * 1024 ** 2));
      const text = await (await fetch(`${base}/metrics`)).text();
      expect(text).toMatch(/^studio_worker_gpu_temperature_celsius 50$/m);
      // The GPU is read before the session opens: the hello with it may still be on its way.
      await expect
        .poll(() => h!.studio.admin.listWorkers()[0]?.capabilities?.vramTotalGb, { timeout: 20_000 })
        .toBe(15.6); // GPU 1's 16000 MiB, not the sum of both
    } finally {
      await run.stop();
    }
  });

  it('refuses a --gpu that is not an index (exit 2)', async () => {
    const r = await new Promise<number | null>((resolve) => {
      const c = spawn(process.execPath, [CLI, 'run', '--gpu', 'first'], { stdio: 'ignore' });
      c.once('exit', resolve);
    });
    expect(r).toBe(2);
  });
});
