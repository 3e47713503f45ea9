import { configForDisplay } from '../../config/index.js';
import { probeHost } from '../../platform/index.js';
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

/** No GPU has a terabyte of memory: a larger threshold is a typo. */
const MAX_THRESHOLD_GB = 1024;

export async function setThresholdCommand(ctx: CommandContext, gb: string): Promise<void> {
  const value = Number(gb);
  if (gb.trim() === '' || !Number.isFinite(value) || value < 0 || value > MAX_THRESHOLD_GB) {
    throw new UserError(
      `set-threshold expects gigabytes from 0 to ${MAX_THRESHOLD_GB} (a GPU's memory, e.g. 12 or 7.5), got "${gb}"`,
    );
  }
  const { vramTotalGb } = await probeHost(ctx.log);
  if (vramTotalGb > 0 && value > vramTotalGb) {
    ctx.out(
      `warning: ${value} GB is more than this machine's ${vramTotalGb} GB of VRAM; jobs that large would not fit`,
    );
  }
  await ctx.store.update((c) => {
    c.vramThresholdGb = value;
  });
  ctx.out(
    `vram_threshold_gb = ${value} (saved to ${ctx.store.path}; a running worker picks it up within seconds)`,
  );
}
