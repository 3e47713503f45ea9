import { expandHome, ResidencyStore } from '../../config/index.js';
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

/**
 * `models keep <model>` / `models release <model>`: the operator's residency list (the original's
 * residency.json). A kept model, once loaded, stays loaded: not unloaded when idle, not unloaded to
 * make room for another job. A running worker picks the change up within seconds.
 */
export async function modelsKeepCommand(ctx: CommandContext, model: string, keep: boolean): Promise<void> {
  const id = model.trim();
  if (id === '') throw new UserError('name the model: its id as the studio offers it (e.g. z-image-turbo)');
  const store = new ResidencyStore(ctx.store.dir);
  await store.load();
  for (const w of store.warnings) ctx.log.warn(w);
  const changed = await store.set(id, keep);
  if (keep) {
    ctx.out(
      changed ? `keeping ${id} loaded once it is loaded (saved in ${store.path})` : `${id} is already kept`,
    );
  } else {
    ctx.out(changed ? `released ${id}: it unloads when idle again` : `${id} was not kept`);
  }
  const kept = [...store.kept];
  ctx.out(kept.length > 0 ? `kept models: ${kept.join(', ')}` : 'no kept models');
}
