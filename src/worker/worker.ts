import { unwatchFile } from 'node:fs';
import { join } from 'node:path';
import { ResidencyStore } from '../config/index.js';
import type { WorkerConfig } from '../config/types.js';
import type { EngineCrash } from '../engines/index.js';
import { EngineDispatcher, createEngines, watchdogLimits } from '../engines/index.js';
import type { DispatcherCapabilities } from '../engines/index.js';
import { buildCapabilities } from './capabilities.js';
import { DEFAULT_CONFIG, expandHome } from '../config/index.js';
import { ModelCache, statfsFreeBytes } from '../models/index.js';
import { DiskWatch, MIN_FREE_BYTES } from './disk-watch.js';
import { createGpuWatch, type GpuWatch } from './gpu-watch.js';
import { watchConfig } from './config-watch.js';
import { modelStates } from './model-states.js';
import { PresenceWatch, presenceProblem } from './presence-watch.js';
import { EngineHealthFile } from './engine-health.js';
import { PersistentJobCounts } from './job-counts.js';
import type { WorkerLifecycleState } from '../events/index.js';
import { WorkerEventBus } from '../events/index.js';
import type { HostInfo } from '../platform/index.js';
import { gpuPinEnv, probeHost, systemIdleProbe } from '../platform/index.js';
import type { Capabilities } from '../protocol/index.js';
import type { RegistrationState } from '../registration/index.js';
import { registrationState } from '../registration/index.js';
import { RegistrationReset, registerUntilApproved } from './registration-wait.js';
import type { JobRunner } from '../runner/index.js';
import { JobGate } from '../runner/index.js';
import { syncCatalogFromOffers } from './catalog-sync.js';
import { adjustConfigAtStart, thresholdWarning } from './switch-over.js';
import type { DaemonControl, ModelLifecycle } from '../local-api/index.js';
import { CatalogStore } from '../local-api/index.js';
import { LocalSide } from './local-side.js';
import type { Session } from '../session/index.js';
import { StudioHttp } from '../studio/index.js';
import { isAbortError, toError } from '../util/index.js';
import { USER_AGENT, VERSION } from '../version.js';
import { composeStudioSide } from './compose.js';
import type { WorkerOptions } from './options.js';
import type { WorkerStatus } from './status.js';

/**
 * The whole worker process as one object with one lifecycle:
 * starting → registering → connecting → running → draining → stopped (or failed).
 * `run()` resolves after a clean `stop()` and rejects when the studio refuses us or the session
 * cannot be restored; observers read `events` and `getStatus()`.
 */
export class Worker {
  readonly events: WorkerEventBus;
  private state: WorkerLifecycleState = 'starting';
  private config: WorkerConfig | undefined;
  private host: HostInfo | undefined;
  private registration: RegistrationState = { state: 'pristine' };
  private runner: JobRunner | undefined;
  private session: Session | undefined;
  private models: ModelCache | undefined;
  private readonly stopController = new AbortController();
  private stopPromise: Promise<void> | undefined;
  private readonly jobCounts: PersistentJobCounts;
  private startedAt: number | undefined;
  private engineAvailability: { engine: string; ready: boolean; detail: string; taskKinds: string[] }[] = [];
  private readonly unsubscribe: (() => void)[] = [];
  private disk: DiskWatch | undefined;
  private gpu: GpuWatch | undefined;
  private dispatcher: EngineDispatcher | undefined;
  private readonly residency: ResidencyStore;
  private readonly presence: PresenceWatch;
  private readonly gate = new JobGate();
  private readonly registrationReset = new RegistrationReset();
  /** Paused before the runner exists (while registering): applied to it when it is made. */
  private pausedEarly = false;
  private readonly catalog: CatalogStore;
  private readonly local: LocalSide;

  constructor(private readonly opts: WorkerOptions) {
    this.events = new WorkerEventBus(opts.log);
    this.jobCounts = new PersistentJobCounts(opts.store.dir);
    this.residency = new ResidencyStore(opts.store.dir);
    this.presence = new PresenceWatch(
      opts.idleProbe ?? systemIdleProbe(process.platform, process.env),
      opts.log.child({ category: 'presence' }),
    );
    this.catalog = new CatalogStore(opts.store.dir);
    const { store, log } = opts;
    const local = { store, gate: this.gate, catalog: this.catalog, residency: this.residency, log };
    // Loads are admitted against the GPU's free memory as last read (none read: admitted).
    const gpuFree = () => this.gpu?.reading;
    this.local = new LocalSide({ ...local, events: this.events, gpuFree });
    this.events.on('job:completed', () => this.jobCounts.add('completed'));
    this.events.on('job:failed', () => this.jobCounts.add('failed'));
    this.events.on('job:rejected', () => this.jobCounts.add('rejected'));
  }

