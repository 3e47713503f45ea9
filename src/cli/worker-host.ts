import { initTelemetry } from '../telemetry/index.js';
import { launchInstalledUpdate, startAutoUpdater } from '../update/index.js';
import { VERSION } from '../version.js';
import {
  acquireDaemonLock,
  LOCK_FILE,
  LockHeldError,
  startIdleHeapTrim,
  Worker,
  type HeldLock,
} from '../worker/index.js';
import { ExitCode, UserError, useImageCodecProcess } from '../util/index.js';
import type { LockRecord } from '../util/index.js';
import { startMetricsServer, WorkerMetrics } from '../metrics/index.js';
import { currentTarget, servicePlan, trimLogs } from '../platform/index.js';
import { configLocation, type CommandContext } from './context.js';
import { onShutdownSignal } from './signals.js';

/**
 * Hosts a worker the way `run` and `ui` need it: telemetry when SENTRY_DSN is set, a newer
 * installed version handed the process at start, the auto-updater while it runs, and a fresh worker
 * on this version when an update died in its first 30 s and was rolled back.
 *
 * `attach` is called with each worker before it runs (the dashboard attaches there) and returns
 * what to undo when that worker ends.
 */
export async function hostWorker(
  ctx: CommandContext,
  opts: {
    graceMs: number;
    attach?: (worker: Worker, metrics: () => WorkerMetrics) => Promise<() => Promise<void>>;
    /** Wait for a worker already running on this config to stop, instead of exiting with code 7. */
    waitForLock?: boolean;
    /** `run --metrics-listen`: serve /metrics and /healthz there. */
    metricsListen?: string;
    /** `--gpu N`: pin the worker to one GPU. */
    gpu?: number;
    /** `run --log-file`: the file the logger rotates itself, left out of the hourly trim. */
    logFile?: string;
    /**
     * Another worker holds this config: true when this command has done its job without a worker
     * of its own (`ui` attached to that worker's dashboard); false gives exit code 7.
     */
    onLockHeld?: (holder: LockRecord) => Promise<boolean>;
  },
): Promise<void> {
  const argv = process.argv.slice(2);
  // A long-running worker makes its images in a codec process that goes when idle: libvips would
  // otherwise stay in this process for good after the first image (docs/benchmarks.md).
  useImageCodecProcess();
  const config = await ctx.store.load();
  const telemetry = await initTelemetry({
    version: VERSION,
    log: ctx.log,
    secrets: [config.authToken, config.registrationSecret].filter((s): s is string => s !== undefined),
  });
  let logTrim: NodeJS.Timeout | undefined;
  // One signal handler for the host's whole life once it runs workers, relayed to whatever runs now
  // (the lock being taken, then the worker): taking a handler off and putting another on loses a
  // signal the OS delivered in between, and the worker then never hears it.
  const interrupted = new AbortController();
  let stopNow: (() => Promise<void>) | undefined;
  let offSignals = (): void => undefined;
  try {
    const delegated = await launchInstalledUpdate({
      version: VERSION,
      argv,
      configDir: ctx.store.dir,
      log: ctx.log,
    });
    if (delegated?.outcome === 'exited') {
      process.exitCode = delegated.code;
      return;
    }
    logTrim = startLogTrim(ctx, opts.gpu, opts.logFile);
    const relaySignals = () =>
      onShutdownSignal(async () => {
        interrupted.abort(new Error('interrupted'));
        await stopNow?.();
      }, ctx.log);
    offSignals = relaySignals();
    for (;;) {
      // One worker per config folder, held while this worker runs and handed back before an update
      // starts the new version (which takes it in turn).
      const lock = await takeLock(ctx, opts.waitForLock ?? false, opts.onLockHeld, interrupted.signal);
      if (!lock) return;
      const worker = new Worker({
        store: ctx.store,
        log: ctx.log,
        shipper: ctx.shipper,
        graceMs: opts.graceMs,
        localApi: {},
        ...(opts.gpu !== undefined ? { gpu: opts.gpu } : {}),
      });
      // From here on a SIGTERM stops the worker cleanly, lock released, even while it is starting.
      stopNow = () => worker.stop();
      if (interrupted.signal.aborted) void worker.stop();
      const offToken = worker.events.on('session:welcomed', () => {
        const token = worker.currentConfig?.authToken;
        if (token) telemetry?.addSecret(token);
      });
      // One set of metrics per worker, shared by the dashboard and --metrics-listen, made on first use.
      let workerMetrics: WorkerMetrics | undefined;
      const metricsOf = (): WorkerMetrics => (workerMetrics ??= new WorkerMetrics(worker));
      let detach = (): Promise<void> => Promise.resolve();
      let metrics: { close: () => Promise<void> } | undefined;
      let updater: ReturnType<typeof startAutoUpdater> | undefined;
      const isIdle = (): boolean => worker.getStatus().currentJob === undefined;
      const stopHeapTrim = startIdleHeapTrim({ events: worker.events, isIdle, log: ctx.log });
      try {
        detach = (await opts.attach?.(worker, metricsOf)) ?? detach;
        metrics = opts.metricsListen ? await serveMetrics(ctx, metricsOf(), opts.metricsListen) : undefined;
        updater = startAutoUpdater({
          config: () => worker.currentConfig,
          isIdle,
          log: ctx.log.child({ category: 'update' }),
          version: VERSION,
          argv,
          configDir: ctx.store.dir,
          onBeforeRestart: () => worker.stop(),
        });
        await worker.run();
      } finally {
        stopHeapTrim();
        updater?.stop();
        offToken();
        await detach();
        await metrics?.close();
        workerMetrics?.stop();
        await lock.release();
        stopNow = undefined;
      }
      // The lock is handed back: a new version started now forwards signals to itself.
      offSignals();
      const handoff = await updater.handoff();
      if (!handoff) return;
      if (handoff.outcome === 'exited') {
        process.exitCode = handoff.code;
        return;
      }
      ctx.log.warn(`update to ${handoff.version} failed to start; running ${VERSION} again`);
      offSignals = relaySignals();
    }
  } finally {
    offSignals();
    clearInterval(logTrim);
    await telemetry?.close();
  }
}

