import { spawn } from 'node:child_process';
import { loadOrCreateDashboardToken, startDashboard, startNotifications } from '../../dashboard/index.js';
import type { UpdateCheckResponse } from '../../dashboard/index.js';
import { UserError, toError } from '../../util/index.js';
import { hostWorker } from '../worker-host.js';
import type { CommandContext } from '../context.js';
import { parseSeconds } from './run.js';

export interface UiOptions {
  /** false with --no-open. */
  open: boolean;
  /** --port; default: the config's dashboard_port. */
  port?: string;
  grace?: string;
  /** --wait-for-lock: wait for a worker already on this config to stop, instead of exit code 7. */
  waitForLock?: boolean;
  /**
   * Runs once the dashboard is up (never for a run that fails to start): the place to reconcile
   * the login autostart entry with an `auto_start` the operator set.
   */
  afterStart?: () => Promise<void>;
  /** Backs the About tab's "Check for updates"; without it the button says this build cannot. */
  checkForUpdate?: () => Promise<UpdateCheckResponse>;
}

/** `studio-worker ui`: the worker plus its local dashboard (and desktop notifications). */
export async function uiCommand(ctx: CommandContext, opts: UiOptions): Promise<void> {
  const config = await ctx.store.load();
  const port = opts.port === undefined ? config.dashboardPort : parsePort(opts.port);
  const graceMs = parseSeconds(opts.grace ?? '30', '--grace') * 1000;

  const token = await loadOrCreateDashboardToken(ctx.store.dir);
  await hostWorker(ctx, {
    graceMs,
    waitForLock: opts.waitForLock ?? false,
    attach: async (worker) => {
      let dashboard;
      try {
        dashboard = await startDashboard({
          worker,
          store: ctx.store,
          log: ctx.log,
          port,
          token,
          ...(opts.checkForUpdate ? { checkForUpdate: opts.checkForUpdate } : {}),
        });
      } catch (e) {
        const err = toError(e);
        if ((err as { code?: unknown }).code === 'EADDRINUSE') {
          throw new UserError(
            `Port ${port} is in use (another \`studio-worker ui\`?). Pick another with --port or dashboard_port.`,
          );
        }
        throw err;
      }
      const notifications = startNotifications({ worker, log: ctx.log });
      ctx.out(`Dashboard: ${dashboard.url}`);
      await opts.afterStart?.();
      if (opts.open) openBrowser(dashboard.url, ctx);
      const opened = dashboard;
      return async () => {
        notifications.stop();
        await opened.close();
      };
    },
  });
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UserError(`--port expects 0-65535, got "${value}"`);
  return n;
}

/** Best effort: a machine without a desktop still has the printed URL. */
function openBrowser(url: string, ctx: CommandContext): void {
  const [cmd, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '', url]]
        : ['xdg-open', [url]];
  const log = ctx.log.child({ category: 'dashboard' });
  try {
    const child = spawn(cmd, args, { detached: true, stdio: 'ignore' });
    child.on('error', (e) => log.info(`could not open a browser (${cmd}: ${e.message}); open the URL above`));
    child.unref();
  } catch (e) {
    log.info(`could not open a browser (${toError(e).message}); open the URL above`);
  }
}
