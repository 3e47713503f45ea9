/**
 * The local API: this worker's engines served to programs on this machine (the original's
 * local_api.rs), on 127.0.0.1:4787 behind a bearer token. See docs/local-api.md.
 */
export { startLocalApi, type LocalApi } from './listener.js';
export type { LocalApiOptions } from './server.js';
export { MAX_BODY_BYTES } from './limits.js';
export { CatalogStore, CatalogModelSchema, CATALOG_FILE, type CatalogModel } from './catalog.js';
export {
  ModelLifecycle,
  isLoadable,
  type CatalogModelView,
  type LifecycleAnswer,
  type ModelLifecycleDeps,
  type ModelState,
  type ModelStateAnswer,
} from './lifecycle.js';
export {
  DISCOVERY_FILE,
  LOCAL_API_PORT_ENV,
  STREAM_PORT_ENV,
  ensureLocalApiToken,
  readDiscovery,
  resolveLocalApiPort,
  resolveStreamPort,
  writeDiscovery,
  removeDiscovery,
} from './discovery.js';
export { checkLocalRequest, isLoopbackHostHeader } from './guard.js';
export { ApiError } from './errors.js';
export { BUSY_MESSAGE, RETRY_AFTER_SECONDS } from './run-job.js';
export { serveLocalApi, type ServedLocalApi } from './serve.js';
export {
  startStreamService,
  STREAM_DRAIN_MS,
  type StreamService,
  type StreamServiceDeps,
  type StreamListenerStatus,
} from './stream.js';
export { STREAM_ENGINE, type StreamGrantAnswer, type StreamTokenSource } from './stream-routes.js';
export { registerDaemonRoutes, healthz, type DaemonSource } from './daemon-routes.js';
export {
  parseEditableConfig,
  MIN_AUTO_UPDATE_INTERVAL_SECS,
  type DaemonControl,
  type DaemonStatus,
  type DaemonJob,
  type DaemonRegistration,
  type DaemonSession,
  type DaemonLogEntry,
  type EditableConfig,
  type GpuRuntime,
  type JobLog,
  type LocalJobRow,
  type LogsPage,
} from './daemon-control.js';
export type { GpuFreeReading } from './admission.js';
