import type { Logger } from 'pino';
import { expandHome, type ConfigStore, type ResidencyStore } from '../config/index.js';
import type { EngineDispatcher, ModelProvider } from '../engines/index.js';
import type { WorkerEventBus } from '../events/index.js';
import type { JobGate } from '../runner/index.js';
import { toError } from '../util/index.js';
import type { CatalogStore } from './catalog.js';
import type { ModelLifecycle } from './lifecycle.js';
import type { DaemonSource } from './daemon-routes.js';
import { ensureLocalApiToken, removeDiscovery, resolveLocalApiPort, writeDiscovery } from './discovery.js';
import { startLocalApi } from './server.js';
import { sweepLocalScratch } from './run-job.js';

export interface ServedLocalApi {
  url: string;
  discoveryPath: string;
  close: () => Promise<void>;
}

/**
 * Starts the local API for a config folder: the port (env, then config), the token (generated
 * once into config.toml), the server, and `local-api.json` for local programs (removed on close).
 */
export async function serveLocalApi(deps: {
  store: ConfigStore;
  dispatcher: EngineDispatcher;
  models: ModelProvider;
  gate: JobGate;
  catalog: CatalogStore;
  residency: ResidencyStore;
  log: Logger;
  events?: WorkerEventBus | undefined;
  /** The worker behind `/daemon/*` (see daemon-routes.ts); those routes answer 503 without. */
  daemon?: DaemonSource | undefined;
  lifecycle?: ModelLifecycle | undefined;
  env?: NodeJS.ProcessEnv;
  /** Overrides the env and config (tests: 0). */
  port?: number;
}): Promise<ServedLocalApi> {
  const log = deps.log.child({ category: 'local-api' });
  const swept = await sweepLocalScratch().catch(() => []);
  if (swept.length > 0)
    log.info(`removed ${swept.length} scratch folder(s) that stopped local API jobs left`);
  const config = await deps.store.load();
  const port =
    deps.port ?? resolveLocalApiPort(deps.env ?? process.env, config.localApiPort, (m) => log.warn(m));
  const token = await ensureLocalApiToken(deps.store, (m) => log.warn(m));
  const api = await startLocalApi({ ...deps, port, token, log, modelsRoot: expandHome(config.modelsRoot) });
  let discoveryPath = '';
  try {
    discoveryPath = await writeDiscovery(deps.store.dir, api.url, token);
  } catch (e) {
    log.warn(`could not write the local API's discovery file: ${toError(e).message}`);
  }
  log.info(`local API on ${api.url} (token in ${discoveryPath || 'config.toml: local_api_token'})`);
  return {
    url: api.url,
    discoveryPath,
    close: async () => {
      await api.close();
      await removeDiscovery(deps.store.dir).catch(() => undefined);
    },
  };
}
