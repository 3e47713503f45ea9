import { readFile, readdir } from 'node:fs/promises';
import { freemem } from 'node:os';
import path from 'node:path';
import type { CommandRunner } from './exec.js';

/** The GPU the worker runs on, now: what admission judges an offer by. */
export interface GpuReading {
  /** Where it was read ("nvidia-smi", "amdgpu sysfs card0", "unified memory"). */
  source: string;
  freeBytes: number;
  temperatureC?: number;
  utilizationPct?: number;
}

export interface GpuProbeContext {
  run: CommandRunner;
  platform: NodeJS.Platform;
  arch: string;
  sysRoot: string;
  /** Free RAM (Apple silicon's GPU shares it); injectable for tests. */
  freeMemBytes?: () => number;
  /** Read only this GPU (`--gpu N`): nvidia-smi's `--id`, the Nth amdgpu card. Default: the first. */
  gpuIndex?: number | undefined;
}

const MIB = 1024 ** 2;

/**
 * The first GPU's line of `nvidia-smi --query-gpu=memory.free,temperature.gpu,utilization.gpu
 * --format=csv,noheader,nounits` (a model must fit on one device, and the first is the one the
 * engines use unless told otherwise). Fields nvidia-smi cannot read print as `[N/A]` and are left out.
 */
export function parseNvidiaSmiState(stdout: string): Omit<GpuReading, 'source'> | undefined {
  const line = stdout.split('\n').find((l) => l.trim() !== '');
  if (!line) return undefined;
  const [free, temp, util] = line.split(',').map((f) => f.trim());
  const num = (v: string | undefined) => (v !== undefined && /^\d+(\.\d+)?$/.test(v) ? Number(v) : undefined);
  const freeMib = num(free);
  if (freeMib === undefined) return undefined;
  const temperatureC = num(temp);
  const utilizationPct = num(util);
  return {
    freeBytes: freeMib * MIB,
    ...(temperatureC !== undefined ? { temperatureC } : {}),
    ...(utilizationPct !== undefined ? { utilizationPct } : {}),
  };
}

async function nvidia(ctx: GpuProbeContext): Promise<GpuReading | string> {
  const r = await ctx.run('nvidia-smi', [
    '--query-gpu=memory.free,temperature.gpu,utilization.gpu',
    '--format=csv,noheader,nounits',
    ...(ctx.gpuIndex !== undefined ? [`--id=${ctx.gpuIndex}`] : []),
  ]);
  if (r.error === 'ENOENT') return 'nvidia-smi is not on PATH';
  if (r.error || r.code !== 0) return `nvidia-smi failed (${r.error ?? `exit ${r.code}`})`;
  const state = parseNvidiaSmiState(r.stdout);
  return state
    ? { source: 'nvidia-smi', ...state }
    : `nvidia-smi printed no free memory: ${JSON.stringify(r.stdout.slice(0, 80))}`;
}

/** amdgpu: free = mem_info_vram_total − mem_info_vram_used; temperature from the card's hwmon (millidegrees). */
async function amdgpu(ctx: GpuProbeContext): Promise<GpuReading | string> {
  const drm = path.join(ctx.sysRoot, 'class', 'drm');
  let cards: string[];
  try {
    cards = (await readdir(drm))
      .filter((c) => /^card\d+$/.test(c))
      .sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)));
  } catch {
    return `${drm} does not exist`;
  }
  const read = async (p: string) => Number((await readFile(p, 'utf8')).trim());
  let seen = 0;
  for (const card of cards) {
    const device = path.join(drm, card, 'device');
    try {
      const total = await read(path.join(device, 'mem_info_vram_total'));
      const used = await read(path.join(device, 'mem_info_vram_used'));
      if (!Number.isFinite(total) || !Number.isFinite(used) || total <= 0) continue;
      if (ctx.gpuIndex !== undefined && seen++ !== ctx.gpuIndex) continue;
      let temperatureC: number | undefined;
      try {
        const hwmon = (await readdir(path.join(device, 'hwmon'))).sort()[0];
        if (hwmon) temperatureC = (await read(path.join(device, 'hwmon', hwmon, 'temp1_input'))) / 1000;
      } catch {
        // no sensor published
      }
      let utilizationPct: number | undefined;
      try {
        utilizationPct = await read(path.join(device, 'gpu_busy_percent'));
      } catch {
        // older kernels
      }
      return {
        source: `amdgpu sysfs ${card}`,
        freeBytes: Math.max(0, total - used),
        ...(temperatureC !== undefined && Number.isFinite(temperatureC) ? { temperatureC } : {}),
        ...(utilizationPct !== undefined && Number.isFinite(utilizationPct) ? { utilizationPct } : {}),
      };
    } catch {
      // not an amdgpu card
    }
  }
  return `no amdgpu card publishes mem_info_vram_used under ${drm}`;
}

