import type { WorkerEventBus } from '../events/index.js';
import type { CatalogStore } from '../local-api/index.js';
import { toError } from '../util/index.js';

/**
 * The studio's models join the local catalogue (models.json) as their offers arrive, off the offer's
 * path: each model once per source, so offers of the same model do not read models.json again.
 * `settled()` waits for the writes still under way (before the worker's run ends).
 */
export function syncCatalogFromOffers(
  events: WorkerEventBus,
  catalog: CatalogStore,
  log: { warn: (msg: string) => void },
): { off: () => void; settled: () => Promise<void> } {
  const writes = new Set<Promise<unknown>>();
  const synced = new Map<string, string>();
  const off = events.on('job:offered', ({ claim, source }) => {
    if (source === 'local') return;
    const key = JSON.stringify([claim.task.kind, claim.modelSource]);
    if (synced.get(claim.model) === key) return;
    synced.set(claim.model, key);
    const write = catalog
      .syncStudioModel(claim.model, claim.task.kind, claim.modelSource)
      .catch((e: unknown) =>
        log.warn(`could not add ${claim.model} to ${catalog.path}: ${toError(e).message}`),
      )
      .finally(() => writes.delete(write));
    writes.add(write);
  });
  return { off, settled: async () => void (await Promise.all(writes)) };
}
