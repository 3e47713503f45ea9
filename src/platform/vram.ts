import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { toError } from '../util/index.js';
import type { CommandRunner } from './exec.js';

export interface VramProbeContext {
  log: Logger;
  run: CommandRunner;
  platform: NodeJS.Platform;
  arch: string;
  /** Where /proc is (tests point it at a temp folder). */
  procRoot: string;
  /** Where /sys is. */
  sysRoot: string;
  totalMemBytes: number;
  /** Only this GPU (`--gpu N`); all of them otherwise. */
  gpuIndex?: number | undefined;
}

/** A probe either finds memory, or says why not so the next one can be tried. */
type ProbeOutcome = { gb: number; source: string } | { reason: string };

const GIB = 1024 ** 3;
const round1 = (n: number): number => Math.round(n * 10) / 10;

async function nvidiaSmi(ctx: VramProbeContext): Promise<ProbeOutcome> {
  const args = [
    '--query-gpu=memory.total',
    '--format=csv,noheader,nounits',
    ...(ctx.gpuIndex !== undefined ? [`--id=${ctx.gpuIndex}`] : []),
  ];
  const r = await ctx.run('nvidia-smi', args);
  if (r.error === 'ENOENT') return { reason: 'nvidia-smi is not on PATH' };
  if (r.error) return { reason: `nvidia-smi could not run (${r.error})` };
  if (r.code !== 0) {
    const first = (r.stdout.trim() || r.stderr.trim()).split('\n')[0] ?? '';
    return { reason: `nvidia-smi exited ${r.code}${first ? `: ${first}` : ''}` };
  }
  const lines = r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const mib = lines.map((l) => Number(l));
  if (mib.length === 0) return { reason: 'nvidia-smi listed no GPU' };
  if (mib.some((n) => !Number.isFinite(n) || n < 0)) {
    return { reason: `nvidia-smi printed something other than MiB per GPU: ${JSON.stringify(lines[0])}` };
  }
  const gb = round1((mib.reduce((a, b) => a + b, 0) * 1024 ** 2) / GIB);
  return { gb, source: `${mib.length} NVIDIA GPU(s) via nvidia-smi` };
}

/** The driver's /proc files name each GPU but not its memory, so this only explains the 0. */
async function nvidiaProc(ctx: VramProbeContext): Promise<ProbeOutcome> {
  const dir = path.join(ctx.procRoot, 'driver', 'nvidia', 'gpus');
  let buses: string[];
  try {
    buses = await readdir(dir);
  } catch {
    return { reason: `${dir} does not exist (no NVIDIA driver loaded)` };
  }
  const models: string[] = [];
  for (const bus of buses.sort()) {
    try {
      const text = await readFile(path.join(dir, bus, 'information'), 'utf8');
      const model = /^Model:\s*(.+)$/m.exec(text)?.[1]?.trim();
      models.push(model ?? `GPU at ${bus}`);
    } catch (e) {
      ctx.log.debug(`vram probe: cannot read ${path.join(dir, bus, 'information')}: ${toError(e).message}`);
    }
  }
  if (models.length === 0) return { reason: `${dir} lists no GPU` };
  return {
    reason: `the NVIDIA driver reports ${models.join(', ')} in ${dir}, but only nvidia-smi tells its memory size`,
  };
}

/** `rocm-smi --json` keys cards as "card0"…, each holding "VRAM Total Memory (B)" as a string of bytes. */
export function parseRocmSmiVram(stdout: string): number[] | undefined {
  const start = stdout.indexOf('{'); // some releases print a WARNING line first
  if (start < 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout.slice(start));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const bytes: number[] = [];
  for (const [key, card] of Object.entries(parsed as Record<string, unknown>)) {
    if (!key.startsWith('card') || typeof card !== 'object' || card === null) continue;
    const raw = (card as Record<string, unknown>)['VRAM Total Memory (B)'];
    const n = typeof raw === 'string' || typeof raw === 'number' ? Number(raw) : NaN;
    if (Number.isFinite(n) && n >= 0) bytes.push(n);
  }
  return bytes;
}

