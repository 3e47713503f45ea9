import path from 'node:path';
// One module per function: the package's index loads all 47 of its modules.
import gt from 'semver/functions/gt.js';
import valid from 'semver/functions/valid.js';
import { installedVersion } from './install.js';
import { readUpdateState } from './state.js';
import { SUPERVISED_ENV, superviseInstalled, type Handoff } from './supervise.js';

export interface LaunchInstalledOptions {
  /** The running version. */
  version: string;
  argv: readonly string[];
  configDir: string;
  versionsDir?: string;
  log: { info: (msg: string) => void; error: (msg: string) => void };
  startWindowMs?: number;
}

/**
 * At start-up: when an auto-update installed a newer version that started cleanly before, run that
 * one (supervised, as after an update) instead of this base install. Undefined = run this version.
 */
export async function launchInstalledUpdate(opts: LaunchInstalledOptions): Promise<Handoff | undefined> {
  if (process.env[SUPERVISED_ENV] === '1') return undefined;
  const versionsDir = opts.versionsDir ?? path.join(opts.configDir, 'versions');
  const { current, badVersions } = await readUpdateState(opts.configDir);
  if (!current || badVersions.includes(current) || !valid(current)) return undefined;
  if (!gt(current, opts.version)) return undefined;
  const target = await installedVersion(versionsDir, current);
  if (!target) return undefined;
  return superviseInstalled({
    target,
    argv: opts.argv,
    configDir: opts.configDir,
    versionsDir,
    log: opts.log,
    ...(opts.startWindowMs === undefined ? {} : { startWindowMs: opts.startWindowMs }),
  });
}
