import {
  createCommandRunner,
  currentTarget,
  installService,
  servicePlan,
  uninstallService,
} from '../../platform/index.js';
import type { ServiceReport, ServiceTarget } from '../../platform/index.js';
import { UserError } from '../../util/index.js';
import type { CommandContext } from '../context.js';

export interface ServiceCommandOptions {
  dryRun?: boolean;
}

/** The service uses the config folder the installer used, whichever way it was chosen. */
function targetFor(ctx: CommandContext): ServiceTarget {
  return currentTarget({ configDir: ctx.store.dir });
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

export async function installServiceCommand(ctx: CommandContext, opts: ServiceCommandOptions): Promise<void> {
  const target = targetFor(ctx);
  const dryRun = opts.dryRun ?? false;
  const report = await installService(target, {
    run: createCommandRunner({ timeoutMs: 30_000 }),
    log: ctx.log,
    dryRun,
  });
  if (dryRun) {
    for (const f of servicePlan(target).files) {
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
  ctx.out(`logs: ${report.logsCommand}`);
  if (report.failed) throw new UserError(`install-service: ${report.failed}`);
}

export async function uninstallServiceCommand(
  ctx: CommandContext,
  opts: ServiceCommandOptions,
): Promise<void> {
  const dryRun = opts.dryRun ?? false;
  const report = await uninstallService(targetFor(ctx), {
    run: createCommandRunner({ timeoutMs: 30_000 }),
    log: ctx.log,
    dryRun,
  });
  if (report.removed.length === 0) ctx.out('nothing to remove: the service is not installed');
  for (const p of report.removed) ctx.out(`${dryRun ? 'would remove' : 'removed'} ${p}`);
  for (const p of report.kept)
    ctx.out(`kept ${p} (it holds logs; delete it yourself if you no longer need them)`);
  printCommands(ctx, report);
  if (report.failed) throw new UserError(`uninstall-service: ${report.failed}`);
}