async function rocmSmi(ctx: VramProbeContext): Promise<ProbeOutcome> {
  const r = await ctx.run('rocm-smi', ['--showmeminfo', 'vram', '--json']);
  if (r.error === 'ENOENT') return { reason: 'rocm-smi is not on PATH' };
  if (r.error) return { reason: `rocm-smi could not run (${r.error})` };
  if (r.code !== 0) return { reason: `rocm-smi exited ${r.code}` };
  const bytes = parseRocmSmiVram(r.stdout);
  if (bytes === undefined) return { reason: 'rocm-smi printed no JSON object' };
  if (bytes.length === 0) return { reason: 'rocm-smi listed no card with "VRAM Total Memory (B)"' };
  return {
    gb: round1(bytes.reduce((a, b) => a + b, 0) / GIB),
    source: `${bytes.length} AMD GPU(s) via rocm-smi`,
  };
}

/** amdgpu publishes each card's VRAM in bytes under /sys, even without ROCm installed. */
async function amdSysfs(ctx: VramProbeContext): Promise<ProbeOutcome> {
  const dir = path.join(ctx.sysRoot, 'class', 'drm');
  let cards: string[];
  try {
    cards = (await readdir(dir)).filter((c) => /^card\d+$/.test(c)).sort();
  } catch {
    return { reason: `${dir} does not exist` };
  }
  const bytes: number[] = [];
  for (const card of cards) {
    try {
      const n = Number(
        (await readFile(path.join(dir, card, 'device', 'mem_info_vram_total'), 'utf8')).trim(),
      );
      if (Number.isFinite(n) && n > 0) bytes.push(n);
    } catch {
      // not an amdgpu card
    }
  }
  if (bytes.length === 0) return { reason: `no amdgpu card publishes mem_info_vram_total under ${dir}` };
  return {
    gb: round1(bytes.reduce((a, b) => a + b, 0) / GIB),
    source: `${bytes.length} AMD GPU(s) via ${dir}`,
  };
}

function appleSilicon(ctx: VramProbeContext): ProbeOutcome {
  if (ctx.platform !== 'darwin') return { reason: 'not macOS, so no unified memory' };
  if (ctx.arch !== 'arm64') return { reason: `macOS on ${ctx.arch} has no unified GPU memory` };
  return { gb: round1(ctx.totalMemBytes / GIB), source: 'Apple silicon unified memory (total RAM)' };
}

/**
 * Total VRAM in GB: NVIDIA (nvidia-smi, else /proc explains why not), AMD (rocm-smi, else sysfs),
 * Apple silicon (unified memory = total RAM); 0 when none answers. Every fallback is logged.
 */
export async function probeVramGb(ctx: VramProbeContext): Promise<number> {
  type Probe = [name: string, probe: () => Promise<ProbeOutcome> | ProbeOutcome];
  const all: Array<Probe | false> = [
    ['nvidia-smi', () => nvidiaSmi(ctx)],
    ctx.platform === 'linux' && ['/proc/driver/nvidia', () => nvidiaProc(ctx)],
    ['rocm-smi', () => rocmSmi(ctx)],
    ctx.platform === 'linux' && ['amdgpu sysfs', () => amdSysfs(ctx)],
    ['apple silicon', () => appleSilicon(ctx)],
  ];
  const probes = all.filter((p): p is Probe => p !== false);
  const reasons: string[] = [];
  for (const [name, probe] of probes) {
    const outcome = await probe();
    if ('gb' in outcome) {
      ctx.log.info(`vram probe: ${outcome.source}: ${outcome.gb} GB in total`);
      return outcome.gb;
    }
    ctx.log.debug(`vram probe: ${name}: ${outcome.reason}; trying the next probe`);
    reasons.push(outcome.reason);
  }
  ctx.log.info(`vram probe: no GPU memory found (${reasons.join('; ')}); reporting 0 GB`);
  return 0;
}
