import { join } from 'node:path';
import { pino } from 'pino';
import { Outbox, StoredResults } from '../../outbox/index.js';
import { registrationState } from '../../registration/index.js';
import type { CommandContext } from '../context.js';
import { liveLines, liveStatus } from './status-live.js';

export async function statusCommand(ctx: CommandContext, opts: { json?: boolean }): Promise<void> {
  const config = await ctx.store.load();
  const registration = registrationState(config);
  // Binary results waiting for an upload and JSON results waiting for their ack: both are the studio's to take.
  const pending = await new StoredResults(
    new Outbox(join(ctx.store.dir, 'outbox')),
    pino({ enabled: false }),
  ).jobIds();
  const status = {
    configPath: ctx.store.path,
    apiBaseUrl: config.apiBaseUrl,
    registration,
    vramThresholdGb: config.vramThresholdGb,
    pendingUploads: pending.length,
    // The worker running on this config, if any: what its heartbeats tell the studio, and why.
    running: await liveStatus(ctx),
  };
  if (opts.json) {
    ctx.out(JSON.stringify(status));
    return;
  }
  const reg =
    registration.state === 'approved'
      ? `registered as worker ${registration.workerId}`
      : registration.state === 'pending'
        ? `pending approval (request ${registration.requestId}${registration.since ? `, since ${registration.since}` : ''})`
        : registration.state === 'rejected'
          ? `rejected: ${registration.reason} (run \`studio-worker register --reset\` to ask again)`
          : 'not registered yet (run `studio-worker register` or `studio-worker run`)';
  ctx.out(`registration:   ${reg}`);
  ctx.out(`studio:         ${config.apiBaseUrl}`);
  ctx.out(`vram threshold: ${config.vramThresholdGb} GB`);
  ctx.out(`outbox:         ${pending.length} result(s) waiting for upload`);
  ctx.out(`config:         ${ctx.store.path}`);
  for (const line of liveLines(status.running)) ctx.out(line);
}
