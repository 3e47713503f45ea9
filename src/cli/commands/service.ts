import { readdir } from 'node:fs/promises';
import { ConfigStore } from '../../config/index.js';
import type { WorkerConfig } from '../../config/index.js';
import {
  createCommandRunner,
  currentTarget,
  installService,
  listGpus,
  removeOriginalEntries,
  servicePlan,
  uninstallService,
} from '../../platform/index.js';
import type {
  CommandRunner,
  OriginalRemoval,
  ServicePlan,
  ServiceReport,
  ServiceTarget,
} from '../../platform/index.js';
import { ExitCode, UserError } from '../../util/index.js';
import { adjustConfigAtStart } from '../../worker/index.js';
import { configLocation, type CommandContext } from '../context.js';

export interface ServiceCommandOptions {
  dryRun?: boolean;
  /** `--gpus all|0,2`: one worker per GPU. */
  gpus?: string;
}

/** The service uses the config folder the installer used, whichever way it was chosen. */
function targetFor(ctx: CommandContext, gpus?: number[]): ServiceTarget {
  const target = currentTarget(configLocation(ctx.store));
  return gpus === undefined ? target : { ...target, gpus };
}

function parseGpuList(value: string): number[] {
  const parts = value.split(',').map((p) => p.trim());
  const gpus = parts.map(Number);
  if (parts.some((p) => !/^\d+$/.test(p)) || gpus.some((n) => n > 255)) {
    throw new UserError(`--gpus expects "all" or GPU indices such as 0,2, got "${value}"`);
  }
  if (new Set(gpus).size !== gpus.length) throw new UserError(`--gpus names a GPU twice: "${value}"`);
  return gpus;
}

/**
 * For install: `all` is every GPU this machine lists (none: a clear refusal, nothing installed); a
 * list is checked against the machine's GPUs where they can be listed.
 */
async function gpusToInstall(ctx: CommandContext, value: string, run: CommandRunner): Promise<number[]> {
  const listed = await listGpus({ run, platform: process.platform, arch: process.arch, sysRoot: '/sys' });
  if (value.trim() === 'all') {
    if ('reason' in listed) {
      throw new UserError(
        `--gpus all: this machine has no GPU the worker can use (${listed.reason}); nothing installed`,
        ExitCode.system,
      );
    }
    ctx.out(`GPUs (${listed.source}): ${listed.gpus.map((g) => `${g.index} ${g.name}`).join(', ')}`);
    return listed.gpus.map((g) => g.index);
  }
  const gpus = parseGpuList(value);
  if ('reason' in listed) {
    ctx.log.warn(
      `cannot list this machine's GPUs (${listed.reason}); installing for GPU ${gpus.join(', ')} as asked`,
    );
  } else {
    const missing = gpus.filter((n) => !listed.gpus.some((g) => g.index === n));
    if (missing.length > 0) {
      throw new UserError(
        `--gpus ${value}: no GPU ${missing.join(', ')} here; ${listed.source} lists ${listed.gpus.map((g) => g.index).join(', ')}`,
      );
    }
  }
  return gpus;
}

/**
 * The GPUs `install-service --gpus` installed a worker for from this config: its `gpu-N` folders,
 * which install writes and uninstall keeps. Not the GPUs in the machine now: one may be gone.
 */
