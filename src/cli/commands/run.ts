import path from 'node:path';
import { toError, UserError } from '../../util/index.js';
import type { CommandContext } from '../context.js';
import { serveDashboard } from '../dashboard-host.js';
import { hostWorker } from '../worker-host.js';

export function parseSeconds(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0)
    throw new UserError(`${flag} expects a number of seconds, got "${value}"`);
  return n;
}

/** The flags of `studio-worker run`, as commander hands them over. */
export interface RunOptions {
  grace: string;
  waitForLock?: boolean;
  metricsListen?: string;
  gpu?: string;
  /** false with --no-dashboard. */
  dashboard?: boolean;
  /** --log-file: the log goes to this file, which the worker rotates itself. */
  logFile?: string;
}

export async function runCommand(ctx: CommandContext, opts: RunOptions): Promise<void> {
  const logFile = opts.logFile === undefined ? undefined : path.resolve(opts.logFile);
  if (logFile !== undefined) {
    try {
      ctx.log.logToFile(logFile);
    } catch (e) {
      throw new UserError(`--log-file ${opts.logFile}: ${toError(e).message}`);
    }
  }
  const gpu = opts.gpu === undefined ? undefined : Number(opts.gpu);
  if (gpu !== undefined && (!Number.isInteger(gpu) || gpu < 0 || gpu > 255)) {
    throw new UserError(`--gpu expects a GPU index (0, 1, …), got "${opts.gpu}"`);
  }
  await hostWorker(ctx, {
    ...(gpu !== undefined ? { gpu } : {}),
    graceMs: parseSeconds(opts.grace, '--grace') * 1000,
    waitForLock: opts.waitForLock ?? false,
    ...(logFile !== undefined ? { logFile } : {}),
    ...(opts.metricsListen !== undefined ? { metricsListen: opts.metricsListen } : {}),
    // The dashboard a later `studio-worker ui` attaches to; without a browser, and a taken port is
    // only a warning: the service's work is the studio's jobs.
    attach: async (worker, metrics) => {
      const dashboard =
        opts.dashboard === false
          ? undefined
          : await serveDashboard(ctx, worker, {
              port: (await ctx.store.load()).dashboardPort,
              required: false,
              metrics: metrics(),
            });
      // Without a dashboard the local API's /daemon/* routes still answer, from a history of their own.
      const { attachDaemonControlWithoutDashboard } = await import('../../dashboard/index.js');
      const detach = dashboard ? undefined : attachDaemonControlWithoutDashboard(worker, ctx.store, ctx.log);
      return async () => {
        detach?.();
        await dashboard?.close();
      };
    },
  });
}
