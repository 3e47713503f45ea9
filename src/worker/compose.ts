import { join } from 'node:path';
import type { ResidencyStore } from '../config/index.js';
import { DEFAULT_CONFIG } from '../config/index.js';
import type { WorkerConfig } from '../config/types.js';
import type { EngineDispatcher } from '../engines/index.js';
import type { WorkerEventBus } from '../events/index.js';
import type { ModelCache } from '../models/index.js';
import type { OutboxEntry } from '../outbox/index.js';
import { Outbox, StoredResults, deliverWithRetry } from '../outbox/index.js';
import type { GpuReading } from '../platform/index.js';
import type { Capabilities } from '../protocol/index.js';
import { JobRunner, type JobGate } from '../runner/index.js';
import { Session } from '../session/index.js';
import type { StudioHttp } from '../studio/index.js';
import { linkSignals } from '../util/index.js';
import { USER_AGENT } from '../version.js';
import type { DiskWatch } from './disk-watch.js';
import type { WorkerOptions } from './options.js';

export interface StudioSideParts {
  opts: WorkerOptions;
  events: WorkerEventBus;
  /** Ends the worker: uploads and the session stop with it. */
  signal: AbortSignal;
  config: WorkerConfig;
  creds: { workerId: string; authToken: string };
  studio: StudioHttp;
  dispatcher: EngineDispatcher;
  models: ModelCache;
  gate: JobGate;
  residency: ResidencyStore;
  capabilities: () => Capabilities;
  /** The config as it is now (operator edits apply without a restart). */
  currentConfig: () => WorkerConfig | undefined;
  /** The runner, once made (the session hands it offers). */
  runner: () => JobRunner | undefined;
  presenceProblem: () => string | undefined;
  disk: () => DiskWatch | undefined;
  gpu: () => GpuReading | undefined;
}

/**
 * The worker's studio side, wired once it is registered: the outbox and its uploads, the session
 * (hello, heartbeats, offers) and the job runner between them. The Worker keeps the lifecycle;
 * this only says which part talks to which.
 */
export function composeStudioSide(p: StudioSideParts): { session: Session; runner: JobRunner } {
  const { opts, events, signal, config, creds, studio, dispatcher } = p;
  const outbox = new Outbox(join(opts.store.dir, 'outbox'));
  const results = new StoredResults(outbox, opts.log.child({ category: 'outbox' }));
  const deliver = (entry: OutboxEntry, jobSignal: AbortSignal) => {
    const link = linkSignals(jobSignal, signal);
    return deliverWithRetry({
      entry,
      outbox,
      log: opts.log.child({ category: 'outbox', jobId: entry.jobId }),
      signal: link.signal,
      ...(opts.uploadBackoff ? { backoff: opts.uploadBackoff } : {}),
      ...(opts.uploadGiveUpMs !== undefined ? { giveUpAfterMs: opts.uploadGiveUpMs } : {}),
      onRetry: (attempt) => events.emit('upload:retrying', { jobId: entry.jobId, attempt }),
      upload: (e) =>
        studio
          .uploadResult({
            workerId: e.workerId,
            jobId: e.jobId,
            authToken: creds.authToken,
            filePath: e.filePath,
            ...(e.data ? { data: e.data } : {}),
            ext: e.ext,
            ...(e.prompt !== undefined ? { prompt: e.prompt } : {}),
            signal,
          })
          .then(() => undefined),
    }).finally(link.unlink);
  };

  const session = new Session({
    apiBaseUrl: config.apiBaseUrl,
    workerId: creds.workerId,
    authToken: creds.authToken,
    userAgent: USER_AGENT,
    capabilities: p.capabilities,
    currentJobId: () => p.runner()?.currentJob?.jobId,
    onOffer: (claim) => p.runner()?.offer(claim),
    onAck: (type, jobId) => {
      if (type === 'completeAck') p.runner()?.completeAcknowledged(jobId);
    },
    shipper: opts.shipper,
    log: opts.log,
    events,
    reconnectAttempts: config.wsReconnectAttempts,
    ...(opts.reconnectBackoff ? { backoff: opts.reconnectBackoff } : {}),
    ...(opts.heartbeatMs !== undefined ? { heartbeatMs: opts.heartbeatMs } : {}),
    ...(opts.logFlushMs !== undefined ? { logFlushMs: opts.logFlushMs } : {}),
    ...(opts.deadAfterMs !== undefined ? { deadAfterMs: opts.deadAfterMs } : {}),
  });
  const now = p.currentConfig;
  const runner = new JobRunner(
    {
      ...session.io,
      generation: () => (session.isWelcomed ? session.generation : undefined),
      deliver,
    },
    {
      dispatcher,
      results,
      events,
      log: opts.log.child({ category: 'runner' }),
      workRoot: join(opts.store.dir, 'work'),
      models: p.models,
      gate: p.gate,
      fsyncResults: () => now()?.fsyncResults ?? DEFAULT_CONFIG.fsyncResults,
      presenceProblem: p.presenceProblem,
      vramThresholdGb: () => now()?.vramThresholdGb ?? 0,
      identity: () => ({ workerId: creds.workerId, apiBaseUrl: config.apiBaseUrl }),
      diskProblem: () => p.disk()?.problem(),
      recheckDisk: () => p.disk()?.refresh() ?? Promise.resolve(),
      gpu: () => ({
        gpu: p.gpu(),
        warm: dispatcher.warmModels(),
        kept: p.residency.kept,
        maxGpuTempC: now()?.maxGpuTempC ?? DEFAULT_CONFIG.maxGpuTempC,
      }),
    },
  );
  return { session, runner };
}
