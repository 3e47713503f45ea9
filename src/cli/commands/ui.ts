import { spawn } from 'node:child_process';
import { startNotifications } from '../../dashboard/index.js';
import type { UpdateCheckResponse } from '../../dashboard/index.js';
import { UserError, toError } from '../../util/index.js';
import { runningDashboard, serveDashboard } from '../dashboard-host.js';
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

/**
 * `studio-worker ui`: the worker plus its local dashboard (and desktop notifications). When a
 * worker already runs on this config (the service, say) and serves a dashboard, `ui` attaches to
 * it, opening that dashboard instead of starting a second worker.
 */
export async function uiCommand(ctx: CommandContext, opts: UiOptions): Promise<void> {
  const config = await ctx.store.load();
  const port = opts.port === undefined ? config.dashboardPort : parsePort(opts.port);
  const graceMs = parseSeconds(opts.grace ?? '30', '--grace') * 1000;

  await hostWorker(ctx, {
    graceMs,
    waitForLock: opts.waitForLock ?? false,
    onLockHeld: async (holder) => {
      const url = await runningDashboard(ctx, holder.pid);
      if (!url) return false;
      ctx.out(`A worker already runs on this config (pid ${holder.pid}); attached to its dashboard.`);
      ctx.out(`Dashboard: ${url}`);
      if (opts.open) openBrowser(url, ctx);
      return true;
    },
    attach: async (worker, metrics) => {
      const dashboard = await serveDashboard(ctx, worker, {
        port,
        required: true,
        metrics: metrics(),
        ...(opts.checkForUpdate ? { checkForUpdate: opts.checkForUpdate } : {}),
      });
      if (!dashboard) throw new Error('the dashboard did not start'); // required: it throws instead
      const notifications = startNotifications({ worker, log: ctx.log });
      ctx.out(`Dashboard: ${dashboard.url}`);
      await opts.afterStart?.();
      if (opts.open) openBrowser(dashboard.url, ctx);
      return async () => {
        notifications.stop();
        await dashboard.close();
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