/**
 * Free memory, temperature and load of the GPU, or why none could be read: NVIDIA (nvidia-smi),
 * AMD (sysfs), Apple silicon (unified memory: free RAM). Never throws.
 */
export async function probeGpu(ctx: GpuProbeContext): Promise<GpuReading | { reason: string }> {
  const reasons: string[] = [];
  const n = await nvidia(ctx);
  if (typeof n !== 'string') return n;
  reasons.push(n);
  if (ctx.platform === 'linux') {
    const a = await amdgpu(ctx);
    if (typeof a !== 'string') return a;
    reasons.push(a);
  }
  if (ctx.platform === 'darwin' && ctx.arch === 'arm64') {
    return { source: 'unified memory', freeBytes: (ctx.freeMemBytes ?? freemem)() };
  }
  return { reason: reasons.join('; ') };
}

/**
 * The environment that pins every engine to GPU `index` (`--gpu N`): CUDA (ordered by PCI bus, so
 * index N is nvidia-smi's GPU N), ROCm/HIP and ggml's Vulkan backend.
 */
export function gpuPinEnv(index: number): Record<string, string> {
  const n = String(index);
  return {
    CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
    CUDA_VISIBLE_DEVICES: n,
    HIP_VISIBLE_DEVICES: n,
    ROCR_VISIBLE_DEVICES: n,
    GGML_VK_VISIBLE_DEVICES: n,
  };
}

/** The GPUs of this machine, as `install-service --gpus all` installs one worker for each. */
export interface GpuList {
  /** Where they were listed ("nvidia-smi", "amdgpu sysfs", "unified memory"). */
  source: string;
  gpus: Array<{ index: number; name: string }>;
}

/**
 * Every GPU here, in the order `--gpu N` counts them: nvidia-smi's indices (PCI bus order, as
 * CUDA_DEVICE_ORDER=PCI_BUS_ID makes CUDA count), else the amdgpu cards in sysfs, else Apple
 * silicon's one GPU. Never throws: says why none was found.
 */
export async function listGpus(ctx: GpuProbeContext): Promise<GpuList | { reason: string }> {
  const reasons: string[] = [];
  const r = await ctx.run('nvidia-smi', ['--query-gpu=index,name', '--format=csv,noheader,nounits']);
  if (r.error === 'ENOENT') reasons.push('nvidia-smi is not on PATH');
  else if (r.error || r.code !== 0) reasons.push(`nvidia-smi failed (${r.error ?? `exit ${r.code}`})`);
  else {
    const gpus = r.stdout
      .split('\n')
      .map((l) => /^\s*(\d+)\s*,\s*(.*?)\s*$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ index: Number(m[1]), name: m[2] ?? '' }));
    if (gpus.length > 0) return { source: 'nvidia-smi', gpus };
    reasons.push('nvidia-smi listed no GPU');
  }
  if (ctx.platform === 'linux') {
    const drm = path.join(ctx.sysRoot, 'class', 'drm');
    const cards = await readdir(drm).catch(() => [] as string[]);
    const amd: string[] = [];
    for (const card of cards
      .filter((c) => /^card\d+$/.test(c))
      .sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)))) {
      const total = await readFile(path.join(drm, card, 'device', 'mem_info_vram_total'), 'utf8').catch(
        () => '',
      );
      if (Number(total.trim()) > 0) amd.push(card);
    }
    if (amd.length > 0) return { source: 'amdgpu sysfs', gpus: amd.map((name, index) => ({ index, name })) };
    reasons.push(`no amdgpu card publishes mem_info_vram_total under ${drm}`);
  }
  if (ctx.platform === 'darwin' && ctx.arch === 'arm64') {
    return { source: 'unified memory', gpus: [{ index: 0, name: 'Apple silicon GPU' }] };
  }
  return { reason: reasons.join('; ') };
}