async function installedGpus(ctx: CommandContext): Promise<number[]> {
  const names = await readdir(ctx.store.dir).catch(() => [] as string[]);
  return names
    .map((n) => /^gpu-(\d+)$/.exec(n)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/** Keys that make a config this worker's own: each GPU's worker registers, and listens, by itself. */
function gpuWorkerConfig(base: WorkerConfig, gpu: number): WorkerConfig {
  const offset = (port: number) => port + 1 + gpu;
  return {
    ...base,
    gpu,
    dashboardPort: offset(base.dashboardPort),
    localApiPort: offset(base.localApiPort),
    streamPort: offset(base.streamPort),
    workerId: undefined,
    authToken: undefined,
    installId: undefined,
    registrationRequestId: undefined,
    registrationSecret: undefined,
    registrationRequestedAt: undefined,
    registrationRejectedReason: undefined,
    localApiToken: undefined,
  };
}

/**
 * Each GPU's config folder starts as a copy of this one's settings (never its registration), with
 * `gpu` and its own ports; an existing one is left as it is, registration and all.
 */
async function seedGpuConfigs(ctx: CommandContext, plan: ServicePlan, dryRun: boolean): Promise<void> {
  if (plan.gpuWorkers.length === 0) return;
  const base = await ctx.store.load();
  for (const w of plan.gpuWorkers) {
    const store = new ConfigStore(w.configDir);
    if (await store.exists()) {
      ctx.out(`kept ${store.path} (GPU ${w.gpu}'s worker keeps its settings and registration)`);
      continue;
    }
    const config = gpuWorkerConfig(base, w.gpu);
    if (dryRun) {
      ctx.out(
        `would write ${store.path}: this config's settings with gpu = ${w.gpu}, dashboard_port = ${config.dashboardPort}, local_api_port = ${config.localApiPort}, stream_port = ${config.streamPort}, no registration`,
      );
      continue;
    }
    await store.save(config);
    ctx.out(`wrote ${store.path} (GPU ${w.gpu}: registers as a worker of its own on first start)`);
  }
}

const shellWord = (w: string): string => (/^[A-Za-z0-9_@%+=:,./\\-]+$/.test(w) ? w : JSON.stringify(w));

function printCommands(ctx: CommandContext, report: ServiceReport): void {
  for (const { argv, result } of report.ran) {
    ctx.out(
      `ran: ${argv.map(shellWord).join(' ')}${result.code === 0 ? '' : `  (exit ${result.code}${result.error ? `, ${result.error}` : ''})`}`,
    );
  }
  if (report.manual.length > 0) {
    ctx.out(`${report.manualReason ?? 'not run'}; to finish, run:`);
    for (const argv of report.manual) ctx.out(`  ${argv.map(shellWord).join(' ')}`);
  }
}

/** What the switch-over from the original changed; a part that failed is said and fails the command. */
export function printOriginal(ctx: CommandContext, original: OriginalRemoval): void {
  for (const line of original.removed) ctx.out(line);
  if (original.failed.length > 0) throw new UserError(original.failed.join('; '), ExitCode.system);
}

export async function installServiceCommand(ctx: CommandContext, opts: ServiceCommandOptions): Promise<void> {
  const run = createCommandRunner({ timeoutMs: 30_000 });
  const target = targetFor(
    ctx,
    opts.gpus === undefined ? undefined : await gpusToInstall(ctx, opts.gpus, run),
  );
  const dryRun = opts.dryRun ?? false;
  const plan = servicePlan(target);
  for (const w of plan.gpuWorkers) ctx.out(`GPU ${w.gpu}: ${w.name}, config folder ${w.configDir}`);
  // Before the services start, so each finds its config.
  await seedGpuConfigs(ctx, plan, dryRun);
  // The original's own entries would start it beside this worker on the same worker id.
  const original = await removeOriginalEntries(target, { run, log: ctx.log, dryRun });
  printOriginal(ctx, original);
  // A config the original wrote gets this worker's releases feed before the service first starts.
  if (!dryRun) await adjustConfigAtStart(ctx.store, { firstStart: false, vramTotalGb: 0, log: ctx.log });
  const report = await installService(target, { run, log: ctx.log, dryRun });
  if (dryRun) {
    for (const f of plan.files) {
      const text =
        f.content[0] === 0xff && f.content[1] === 0xfe
          ? f.content.subarray(2).toString('utf16le')
          : f.content.toString('utf8');
      ctx.out(`${report.unchanged.includes(f.path) ? 'unchanged' : 'would write'} ${f.path}:\n${text}`);
    }
  } else {
    for (const file of report.written) ctx.out(`wrote ${file}`);
    for (const file of report.unchanged) ctx.out(`unchanged ${file} (already what install writes)`);
  }
  printCommands(ctx, report);
  ctx.out(`logs: ${report.logsCommand.split('\n').join('\n      ')}`);
  if (report.failed) throw new UserError(`install-service: ${report.failed}`);
}

export async function uninstallServiceCommand(
  ctx: CommandContext,
  opts: ServiceCommandOptions,
): Promise<void> {
  const dryRun = opts.dryRun ?? false;
  const run = createCommandRunner({ timeoutMs: 30_000 });
  const installed = await installedGpus(ctx);
  let gpus: number[] | undefined;
  if (opts.gpus !== undefined) {
    gpus = opts.gpus.trim() === 'all' ? installed : parseGpuList(opts.gpus);
    if (gpus.length === 0) {
      ctx.out(
        `nothing to remove: no per-GPU worker was installed from this config (no gpu-N folder in ${ctx.store.dir})`,
      );
      return;
    }
  }
  const target = targetFor(ctx, gpus);
  const original = await removeOriginalEntries(target, { run, log: ctx.log, dryRun });
  printOriginal(ctx, original);
  const report = await uninstallService(target, { run, log: ctx.log, dryRun });
  if (report.removed.length === 0 && original.removed.length === 0) {
    ctx.out(`nothing to remove: the ${gpus ? 'per-GPU services are' : 'service is'} not installed`);
    if (!gpus && installed.length > 0) {
      ctx.out(
        `per-GPU workers were installed from this config (GPU ${installed.join(', ')}): \`studio-worker uninstall-service --gpus all\` removes them`,
      );
    }
  }
  for (const p of report.removed) ctx.out(`${dryRun ? 'would remove' : 'removed'} ${p}`);
  for (const p of report.kept)
    ctx.out(`kept ${p} (it holds logs; delete it yourself if you no longer need them)`);
  printCommands(ctx, report);
  if (report.failed) throw new UserError(`uninstall-service: ${report.failed}`);
}