/**
 * Where the service manager writes the worker's output to files (macOS, Windows), they are rotated
 * above 10 MiB, three kept: at start and then hourly. The `--log-file` the logger rotates is not among them.
 */
function startLogTrim(ctx: CommandContext, gpu: number | undefined, own?: string): NodeJS.Timeout {
  // A worker pinned to a GPU is the one `install-service --gpus` runs: its service's files.
  const target = currentTarget(configLocation(ctx.store));
  const files = servicePlan(gpu === undefined ? target : { ...target, gpus: [gpu] }).logFiles.filter(
    (f) => f !== own,
  );
  const trim = () =>
    void trimLogs(files, { warn: (m) => ctx.log.warn(m) }).then((rotated) => {
      for (const f of rotated) ctx.log.info(`rotated ${f} (over 10 MiB; three old files kept)`);
    });
  trim();
  const timer = setInterval(trim, 60 * 60_000);
  timer.unref();
  return timer;
}

/**
 * A SIGTERM while the lock is being taken (the file written, the pid file not yet) must not kill
 * the process with the lock left behind: `interrupted` says it came, and the lock is handed back.
 */
async function takeLock(
  ctx: CommandContext,
  wait: boolean,
  onLockHeld: ((holder: LockRecord) => Promise<boolean>) | undefined,
  interrupted: AbortSignal,
): Promise<HeldLock | undefined> {
  if (interrupted.aborted) return undefined;
  try {
    const lock = await acquireDaemonLock(ctx.store.dir, {
      wait,
      signal: interrupted,
      onStale: (r, reason) =>
        ctx.log.warn(
          `taking over ${LOCK_FILE} from pid ${r.pid} on ${r.hostname} (started ${r.startedAt}): ${reason}`,
        ),
      onCompromised: (e) => ctx.log.error(e.message),
      onWait: (r) =>
        ctx.log.warn(
          `another studio-worker (pid ${r.pid}) runs on this config; waiting for it to stop (--wait-for-lock)`,
        ),
    });
    if (!interrupted.aborted) return lock;
    await lock.release();
    ctx.log.warn('stopped before the worker started');
    return undefined;
  } catch (e) {
    if (e instanceof LockHeldError) {
      if (await onLockHeld?.(e.holder)) return undefined;
      throw new UserError(e.message, ExitCode.locked);
    }
    if (interrupted.aborted)
      throw new UserError(
        wait ? 'stopped while waiting for the other worker' : 'stopped before the worker started',
        ExitCode.ok,
      );
    throw e;
  }
}

async function serveMetrics(
  ctx: CommandContext,
  metrics: WorkerMetrics,
  listen: string,
): Promise<{ close: () => Promise<void> }> {
  let server;
  try {
    server = await startMetricsServer(listen, metrics);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(
      code === 'EADDRINUSE'
        ? `--metrics-listen ${listen}: the address is in use`
        : `--metrics-listen: ${(e as Error).message}`,
      code === 'EADDRINUSE' ? ExitCode.system : ExitCode.usage,
    );
  }
  ctx.out(`metrics on ${server.url}/metrics, health on ${server.url}/healthz`);
  return { close: () => server.close() };
}
