import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseRocmSmiVram, probeHost } from '../../src/platform/index.js';
import type { HostProbeOptions } from '../../src/platform/index.js';
import { captureLogger, tempDir, writeScript } from './support.js';

const NVIDIA_ARGS = '--query-gpu=memory.total --format=csv,noheader,nounits';
const ROCM_ARGS = '--showmeminfo vram --json';
/** The stand-ins answer only the exact arguments the probe must pass. */
const onlyFor = (args: string, body: string): string =>
  `if [ "$*" != "${args}" ]; then echo "unexpected arguments: $*" >&2; exit 2; fi\n${body}`;

// Real `rocm-smi --showmeminfo vram --json` output of a two-card machine (values in bytes, as strings).
const ROCM_TWO_CARDS = JSON.stringify({
  card0: { 'VRAM Total Memory (B)': '17163091968', 'VRAM Total Used Memory (B)': '5368709120' },
  card1: { 'VRAM Total Memory (B)': '25753026560', 'VRAM Total Used Memory (B)': '1048576' },
});
const PROC_INFORMATION = `Model: \t\t NVIDIA GeForce RTX 3090
IRQ:   \t\t 142
GPU UUID: \t GPU-5f1c2b1e-3c1a-4b7a-9d0e-1f2e3d4c5b6a
Video BIOS: \t 94.02.42.00.a9
Bus Type: \t PCIe
DMA Size: \t 47 bits
DMA Mask: \t 0x7fffffffffff
Bus Location: \t 0000:01:00.0
Device Minor: \t 0
GPU Excluded:\t No
`;

