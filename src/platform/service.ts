import { mkdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { toError } from '../util/index.js';
import { describeResult } from './exec.js';
import type { CommandResult, CommandRunner } from './exec.js';
import { servicePlan } from './plan.js';
import type { PlannedCommand, ServicePlan } from './plan.js';
import type { ServiceTarget } from './target.js';

export interface ServiceOptions {
  run: CommandRunner;
  log: Logger;
  /** Say what would be written and run; touch nothing. */
  dryRun?: boolean;
}

/** What install or uninstall did, for the operator. */
export interface ServiceReport {
  dryRun: boolean;
  /** Files written because they were missing or differed (install), or that would be. */
  written: string[];
  /** Files already holding exactly what install would write. */
  unchanged: string[];
  /** Files and empty folders removed (uninstall), or that would be. */
  removed: string[];
  /** Folders uninstall left because something else (logs) is in them. */
  kept: string[];
  ran: Array<{ argv: string[]; result: CommandResult }>;
  /** Commands the operator has to run (dry run, or the service manager is not usable here). */
  manual: string[][];
  manualReason?: string;
  /** Set when a command that had to succeed failed. */
  failed?: string;
  logsCommand: string;
}

async function readOrUndefined(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch {
    return undefined;
  }
}

function newReport(plan: ServicePlan, dryRun: boolean): ServiceReport {
  return {
    dryRun,
    written: [],
    unchanged: [],
    removed: [],
    kept: [],
    ran: [],
    manual: [],
    logsCommand: plan.logsCommand,
  };
}

/** Runs planned commands in order; stops at the first required failure and hands the rest to the operator. */
async function runCommands(
  cmds: PlannedCommand[],
  changed: boolean,
  report: ServiceReport,
  opts: ServiceOptions,
  probe: string[] | undefined,
): Promise<void> {
  const due = cmds.filter((c) => changed || !c.onlyIfChanged);
  if (due.length === 0) return;
  if (opts.dryRun) {
    report.manual.push(...due.map((c) => c.argv));
    report.manualReason = 'dry run: nothing was run';
    return;
  }
  if (probe) {
    const r = await opts.run(probe[0] ?? '', probe.slice(1));
    if (r.code !== 0) {
      report.manual.push(...due.map((c) => c.argv));
      report.manualReason = `the service manager is not usable here (${describeResult(probe[0] ?? '', probe.slice(1), r)})`;
      opts.log.warn(`service: ${report.manualReason}; run the commands yourself`);
      return;
    }
  }
  for (const [i, c] of due.entries()) {
    if (c.unless) {
      const u = await opts.run(c.unless[0] ?? '', c.unless.slice(1));
      if (u.code === 0) {
        opts.log.info(`service: skipped ${c.argv.join(' ')} (${c.unless.join(' ')} succeeded)`);
        continue;
      }
    }
    const [cmd = '', ...args] = c.argv;
    const result = await opts.run(cmd, args);
    report.ran.push({ argv: c.argv, result });
    const line = describeResult(cmd, args, result);
    if (result.code === 0 || c.mayFail) {
      opts.log.info(`service: ${line}`);
      continue;
    }
    opts.log.error(`service: ${line}`);
    report.failed = line;
    report.manual.push(...due.slice(i + 1).map((r) => r.argv));
    report.manualReason = 'an earlier command failed';
    return;
  }
}

/** Writes the service definition (only if it differs) and registers it with the service manager. */
export async function installService(t: ServiceTarget, opts: ServiceOptions): Promise<ServiceReport> {
  const plan = servicePlan(t);
  const report = newReport(plan, opts.dryRun ?? false);
  let changed = false;
  for (const f of plan.files) {
    const existing = await readOrUndefined(f.path);
    if (existing?.equals(f.content)) {
      report.unchanged.push(f.path);
      continue;
    }
    changed = true;
    report.written.push(f.path);
    if (report.dryRun) continue;
    await mkdir(path.dirname(f.path), { recursive: true });
    await writeFile(f.path, f.content, { mode: 0o644 });
    opts.log.info(`service: wrote ${f.path}`);
  }
  if (!report.dryRun) for (const d of plan.dirs) await mkdir(d, { recursive: true });
  await runCommands(plan.install, changed, report, opts, plan.probe);
  return report;
}

/** Unregisters the service and removes exactly the files install writes (and its log folders, when empty). */
export async function uninstallService(t: ServiceTarget, opts: ServiceOptions): Promise<ServiceReport> {
  const plan = servicePlan(t);
  const report = newReport(plan, opts.dryRun ?? false);
  const present: string[] = [];
  for (const f of plan.files) if ((await readOrUndefined(f.path)) !== undefined) present.push(f.path);
  if (present.length > 0) await runCommands(plan.uninstallBefore, true, report, opts, plan.probe);
  for (const file of present) {
    if (!report.dryRun) await rm(file, { force: true });
    report.removed.push(file);
    opts.log.info(`service: ${report.dryRun ? 'would remove' : 'removed'} ${file}`);
  }
  for (const dir of plan.dirs) {
    if (report.dryRun) continue;
    try {
      await rmdir(dir);
      report.removed.push(dir);
    } catch (e) {
      const code = (toError(e) as Error & { code?: string }).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') report.kept.push(dir);
      else if (code !== 'ENOENT') opts.log.warn(`service: cannot remove ${dir}: ${toError(e).message}`);
    }
  }
  if (present.length > 0) await runCommands(plan.uninstallAfter, true, report, opts, plan.probe);
  return report;
}