  async run(): Promise<void> {
    const log = this.opts.log.child({ category: 'worker' });
    this.startedAt = Date.now();
    const signal = this.stopController.signal;
    let http: StudioHttp | undefined;
    let dispatcher: EngineDispatcher | undefined;
    let engineHealth: EngineHealthFile | undefined;
    // models.json updates from offers: off the offer's path, awaited before run() returns.
    let catalogSettled = (): Promise<void> => Promise.resolve();
    try {
      const firstStart = !(await this.opts.store.exists());
      let config = await this.opts.store.load();
      this.config = config;
      for (const warning of this.opts.store.warnings) log.warn(warning);
      if (config.registrationSecret) this.opts.log.addSecret(config.registrationSecret);
      if (config.authToken) this.opts.log.addSecret(config.authToken);
      log.info(`studio-worker ${VERSION} starting (config ${this.opts.store.path})`);
      if (config.allowInsecureDownloads) {
        log.warn(
          'allow_insecure_downloads = true: models and job inputs may be fetched over plain http from any host',
        );
      }
      const gpu = this.opts.gpu ?? config.gpu;
      if (gpu !== undefined) {
        // Before any engine starts: its child processes and its CUDA/Vulkan initialisation read these.
        Object.assign(process.env, gpuPinEnv(gpu));
        log.info(
          `pinned to GPU ${gpu} (CUDA_VISIBLE_DEVICES, HIP_VISIBLE_DEVICES, GGML_VK_VISIBLE_DEVICES = ${gpu})`,
        );
      }
      this.host = this.opts.host ?? (await probeHost(this.opts.log, { gpuIndex: gpu }));
      const vramTotalGb = this.host.vramTotalGb;
      this.config = config = await adjustConfigAtStart(this.opts.store, { firstStart, vramTotalGb, log });
      const overThreshold = (c: WorkerConfig) => {
        const warning = thresholdWarning(c.vramThresholdGb, vramTotalGb);
        if (warning) log.warn(warning);
      };
      overThreshold(config);
      await this.residency.load();
      for (const warning of this.residency.warnings) log.warn(warning);
      const kept = (model: string) => this.residency.has(model);
      const onCrash = ({ engine, signal, code, phase, message, at }: EngineCrash): void =>
        this.events.emit('engine:crashed', { engine, signal, code, phase, message, at });
      const onBackendBroken = (engine: string, backend: string, reason: string): void =>
        this.events.emit('engine:backend-broken', { engine, backend, reason });
      engineHealth = new EngineHealthFile(this.opts.store.dir, this.events);
      dispatcher = new EngineDispatcher(
        this.opts.engines ?? createEngines({ config, log: this.opts.log, kept, onCrash, onBackendBroken }),
        { limits: watchdogLimits(config), log: this.opts.log.child({ category: 'engine' }) },
      );
      this.dispatcher = dispatcher;
      await dispatcher.init();
      const engines = dispatcher.capabilities();
      this.engineAvailability = dispatcher.availability();
      await this.jobCounts.load();
      const models = (this.models = new ModelCache({
        root: expandHome(config.modelsRoot),
        log: this.opts.log.child({ category: 'models' }),
        onProgress: (p) => this.events.emit('model:download', p),
        allowInsecure: config.allowInsecureDownloads,
      }));
      // Before registration, as the original: local programs need no studio.
      if (this.opts.localApi) await this.local.start(dispatcher, models, this.opts.localApi);
      // The original's start: resident models loaded again, beside registration (flows.md §15).
      this.local.restoreResidents(dispatcher, models, signal);
      const catalogSync = syncCatalogFromOffers(this.events, this.catalog, log);
      this.unsubscribe.push(catalogSync.off);
      catalogSettled = catalogSync.settled;

      // Measured from the start, so the status (and the dashboard) shows free space while registering.
      this.disk = new DiskWatch({
        folders: [
          { label: 'results', path: join(this.opts.store.dir, 'outbox') },
          { label: 'model cache', path: expandHome(config.modelsRoot) },
        ],
        minFreeBytes: MIN_FREE_BYTES,
        freeBytes: this.opts.freeBytes ?? statfsFreeBytes,
        ...(this.opts.diskCheckMs !== undefined ? { intervalMs: this.opts.diskCheckMs } : {}),
      });
      await this.disk.start();
      this.setState('registering');
      http = new StudioHttp({ apiBaseUrl: config.apiBaseUrl, userAgent: USER_AGENT, log: this.opts.log });
      const studio = http;
      const creds = await registerUntilApproved({
        reset: this.registrationReset,
        store: this.opts.store,
        http: studio,
        capabilities: () => this.capabilities(engines),
        version: VERSION,
        log: this.opts.log,
        signal,
        ...(this.opts.registrationPollMs !== undefined
          ? { pollIntervalMs: this.opts.registrationPollMs, resetPollMs: this.opts.registrationPollMs }
          : {}),
        ...(this.opts.retryBackoff ? { retryBackoff: this.opts.retryBackoff } : {}),
        onState: (s) => {
          this.registration = s;
          if (s.state === 'pending') this.opts.log.addSecret(this.config?.registrationSecret ?? '');
          this.events.emit('registration:state', {
            state: s.state,
            ...(s.state === 'pending' ? { requestId: s.requestId } : {}),
          });
        },
      });
      this.opts.log.addSecret(creds.authToken);
      this.config = await this.opts.store.load();
      this.registration = registrationState(this.config);
      watchConfig(this.opts.store, this.residency, log, (c) => {
        if (this.config && c.vramThresholdGb !== this.config.vramThresholdGb) {
          log.info(`vram threshold changed to ${c.vramThresholdGb} GB`);
          overThreshold(c);
        }
        this.config = c;
      });

      const { session, runner } = composeStudioSide({
        opts: this.opts,
        events: this.events,
        signal,
        config,
        creds,
        studio,
        dispatcher,
        models,
        gate: this.gate,
        residency: this.residency,
        capabilities: () => this.capabilities(engines),
        currentConfig: () => this.config,
        runner: () => this.runner,
        presenceProblem: () => presenceProblem(this.config?.onlyWhenIdle ?? false, this.presence.current),
        disk: () => this.disk,
        gpu: () => this.gpu?.reading,
      });
      this.session = session;
      this.gpu = createGpuWatch(this.opts, gpu);
      await this.gpu.start();
      await this.presence.start();
      // A job loads or frees GPU memory: read it again at once rather than up to 5 s later.
      for (const name of ['job:completed', 'job:failed'] as const) {
        this.unsubscribe.push(this.events.on(name, () => this.gpu?.refreshAfterJob()));
      }
      // A pause asked for while registering holds from the first offer on.
      if (this.pausedEarly) runner.setPaused(true);
      this.runner = runner;
      await runner.loadStoredResults();
      await this.models.sweepPartials();
      const offLost = this.events.on('session:closed', () => runner.sessionLost());
      this.unsubscribe.push(offLost);
      this.setState('connecting');
      const offWelcome = this.events.on('session:welcomed', () => this.setState('running'));
      try {
        await session.run(signal);
      } finally {
        offWelcome();
      }
      await this.stopPromise;
      this.setState('stopped');
    } catch (e) {
      if (isAbortError(e) && signal.aborted) {
        this.setState('stopped');
        return;
      }
      const err = toError(e);
      this.setState('failed', err.message);
      this.stopController.abort();
      throw err;
    } finally {
      unwatchFile(this.opts.store.path);
      unwatchFile(this.residency.path);
      for (const off of this.unsubscribe.splice(0)) off();
      await this.jobCounts.flush();
      await engineHealth?.stop();
      await catalogSettled();
      this.disk?.stop();
      this.gpu?.stop();
      this.presence.stop();
      await this.local.close();
      await dispatcher?.close();
      await http?.close();
      await this.models?.close();
    }
  }