describe('host probes', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let bin: string;
  let opts: HostProbeOptions;

  beforeEach(async () => {
    ({ dir: root, cleanup } = await tempDir('probe'));
    bin = path.join(root, 'bin');
    await mkdir(bin);
    // PATH holds only the stand-ins, so a real nvidia-smi on this machine cannot answer
    opts = {
      platform: 'linux',
      arch: 'x64',
      env: { PATH: bin },
      procRoot: path.join(root, 'proc'),
      sysRoot: path.join(root, 'sys'),
      totalMemBytes: 64 * 1024 ** 3,
    };
  });
  afterEach(() => cleanup());

  it('reports the machine name and the user', async () => {
    const { log } = captureLogger();
    const host = await probeHost(log, opts);
    expect(host.machineName).toBe(hostname());
    expect(host.username.length).toBeGreaterThan(0);
  });

  it('reads one NVIDIA GPU from nvidia-smi in MiB and reports GB', async () => {
    await writeScript(bin, 'nvidia-smi', onlyFor(NVIDIA_ARGS, "printf '24564\\n'"));
    const { log, messages } = captureLogger();
    expect((await probeHost(log, opts)).vramTotalGb).toBe(24);
    expect(messages).toContain('vram probe: 1 NVIDIA GPU(s) via nvidia-smi: 24 GB in total');
  });

  it('adds up two NVIDIA GPUs', async () => {
    await writeScript(bin, 'nvidia-smi', onlyFor(NVIDIA_ARGS, "printf '81559\\n81559\\n'"));
    const { log } = captureLogger();
    expect((await probeHost(log, opts)).vramTotalGb).toBe(159.3);
  });

  it('falls back, with the reason logged, when nvidia-smi prints garbage', async () => {
    await writeScript(bin, 'nvidia-smi', onlyFor(NVIDIA_ARGS, "printf '[N/A]\\n'"));
    const { log, messages } = captureLogger();
    expect((await probeHost(log, opts)).vramTotalGb).toBe(0);
    expect(messages).toContain(
      'vram probe: nvidia-smi: nvidia-smi printed something other than MiB per GPU: "[N/A]"; trying the next probe',
    );
  });

  it('falls back when nvidia-smi exits 9 because the driver is not loaded', async () => {
    await writeScript(
      bin,
      'nvidia-smi',
      'echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running."\nexit 9',
    );
    const { log, messages } = captureLogger();
    expect((await probeHost(log, opts)).vramTotalGb).toBe(0);
    expect(
      messages.some((m) =>
        m.startsWith('vram probe: nvidia-smi: nvidia-smi exited 9: NVIDIA-SMI has failed'),
      ),
    ).toBe(true);
  });

  it('names the GPU from /proc/driver/nvidia but says its memory needs nvidia-smi', async () => {
    const gpu = path.join(opts.procRoot ?? '', 'driver', 'nvidia', 'gpus', '0000:01:00.0');
    await mkdir(gpu, { recursive: true });
    await writeFile(path.join(gpu, 'information'), PROC_INFORMATION);
    const { log, messages } = captureLogger();
    expect((await probeHost(log, opts)).vramTotalGb).toBe(0);
    expect(messages).toContain('vram probe: nvidia-smi: nvidia-smi is not on PATH; trying the next probe');
    expect(messages.find((m) => m.startsWith('vram probe: /proc/driver/nvidia:'))).toContain(
      'the NVIDIA driver reports NVIDIA GeForce RTX 3090 in',
    );
    expect(messages.at(-1)).toMatch(
      /^vram probe: no GPU memory found \(.*only nvidia-smi tells its memory size.*\); reporting 0 GB$/,
    );
  });

  it('reads AMD cards from rocm-smi JSON in bytes, past a leading warning line', async () => {
    await writeScript(
      bin,
      'rocm-smi',
      onlyFor(
        ROCM_ARGS,
        `echo 'WARNING: AMD GPU device(s) is/are in a low-power state. Check power control/runtime_status'\nprintf '%s\\n' '${ROCM_TWO_CARDS}'`,
      ),
    );
    const { log, messages } = captureLogger();
    expect((await probeHost(log, opts)).vramTotalGb).toBe(40);
    expect(messages).toContain('vram probe: 2 AMD GPU(s) via rocm-smi: 40 GB in total');
  });

  it('falls back to amdgpu sysfs when rocm-smi fails', async () => {
    await writeScript(bin, 'rocm-smi', 'echo "ERROR: GPU[0] : Unable to get VRAM info" >&2\nexit 2');
    const dev = path.join(opts.sysRoot ?? '', 'class', 'drm', 'card0', 'device');
    await mkdir(dev, { recursive: true });
    await writeFile(path.join(dev, 'mem_info_vram_total'), '17163091968\n');
    const { log, messages } = captureLogger();
    expect((await probeHost(log, opts)).vramTotalGb).toBe(16);
    expect(messages).toContain('vram probe: rocm-smi: rocm-smi exited 2; trying the next probe');
  });

  it('counts unified memory on Apple silicon, and none on an Intel Mac', async () => {
    const { log, messages } = captureLogger();
    expect((await probeHost(log, { ...opts, platform: 'darwin', arch: 'arm64' })).vramTotalGb).toBe(64);
    expect(messages).toContain('vram probe: Apple silicon unified memory (total RAM): 64 GB in total');
    expect((await probeHost(log, { ...opts, platform: 'darwin', arch: 'x64' })).vramTotalGb).toBe(0);
    expect(messages).toContain(
      'vram probe: apple silicon: macOS on x64 has no unified GPU memory; trying the next probe',
    );
  });

  it('reports 0 with every reason when nothing answers', async () => {
    const { log, messages } = captureLogger();
    expect((await probeHost(log, opts)).vramTotalGb).toBe(0);
    const last = messages.at(-1) ?? '';
    for (const why of [
      'nvidia-smi is not on PATH',
      'rocm-smi is not on PATH',
      'does not exist',
      'not macOS',
    ]) {
      expect(last).toContain(why);
    }
  });

  it('ignores rocm-smi output that is not the JSON it documents', () => {
    expect(parseRocmSmiVram('not json')).toBeUndefined();
    expect(parseRocmSmiVram('{"system": {"Driver version": "6.14.14"}}')).toEqual([]);
  });
});

function realNvidiaSmiGb(): number | undefined {
  try {
    // a different output format from the probe's, parsed independently: "memory.total [MiB]\n81559 MiB"
    const out = execFileSync('nvidia-smi', ['--query-gpu=memory.total', '--format=csv'], {
      encoding: 'utf8',
    });
    const mib = out
      .split('\n')
      .slice(1)
      .map((l) => Number.parseInt(l, 10))
      .filter((n) => n > 0);
    return mib.length > 0 ? Math.round((mib.reduce((a, b) => a + b, 0) / 1024) * 10) / 10 : undefined;
  } catch {
    return undefined;
  }
}

const realGb = realNvidiaSmiGb();
describe.runIf(realGb !== undefined)(
  'on a machine with a real NVIDIA GPU (skipped without nvidia-smi)',
  () => {
    it('reports the memory nvidia-smi lists', async () => {
      const { log } = captureLogger();
      expect((await probeHost(log)).vramTotalGb).toBe(realGb);
    });
  },
);
