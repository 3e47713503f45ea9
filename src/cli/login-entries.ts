import {
  createCommandRunner,
  currentTarget,
  reconcileAutostart,
  removeOriginalEntries,
} from '../platform/index.js';
import { configLocation, type CommandContext } from './context.js';

/**
 * What `ui` (once its dashboard is up) and `setup` do about login entries: the original's entry
 * and service, which would start it beside this worker, are removed, and this worker's entry is
 * made to follow `auto_start` when the operator set it (the default writes nothing), or written
 * (`enable`: setup). Each change is said on its own line.
 */
export async function reconcileLoginEntries(
  ctx: CommandContext,
  opts: { enable?: boolean } = {},
): Promise<void> {
  const target = currentTarget(configLocation(ctx.store));
  const original = await removeOriginalEntries(target, {
    run: createCommandRunner({ timeoutMs: 30_000 }),
    log: ctx.log,
  });
  for (const line of [...original.removed, ...original.failed]) ctx.out(line);
  if (!opts.enable && !(await ctx.store.isSet('auto_start'))) return;
  const config = await ctx.store.load();
  const result = await reconcileAutostart({
    ...target,
    enabled: opts.enable ?? config.autoStart,
    log: ctx.log,
  });
  if (result.action === 'written' || result.action === 'rewritten' || result.action === 'removed') {
    ctx.out(`Login autostart ${result.action}: ${result.where} (auto_start = ${config.autoStart})`);
  } else if (result.action === 'failed') {
    ctx.out(`Login autostart not written: ${result.reason ?? result.where}`);
  }
}
