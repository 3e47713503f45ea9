import { UserError } from '../../util/index.js';
import { Worker } from '../../worker/index.js';
import type { CommandContext } from '../context.js';
import { onShutdownSignal } from '../signals.js';

export function parseSeconds(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0)
    throw new UserError(`${flag} expects a number of seconds, got "${value}"`);
  return n;
}

export async function runCommand(ctx: CommandContext, opts: { grace: string }): Promise<void> {
  const graceMs = parseSeconds(opts.grace, '--grace') * 1000;
  const worker = new Worker({ store: ctx.store, log: ctx.log, shipper: ctx.shipper, graceMs });
  const offSignals = onShutdownSignal(() => worker.stop(), ctx.log);
  try {
    await worker.run();
  } finally {
    offSignals();
  }
}
