import { expandHome } from '../../config/index.js';
import { GB, ModelCache, formatBytes } from '../../models/index.js';
import type { CachedFile } from '../../models/index.js';
import { UserError } from '../../util/index.js';
import type { CommandContext } from '../context.js';

async function openCache(ctx: CommandContext): Promise<ModelCache> {
  const config = await ctx.store.load();
  return new ModelCache({ root: expandHome(config.modelsRoot), log: ctx.log });
}

export async function modelsListCommand(ctx: CommandContext, opts: { json?: boolean }): Promise<void> {
  const cache = await openCache(ctx);
  const files = await cache.list();
  const totalBytes = files.reduce((sum, f) => sum + f.bytes, 0);
  if (opts.json) {
    ctx.out(JSON.stringify({ root: cache.root, files, totalBytes }));
    return;
  }
  if (files.length === 0) {
    ctx.out(`no cached model files in ${cache.root}`);
    return;
  }
  for (const line of table(files)) ctx.out(line);
  ctx.out(`total: ${files.length} file(s), ${formatBytes(totalBytes)} in ${cache.root}`);
}

export async function modelsPruneCommand(
  ctx: CommandContext,
  opts: { maxGb?: string; dryRun?: boolean },
): Promise<void> {
  const text = opts.maxGb ?? '0';
  const maxGb = Number(text);
  if (text.trim() === '' || !Number.isFinite(maxGb) || maxGb < 0) {
    throw new UserError(`--max-gb expects a number of gigabytes >= 0, got "${text}"`);
  }
  const cache = await openCache(ctx);
  const result = await cache.prune({ maxBytes: Math.floor(maxGb * GB), dryRun: opts.dryRun ?? false });
  const verb = opts.dryRun ? 'would remove' : 'removed';
  for (const f of result.removed)
    ctx.out(`${verb} ${f.filename} (${formatBytes(f.bytes)}, last used ${f.lastUsedAt})`);
  ctx.out(
    `${opts.dryRun ? 'would free' : 'freed'} ${formatBytes(result.freedBytes)}; ${formatBytes(result.keptBytes)} kept in ${cache.root}`,
  );
  if (result.keptBytes > maxGb * GB) {
    ctx.out(`the cache stays above ${maxGb} GB because the files left are in use by a running job`);
  }
}

function table(files: CachedFile[]): string[] {
  const rows = [
    ['FILE', 'SIZE', 'SHA256', 'LAST USED', 'IN USE'],
    // The first 16 hex digits are enough to compare with a model page; --json has all 64.
    ...files.map((f) => [
      f.filename,
      formatBytes(f.bytes),
      f.sha256.slice(0, 16),
      f.lastUsedAt,
      f.inUse ? 'yes' : 'no',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) =>
    r
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
}
