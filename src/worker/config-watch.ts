import { watchFile } from 'node:fs';
import type { Logger } from 'pino';
import type { ConfigStore, ResidencyStore } from '../config/index.js';
import type { WorkerConfig } from '../config/types.js';
import { toError } from '../util/index.js';

/**
 * Operator fields edited while the worker runs (`set-threshold`, an editor) apply without a
 * restart: `onConfig` gets each config that loads; one that does not load is logged and ignored,
 * the old values kept. `models keep` / `models release` from another process reach `residency`
 * within seconds. Stopped with `unwatchFile` on both paths.
 */
export function watchConfig(
  store: ConfigStore,
  residency: ResidencyStore,
  log: Logger,
  onConfig: (config: WorkerConfig) => void,
): void {
  watchFile(residency.path, { interval: 2000, persistent: false }, () => {
    residency
      .load()
      .catch((e: unknown) => log.warn(`could not read ${residency.path}: ${toError(e).message}`));
  });
  watchFile(store.path, { interval: 2000, persistent: false }, () => {
    store
      .load()
      .then(onConfig, (e: unknown) =>
        log.warn(`config changed on disk but does not load; keeping the old values: ${toError(e).message}`),
      );
  });
}