  /**
   * Graceful stop: no new offers, the running job gets `graceMs` to finish, logs are flushed and
   * the session closes with 1000. Idempotent; every call returns the same promise.
   */
  stop(): Promise<void> {
    this.stopPromise ??= (async () => {
      if (this.state !== 'failed' && this.state !== 'stopped') this.setState('draining');
      await this.runner?.drain(this.opts.graceMs ?? 30_000);
      await this.session?.stop();
      this.stopController.abort();
    })();
    return this.stopPromise;
  }

  /**
   * Clears a rejected registration and asks the studio again (the dashboard's Reset registration,
   * `POST /daemon/registration/reset`). False when the registration is not rejected.
   */
  resetRegistration(): boolean {
    if (this.registration.state !== 'rejected') return false;
    this.opts.log.child({ category: 'registration' }).info('registration reset requested');
    this.registrationReset.request();
    return true;
  }

  /** What the local API's `/daemon/*` routes answer through (the dashboard attaches it); undefined detaches. */
  attachDaemonControl(control: DaemonControl | undefined): void {
    this.local.attachDaemonControl(control);
  }

  /** The model cache, once the worker runs (for the dashboard's Models tab). */
  get modelCache(): ModelCache | undefined {
    return this.models;
  }

  /** Load, unload and state of catalogue models, shared with the local API (served or not). */
  get modelLifecycle(): ModelLifecycle | undefined {
    return this.local.lifecycle(this.dispatcher, this.models);
  }

