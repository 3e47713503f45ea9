import type { Logger } from 'pino';
import { expandHome, type ConfigStore, type ResidencyStore } from '../config/index.js';
import type { EngineDispatcher, ModelProvider } from '../engines/index.js';
import type { WorkerEventBus } from '../events/index.js';
import type { JobGate } from '../runner/index.js';
import { toError } from '../util/index.js';
import type { CatalogStore } from './catalog.js';
import { ModelLifecycle } from './lifecycle.js';
import type { DaemonSource } from './daemon-routes.js';
import {
  ensureLocalApiToken,
  removeDiscovery,
  resolveLocalApiPort,
  resolveStreamPort,
  writeDiscovery,
} from './discovery.js';
import { startLocalApi, type LocalApi } from './listener.js';
import { sweepLocalScratch } from './run-job.js';
import { startStreamService, type StreamListenerStatus } from './stream.js';

export interface ServedLocalApi {
  url: string;
  discoveryPath: string;
  /** The LAN stream listener beside it: where it listens, or why it does not. */
  stream: () => StreamListenerStatus;
  close: () => Promise<void>;
}

/**
 * Starts the local API for a config folder: the port (env, then config), the token (generated
 * once into config.toml), the server, `local-api.json` for local programs (removed on close), and
 * the LAN stream listener whose tokens it mints (a port it cannot bind is a warning, not fatal).
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
  /**
   * Overrides the env and config (tests: 0). 0 puts the stream listener on any free port too
   * (unless `streamPort` says otherwise), so a test never takes the LAN's 4798.
   */
  port?: number;
  /** The stream listener's port; overrides STUDIO_WORKER_STREAM_PORT and stream_port. */
  streamPort?: number;
  /** The stream listener's address: 0.0.0.0 (the LAN, on purpose: a phone streams to it) by default. */
  streamHost?: string;
}): Promise<ServedLocalApi> {
  const log = deps.log.child({ category: 'local-api' });
  const swept = await sweepLocalScratch().catch(() => []);
  if (swept.length > 0)
    log.info(`removed ${swept.length} scratch folder(s) that stopped local API jobs left`);
  const config = await deps.store.load();
  const port =
    deps.port ?? resolveLocalApiPort(deps.env ?? process.env, config.localApiPort, (m) => log.warn(m));
  const token = await ensureLocalApiToken(deps.store, (m) => log.warn(m));
  const lifecycle = deps.lifecycle ?? new ModelLifecycle({ ...deps, log });
  // The listener first, as the original's: a port of its own that cannot be bound is only a warning.
  const streamPort =
    deps.streamPort ??
    (deps.port === 0 ? 0 : resolveStreamPort(deps.env ?? process.env, config.streamPort, (m) => log.warn(m)));
  const stream = await startStreamService({
    ...deps,
    lifecycle,
    port: streamPort,
    ...(deps.streamHost !== undefined ? { host: deps.streamHost } : {}),
  });
  let api: LocalApi;
  try {
    api = await startLocalApi({
      ...deps,
      port,
      token,
      log,
      lifecycle,
      stream: () => stream,
      modelsRoot: expandHome(config.modelsRoot),
    });
  } catch (e) {
    await stream.close();
    throw e;
  }
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
    stream: () => stream.status(),
    close: async () => {
      // The sessions first: they end on their own terms before the engines go.
      await stream.close();
      await api.close();
      await removeDiscovery(deps.store.dir).catch(() => undefined);
    },
  };
}
