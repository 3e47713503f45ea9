import type { Logger } from 'pino';
import type { ConfigStore, ResidencyStore } from '../config/index.js';
import type { EngineDispatcher } from '../engines/index.js';
import type { WorkerEventBus } from '../events/index.js';
import { LocalFirstModels } from '../generate/index.js';
import type { CatalogStore, DaemonControl, GpuFreeReading, ServedLocalApi } from '../local-api/index.js';
import { ModelLifecycle, serveLocalApi } from '../local-api/index.js';
import type { ModelCache } from '../models/index.js';
import type { JobGate } from '../runner/index.js';
import { toError } from '../util/index.js';
import { restoreResidents } from './restore-residents.js';
import type { StreamListenerView, WorkerStatus } from './status.js';

export interface LocalSideDeps {
  store: ConfigStore;
  gate: JobGate;
  catalog: CatalogStore;
  residency: ResidencyStore;
  events: WorkerEventBus;
  log: Logger;
  /** The GPU's latest reading (the worker's GPU watch), for the admission of model loads. */
  gpuFree?: GpuFreeReading | undefined;
}

/**
 * The worker's side that serves this machine rather than the studio: the local API, the LAN
 * stream listener beside it, the daemon control its `/daemon/*` routes answer through, and the
 * catalogue models' lifecycle.
 */
export class LocalSide {
  private api: ServedLocalApi | undefined;
  private problem: string | undefined;
  private daemon: DaemonControl | undefined;
  private made: ModelLifecycle | undefined;

  constructor(private readonly deps: LocalSideDeps) {}

  /**
   * Serves the local API and the stream listener beside it; a failure is said and kept for the
   * status, and the worker goes on without it.
   */
  async start(
    dispatcher: EngineDispatcher,
    models: ModelCache,
    ports: { port?: number; streamPort?: number },
  ): Promise<void> {
    try {
      this.api = await serveLocalApi({
        ...this.deps,
        dispatcher,
        models: new LocalFirstModels(models, false),
        daemon: () => this.daemon,
        lifecycle: this.lifecycle(dispatcher, models),
        ...(ports.port !== undefined ? { port: ports.port } : {}),
        ...(ports.streamPort !== undefined ? { streamPort: ports.streamPort } : {}),
      });
      this.problem = undefined;
    } catch (e) {
      // The worker's studio work goes on without it, as the original's does.
      this.problem = toError(e).message;
      this.deps.log.child({ category: 'local-api' }).warn(`local API off: ${this.problem}`);
    }
  }

  async close(): Promise<void> {
    const api = this.api;
    this.api = undefined;
    await api
      ?.close()
      .catch((e: unknown) => this.deps.log.warn(`closing the local API: ${toError(e).message}`));
  }

  attachDaemonControl(control: DaemonControl | undefined): void {
    this.daemon = control;
  }

  /** The catalogue models' lifecycle, made once the engines and the cache exist; the local API and the dashboard share it. */
  lifecycle(
    dispatcher: EngineDispatcher | undefined,
    models: ModelCache | undefined,
  ): ModelLifecycle | undefined {
    if (!dispatcher || !models) return undefined;
    const { gate, catalog, residency, log, gpuFree } = this.deps;
    this.made ??= new ModelLifecycle({
      dispatcher,
      gpuFree,
      models: new LocalFirstModels(models, false),
      gate,
      catalog,
      residency,
      log,
    });
    return this.made;
  }

  /** Loads the resident models again, in the background; what fails is said, never thrown. */
  restoreResidents(dispatcher: EngineDispatcher, models: ModelCache, signal: AbortSignal): void {
    const lifecycle = this.lifecycle(dispatcher, models);
    if (!lifecycle) return;
    const log = this.deps.log.child({ category: 'models' });
    restoreResidents(lifecycle, this.deps.residency.kept, log, signal).catch((e: unknown) =>
      log.warn(`resident models not restored: ${toError(e).message}`),
    );
  }

  status(): WorkerStatus['localApi'] {
    if (!this.api) return { on: false, ...(this.problem ? { problem: this.problem } : {}) };
    const s = this.api.stream();
    const stream: StreamListenerView = s.on
      ? { on: true, addr: `${s.host}:${s.port}`, path: s.path, sessions: s.sessions }
      : s;
    return { on: true, url: this.api.url, discoveryPath: this.api.discoveryPath, stream };
  }
}