  /** The config as the worker uses it now (operator edits on disk are picked up within seconds). */
  get currentConfig(): WorkerConfig | undefined {
    return this.config;
  }

  pause(): void {
    this.pausedEarly = true;
    this.runner?.setPaused(true);
    this.events.emit('worker:paused', { paused: true });
    this.opts.log.child({ category: 'worker' }).info('paused: offers will be rejected until resumed');
  }
  resume(): void {
    this.pausedEarly = false;
    this.runner?.setPaused(false);
    this.events.emit('worker:paused', { paused: false });
    this.opts.log.child({ category: 'worker' }).info('resumed: taking offers again');
  }

  getStatus(): WorkerStatus {
    const job = this.runner?.currentJob;
    return {
      state: this.state,
      version: VERSION,
      registration: this.registration,
      workerId: this.config?.workerId,
      apiBaseUrl: this.config?.apiBaseUrl,
      vramTotalGb: this.host?.vramTotalGb,
      vramThresholdGb: this.config?.vramThresholdGb,
      paused: this.runner?.isPaused ?? this.pausedEarly,
      availability: this.runner?.availability(),
      currentJob: job && {
        jobId: job.jobId,
        kind: job.claim.task.kind,
        model: job.claim.model,
        phase: job.phase,
        elapsedMs: Date.now() - job.startedAt,
        ...(job.progress ? { progress: job.progress } : {}),
      },
      session: {
        state: this.session?.state ?? 'idle',
        nextAttemptAt: this.session?.nextAttemptAt,
        lastHeartbeatAt: this.session?.lastHeartbeatSentAt,
      },
      counts: { ...this.jobCounts.counts },
      jobsLastHour: this.jobCounts.perHour(),
      uptimeMs: this.startedAt === undefined ? undefined : Date.now() - this.startedAt,
      pendingResults: this.runner?.storedResultCount ?? 0,
      engines: (this.dispatcher?.availability() ?? this.engineAvailability).map((e) => ({
        ...e,
        taskKinds: [...e.taskKinds],
      })),
      gpu: this.gpu?.reading ? { ...this.gpu.reading } : undefined,
      maxGpuTempC: this.config?.maxGpuTempC,
      presence: {
        ...this.presence.current,
        onlyWhenIdle: this.config?.onlyWhenIdle ?? false,
      },
      models: modelStates(this.dispatcher?.warmModels() ?? [], this.residency),
      localApi: this.local.status(),
      disk: {
        spaces: (this.disk?.snapshot ?? []).map((s) => ({ ...s })),
        problem: this.disk?.problem(),
      },
    };
  }

  private capabilities(engines: DispatcherCapabilities): Capabilities {
    return buildCapabilities({
      host: this.host ?? { machineName: 'unknown', username: 'unknown', vramTotalGb: 0 },
      config: this.config ?? DEFAULT_CONFIG,
      engines,
      paused: this.runner?.isPaused ?? this.pausedEarly,
      availability: this.runner?.availability(),
      userPresence: this.presence.current.presence,
    });
  }

  private setState(state: WorkerLifecycleState, reason?: string): void {
    this.state = state;
    this.events.emit('worker:state', { state, ...(reason !== undefined ? { reason } : {}) });
  }
}
