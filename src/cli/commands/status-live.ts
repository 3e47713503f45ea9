import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { DASHBOARD_FILE, runningDashboard } from '../dashboard-host.js';
import type { CommandContext } from '../context.js';

/** What `status` shows of a running worker: read leniently, a newer worker may say more. */
const LiveSchema = z.object({
  status: z.object({
    state: z.string(),
    currentJob: z.object({ jobId: z.string() }).nullish(),
    availability: z
      .object({
        available: z.boolean(),
        reasons: z.array(z.string()),
        vramThresholdGb: z.number(),
        vramLowered: z.string().optional(),
      })
      .nullish(),
  }),
});

export type LiveStatus = z.infer<typeof LiveSchema>['status'] & { pid: number };

/**
 * The status of the worker running on this config, read from the dashboard it serves (the one
 * place that knows what its heartbeats tell the studio); undefined when none runs or it serves no
 * dashboard (`run --no-dashboard`).
 */
export async function liveStatus(ctx: CommandContext): Promise<LiveStatus | undefined> {
  let pid: unknown;
  try {
    pid = (JSON.parse(await readFile(join(ctx.store.dir, DASHBOARD_FILE), 'utf8')) as { pid?: unknown }).pid;
  } catch {
    return undefined;
  }
  if (typeof pid !== 'number') return undefined;
  const url = await runningDashboard(ctx, pid).catch(() => undefined);
  if (!url) return undefined;
  const address = new URL(url);
  const token = address.searchParams.get('token') ?? '';
  try {
    const res = await fetch(new URL('/api/status', address), {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(3000),
    });
    const parsed = LiveSchema.safeParse(await res.json());
    return parsed.success ? { ...parsed.data.status, pid } : undefined;
  } catch {
    return undefined;
  }
}

/** `status`'s lines about the running worker: whether the studio may offer it jobs, and why not. */
export function liveLines(live: LiveStatus | undefined): string[] {
  if (!live) return ['worker:         not running here (or serving no dashboard to ask)'];
  const a = live.availability;
  const job = live.currentJob ? `, running job ${live.currentJob.jobId}` : '';
  const lines = [`worker:         ${live.state} (pid ${live.pid})${job}`];
  if (!a) return lines;
  lines.push(
    a.available
      ? 'studio offers:  yes (heartbeats say autoEnabled: true)'
      : `studio offers:  none (heartbeats say autoEnabled: false): ${a.reasons.join('; ')}`,
  );
  if (a.vramLowered) lines.push(`advertised:     jobs up to ${a.vramThresholdGb} GB: ${a.vramLowered}`);
  return lines;
}
