import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listGpus, parseNvidiaSmiState, probeGpu, type CommandRunner } from '../../src/platform/index.js';

const MIB = 1024 ** 2;
const noNvidia: CommandRunner = () => Promise.resolve({ code: -1, stdout: '', stderr: '', error: 'ENOENT' });

describe('reading the GPU for admission', () => {
  let sys: string;
  beforeAll(async () => {
    sys = await mkdtemp(join(tmpdir(), 'gpu-sys-'));
  });
  afterAll(async () => {
    await rm(sys, { recursive: true, force: true });
  });

  it('reads the first GPU’s free MiB, temperature and load from nvidia-smi, leaving out [N/A]', () => {
    expect(parseNvidiaSmiState('23004, 41, 3\n80000, 30, 0\n')).toEqual({
      freeBytes: 23004 * MIB,
      temperatureC: 41,
      utilizationPct: 3,
    });
    expect(parseNvidiaSmiState('23004, [N/A], [N/A]\n')).toEqual({ freeBytes: 23004 * MIB });
    expect(parseNvidiaSmiState('[N/A], 41, 3\n')).toBeUndefined();
    expect(parseNvidiaSmiState('')).toBeUndefined();
  });

  it('asks nvidia-smi exactly what the original asks, plus temperature and load', async () => {
    const calls: string[][] = [];
    const run: CommandRunner = (cmd, args) => {
      calls.push([cmd, ...args]);
      return Promise.resolve({ code: 0, stdout: '1024, 70, 99\n', stderr: '' });
    };
    expect(await probeGpu({ run, platform: 'linux', arch: 'x64', sysRoot: sys })).toEqual({
      source: 'nvidia-smi',
      freeBytes: 1024 * MIB,
      temperatureC: 70,
      utilizationPct: 99,
    });
    expect(calls).toEqual([
      [
        'nvidia-smi',
        '--query-gpu=memory.free,temperature.gpu,utilization.gpu',
        '--format=csv,noheader,nounits',
      ],
    ]);
  });

  it('reads an AMD card from sysfs: total − used, hwmon millidegrees, busy percent', async () => {
    const device = join(sys, 'class', 'drm', 'card1', 'device');
    await mkdir(join(device, 'hwmon', 'hwmon3'), { recursive: true });
    await writeFile(join(device, 'mem_info_vram_total'), `${16 * 1024 * MIB}\n`);
    await writeFile(join(device, 'mem_info_vram_used'), `${4 * 1024 * MIB}\n`);
    await writeFile(join(device, 'hwmon', 'hwmon3', 'temp1_input'), '62000\n');
    await writeFile(join(device, 'gpu_busy_percent'), '17\n');
    await mkdir(join(sys, 'class', 'drm', 'card0', 'device'), { recursive: true }); // not amdgpu
    expect(await probeGpu({ run: noNvidia, platform: 'linux', arch: 'x64', sysRoot: sys })).toEqual({
      source: 'amdgpu sysfs card1',
      freeBytes: 12 * 1024 * MIB,
      temperatureC: 62,
      utilizationPct: 17,
    });
  });

  it('takes free RAM as free GPU memory on Apple silicon, and says why when nothing can be read', async () => {
    expect(
      await probeGpu({
        run: noNvidia,
        platform: 'darwin',
        arch: 'arm64',
        sysRoot: sys,
        freeMemBytes: () => 5e9,
      }),
    ).toEqual({ source: 'unified memory', freeBytes: 5e9 });
    expect(await probeGpu({ run: noNvidia, platform: 'win32', arch: 'x64', sysRoot: sys })).toEqual({
      reason: 'nvidia-smi is not on PATH',
    });
  });

  it('lists the GPUs for install-service --gpus all: nvidia-smi indices, else amdgpu cards, else Apple silicon', async () => {
    const smi: CommandRunner = (_cmd, args) =>
      Promise.resolve({
        code: 0,
        stdout: args[0] === '--query-gpu=index,name' ? '0, NVIDIA H100 80GB HBM3\n1, NVIDIA L4\n' : '',
        stderr: '',
      });
    expect(await listGpus({ run: smi, platform: 'linux', arch: 'x64', sysRoot: sys })).toEqual({
      source: 'nvidia-smi',
      gpus: [
        { index: 0, name: 'NVIDIA H100 80GB HBM3' },
        { index: 1, name: 'NVIDIA L4' },
      ],
    });
    // card1 from the test above is an amdgpu card; card0 is not
    expect(await listGpus({ run: noNvidia, platform: 'linux', arch: 'x64', sysRoot: sys })).toEqual({
      source: 'amdgpu sysfs',
      gpus: [{ index: 0, name: 'card1' }],
    });
    expect(await listGpus({ run: noNvidia, platform: 'darwin', arch: 'arm64', sysRoot: sys })).toEqual({
      source: 'unified memory',
      gpus: [{ index: 0, name: 'Apple silicon GPU' }],
    });
    expect(await listGpus({ run: noNvidia, platform: 'win32', arch: 'x64', sysRoot: sys })).toEqual({
      reason: 'nvidia-smi is not on PATH',
    });
  });
});
