import { configForDisplay } from '../../config/index.js';
import { UserError } from '../../util/index.js';
import type { CommandContext } from '../context.js';

export async function configCommand(ctx: CommandContext, opts: { json?: boolean }): Promise<void> {
  const shown = configForDisplay(await ctx.store.load());
  if (opts.json) {
    ctx.out(JSON.stringify({ path: ctx.store.path, config: shown }));
    return;
  }
  ctx.out(`# ${ctx.store.path}`);
  for (const [key, value] of Object.entries(shown)) {
    if (value !== undefined && value !== null) ctx.out(`${key} = ${JSON.stringify(value)}`);
  }
}

export async function setThresholdCommand(ctx: CommandContext, gb: string): Promise<void> {
  const value = Number(gb);
  if (gb.trim() === '' || !Number.isFinite(value) || value < 0) {
    throw new UserError(`set-threshold expects a number of gigabytes >= 0, got "${gb}"`);
  }
  await ctx.store.update((c) => {
    c.vramThresholdGb = value;
  });
  ctx.out(
    `vram_threshold_gb = ${value} (saved to ${ctx.store.path}; a running worker picks it up within seconds)`,
  );
}
