import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadOrCreateDashboardToken, startDashboard } from '../dashboard/index.js';
import type { UpdateCheckResponse } from '../dashboard/index.js';
import { toError, UserError } from '../util/index.js';
import type { WorkerMetrics } from '../metrics/index.js';
import type { Worker } from '../worker/index.js';
import type { CommandContext } from './context.js';

/** Beside config.toml while a worker serves its dashboard: where `ui` finds it to attach. */
export const DASHBOARD_FILE = 'dashboard.json';

interface DashboardRecord {
  /** Without the token: that is in `dashboard-token`, readable by this config's owner only. */
  url: string;
  pid: number;
}

export interface ServedDashboard {
  /** The address to open, token included. */
  url: string;
  close: () => Promise<void>;
}

/**
 * The worker's dashboard on 127.0.0.1:`port`, published in `dashboard.json` for a later `ui` to
 * attach to. `required` (ui): a taken port is the command's failure; otherwise (run) a warning, and
 * the worker runs on without a dashboard.
 */
export async function serveDashboard(
  ctx: CommandContext,
  worker: Worker,
  opts: {
    port: number;
    required: boolean;
    metrics: WorkerMetrics;
    checkForUpdate?: () => Promise<UpdateCheckResponse>;
  },
): Promise<ServedDashboard | undefined> {
  let token: string;
  try {
    token = await loadOrCreateDashboardToken(ctx.store.dir);
  } catch (e) {
    // A read-only config folder, say: `ui` cannot do without, `run` goes on without a dashboard.
    if (opts.required) throw e;
    ctx.log.warn(`dashboard off: ${toError(e).message}`);
    return undefined;
  }
  let dashboard;
  try {
    dashboard = await startDashboard({
      worker,
      store: ctx.store,
      log: ctx.log,
      port: opts.port,
      token,
      metrics: opts.metrics,
      ...(opts.checkForUpdate ? { checkForUpdate: opts.checkForUpdate } : {}),
    });
  } catch (e) {
    const err = toError(e);
    if ((err as { code?: unknown }).code !== 'EADDRINUSE') throw err;
    if (opts.required) {
      throw new UserError(
        `Port ${opts.port} is in use (another \`studio-worker ui\`?). Pick another with --port or dashboard_port.`,
      );
    }
    ctx.log.warn(
      `dashboard off: port ${opts.port} is in use; set dashboard_port to serve it elsewhere (or run --no-dashboard)`,
    );
    return undefined;
  }
  const file = join(ctx.store.dir, DASHBOARD_FILE);
  const record: DashboardRecord = { url: `http://127.0.0.1:${dashboard.port}/`, pid: process.pid };
  await writeFile(file, `${JSON.stringify(record)}\n`, { mode: 0o600 }).catch((e: unknown) =>
    ctx.log.warn(`cannot write ${file} (a later \`ui\` will not find this dashboard): ${toError(e).message}`),
  );
  const served = dashboard;
  return {
    url: served.url,
    close: async () => {
      if ((await readRecord(file))?.pid === process.pid) await rm(file, { force: true });
      await served.close();
    },
  };
}

async function readRecord(file: string): Promise<DashboardRecord | undefined> {
  try {
    const r = JSON.parse(await readFile(file, 'utf8')) as Partial<DashboardRecord>;
    return typeof r.url === 'string' && typeof r.pid === 'number' ? { url: r.url, pid: r.pid } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The dashboard of the worker `pid` that holds this config, with the token, when it answers;
 * undefined when that worker serves none (run --no-dashboard, a taken port) or does not answer.
 */
export async function runningDashboard(ctx: CommandContext, pid: number): Promise<string | undefined> {
  const record = await readRecord(join(ctx.store.dir, DASHBOARD_FILE));
  if (record?.pid !== pid) return undefined;
  try {
    // Any answer will do (503 means "not welcomed yet"): it is this worker's listener.
    await fetch(new URL('healthz', record.url), { signal: AbortSignal.timeout(3000) });
  } catch {
    return undefined;
  }
  const token = await loadOrCreateDashboardToken(ctx.store.dir);
  return `${record.url}?token=${token}`;
}
