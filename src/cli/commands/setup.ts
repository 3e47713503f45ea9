import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DISCOVERY_FILE } from '../../local-api/index.js';
import { cliArgs, currentTarget } from '../../platform/index.js';
import { UserError, ExitCode, toError } from '../../util/index.js';
import { configLocation, type CommandContext } from '../context.js';
import { reconcileLoginEntries } from '../login-entries.js';

/** Beside config.toml: where the `ui` that setup starts writes its output, as the original's setup. */
export const UI_LOG_FILE = 'ui.log';

export interface SetupOptions {
  /** false with --no-open: the ui it starts opens no browser. */
  open: boolean;
}

/**
 * `studio-worker setup`, the original's last install step (its installers run it; idempotent): the
 * original's own login entry and service go, this worker's login entry is written (`auto_start`
 * set true if it was false: running setup is that choice), `studio-worker ui` is started detached,
 * and what to do next is said.
 */
export async function setupCommand(ctx: CommandContext, opts: SetupOptions): Promise<void> {
  const config = await ctx.store.update((c) => ({ ...c, autoStart: true }));
  await reconcileLoginEntries(ctx, { enable: true });
  const log = join(ctx.store.dir, UI_LOG_FILE);
  const pid = startUi(ctx, log, opts.open);
  ctx.out(`Started \`studio-worker ui\` (pid ${pid}); its output goes to ${log}.`);
  ctx.out(setupSummary(hostname(), config.apiBaseUrl, join(ctx.store.dir, DISCOVERY_FILE)));
}

/** What to do next, once the worker is starting: approve it in the studio; the local API needs nothing. */
export function setupSummary(machineName: string, apiBaseUrl: string, discoveryPath: string): string {
  const base = apiBaseUrl.replace(/\/+$/, '');
  return [
    '',
    'studio-worker is set up: it starts with its dashboard now and again at every login.',
    '',
    'Next step: approve this worker in the studio',
    `  - open ${base}/graphics and find this machine in the workers list`,
    `  - it appears as: ${machineName}`,
    '  - once an admin approves it, the worker takes jobs by itself',
    '',
    'Local API (no studio needed):',
    `  - its URL and bearer token are written to: ${discoveryPath}`,
    '  - POST /image there to generate on this machine (docs/local-api.md)',
    '',
    'Nothing else to do: models and engines are downloaded when a job first needs them.',
  ].join('\n');
}

/** `ui` in its own process group, output appended to `log`, outliving this command. */
function startUi(ctx: CommandContext, log: string, open: boolean): number {
  // The same command line a login entry or service gets: node flags, entry script, config.
  const args = cliArgs(currentTarget(configLocation(ctx.store)), ['ui', ...(open ? [] : ['--no-open'])]);
  let fd: number;
  try {
    fd = openSync(log, 'a', 0o600);
  } catch (e) {
    throw new UserError(
      `cannot open ${log} for the dashboard's output: ${toError(e).message}`,
      ExitCode.system,
    );
  }
  try {
    const child = spawn(process.execPath, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      windowsHide: true,
    });
    if (child.pid === undefined)
      throw new UserError(`could not start ${process.execPath} ${args.join(' ')}`, ExitCode.system);
    child.on('error', (e) => ctx.log.warn(`the dashboard's process: ${e.message}`));
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}
