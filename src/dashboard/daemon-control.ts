import { join } from 'node:path';
import { DEFAULT_CONFIG } from '../config/index.js';
import type { ConfigStore, WorkerConfig } from '../config/index.js';
import type {
  DaemonControl,
  DaemonJob,
  DaemonRegistration,
  DaemonSession,
  DaemonStatus,
  EditableConfig,
  GpuRuntime,
  LocalJobRow,
} from '../local-api/index.js';
import type { JobSource } from '../events/index.js';
import type { WorkerLogger } from '../logs/index.js';
import { promptFor, type Claim } from '../protocol/index.js';
import { loadSharp, toError } from '../util/index.js';
import { VERSION } from '../version.js';
import type { Worker, WorkerStatus } from '../worker/index.js';
import type { FinishedJob } from './api-types.js';
import { JobHistory } from './job-history.js';
import { JobLogs, WorkerLogRing } from './job-logs.js';

/** Each of `recentJobs` and `localJobs` holds this many, newest first (the original's rings). */
export const JOB_RING_SIZE = 50;
/** Thumbnails of the 100 most recent image jobs, at most 384 px on the longer side, as PNG. */
export const THUMBNAILS_KEPT = 100;
export const THUMBNAIL_PX = 384;
const PROMPT_CHARS = 200;
/** Start times of jobs, for the finished rows (the history keeps only the finish). */
const STARTS_KEPT = 500;

const EDITABLE_KEYS = [
  'apiBaseUrl',
  'vramThresholdGb',
  'startMinimised',
  'autoUpdateEnabled',
  'autoUpdateIntervalSecs',
  'autoUpdateFeed',
  'autoUpdatePrerelease',
  'modelsRoot',
] as const satisfies readonly (keyof EditableConfig & keyof WorkerConfig)[];

export interface DaemonControlSource {
  worker: Worker;
  store: ConfigStore;
  log: WorkerLogger;
  /** Fed by the worker's events before this is made, so a finished job's preview is there. */
  history: JobHistory;
}

interface Running {
  kind: string;
  model: string;
  prompt: string;
  source: JobSource;
  startedAt: number;
}

/**
 * The `/daemon/*` routes' view of a worker, built on what the dashboard already keeps: its job
 * history (finished jobs, result previews), the worker's log stream (per-job logs, the numbered
 * worker log) and the worker's events (running jobs, session attempts). `stop` unsubscribes.
 */
export function createDaemonControl(src: DaemonControlSource): DaemonControl & { stop: () => void } {
  const { worker, store, history } = src;
  const log = src.log.child({ category: 'local-api' });
  const jobLogs = new JobLogs(src.log, worker.events);
  const ring = new WorkerLogRing();
  const offered = new Map<string, Omit<Running, 'startedAt'>>();
  const running = new Map<string, Running>();
  const starts = new Map<string, number>();
  const thumbs = new Map<string, Buffer>();
  const making = new Map<string, Promise<Buffer | undefined>>();
  let attempt = 0;
  let failure: string | undefined;

  const forget = (jobId: string) => {
    offered.delete(jobId);
    running.delete(jobId);
  };
  const on = worker.events.on.bind(worker.events);
  const offs = [
    src.log.onRecord((entry) => ring.push(entry)),
    on('job:offered', ({ claim, source }) => {
      offered.set(claim.jobId, { ...describe(claim), source: source ?? 'studio' });
      bound(offered, STARTS_KEPT);
    }),
    on('job:accepted', (e) => {
      const startedAt = Date.now();
      const job = offered.get(e.jobId) ?? { kind: e.kind, model: e.model, prompt: '', source: 'studio' };
      running.set(e.jobId, { ...job, startedAt });
      starts.set(e.jobId, startedAt);
      bound(starts, STARTS_KEPT);
    }),
    on('job:completed', (e) => forget(e.jobId)),
    on('job:failed', (e) => forget(e.jobId)),
    on('job:rejected', (e) => forget(e.jobId)),
    on('session:reconnecting', (e) => (attempt = e.attempt)),
    on('session:welcomed', () => (attempt = 0)),
    on(
      'worker:state',
      (e) => (failure = e.state === 'failed' ? (e.reason ?? 'the worker failed') : undefined),
    ),
  ];

  /**
   * The history keeps an image result's bytes (the newest ones, within its budget): the PNG of one is
   * made when it is first asked for, then kept, so no job pays for a thumbnail nobody looks at.
   */
  const thumbnailOf = (jobId: string): Promise<Buffer | undefined> | undefined => {
    const preview = history.preview(jobId);
    if (!preview?.contentType.startsWith('image/')) return undefined;
    const made = loadSharp()
      .then((sharp) =>
        sharp(preview.data)
          .resize(THUMBNAIL_PX, THUMBNAIL_PX, { fit: 'inside', withoutEnlargement: true })
          .png()
          .toBuffer(),
      )
      .then(
        (png) => {
          thumbs.set(jobId, png);
          bound(thumbs, THUMBNAILS_KEPT);
          return png;
        },
        (e: unknown) => {
          log.child({ jobId }).warn(`thumbnail could not be made: ${toError(e).message}`);
          return undefined;
        },
      )
      .finally(() => making.delete(jobId));
    making.set(jobId, made);
    return made;
  };
  const hasThumbnail = (jobId: string) =>
    thumbs.has(jobId) ||
    making.has(jobId) ||
    history.preview(jobId)?.contentType.startsWith('image/') === true;

  const finished = (j: FinishedJob): DaemonJob => ({
    jobId: j.jobId,
    kind: j.kind ?? 'unknown',
    model: j.model ?? '',
    prompt: j.prompt ?? '',
    source: j.source ?? 'studio',
    status: j.outcome === 'completed' ? 'completed' : 'failed',
    ...(j.outcome === 'failed' ? { reason: j.error ?? '' } : {}),
    startedAt: iso(starts.get(j.jobId) ?? j.finishedAt - (j.durationMs ?? 0)),
    finishedAt: iso(j.finishedAt),
    hasThumbnail: hasThumbnail(j.jobId),
  });
  const finishedRows = (local: boolean) =>
    history
      .snapshot()
      .finished.filter(
        (j) => j.outcome !== 'rejected' && (j.source !== undefined && j.source !== 'studio') === local,
      )
      .slice(0, JOB_RING_SIZE)
      .map(finished);

  const editable = async (): Promise<EditableConfig> => {
    const config = await store.load().catch(() => worker.currentConfig ?? DEFAULT_CONFIG);
    return pick(config);
  };

  return {
    async status({ busy }): Promise<DaemonStatus> {
      const status = worker.getStatus();
      const config = await store.load().catch(() => worker.currentConfig ?? DEFAULT_CONFIG);
      return {
        version: VERSION,
        pid: process.pid,
        configPath: store.path,
        paused: status.paused,
        busy,
        registered: config.workerId !== undefined && config.authToken !== undefined,
        workerId: config.workerId ?? null,
        registration: registrationOf(status),
        config: pick(config),
        session: sessionOf(status, attempt, failure),
        heartbeat:
          status.session.lastHeartbeatAt === undefined
            ? null
            : { outcome: 'ok', lastAttemptAt: iso(status.session.lastHeartbeatAt) },
        gpuRuntime: gpuRuntimeOf(status),
        vramTotalGb: status.vramTotalGb ?? 0,
        localApiUrl: status.localApi.url ?? null,
        currentJobId: status.currentJob?.jobId ?? null,
        activeJobs: [...running].map(([jobId, j]) => ({
          jobId,
          kind: j.kind,
          model: j.model,
          prompt: j.prompt,
          source: j.source,
          status: 'running',
          startedAt: iso(j.startedAt),
          hasThumbnail: false,
        })),
        recentJobs: finishedRows(false),
        localJobs: finishedRows(true),
        logsSeq: ring.seq,
      };
    },
    logs: (after) => ring.after(after),
    pause() {
      worker.pause();
      return worker.getStatus().paused;
    },
    resume() {
      worker.resume();
      return worker.getStatus().paused;
    },
    getConfig: editable,
    async putConfig(config) {
      const before = await editable();
      const saved = await store.update((c) => {
        for (const key of EDITABLE_KEYS) Object.assign(c, { [key]: config[key] });
      });
      const changed = EDITABLE_KEYS.filter((k) => before[k] !== config[k]);
      log.info(
        `config saved through the local API (${store.path}): ${changed.length > 0 ? changed.join(', ') : 'no change'}`,
      );
      return pick(saved);
    },
    resetRegistration: () => worker.resetRegistration(),
    shutdown() {
      log.info('shutdown requested through the local API: stopping gracefully');
      void worker.stop();
    },
    jobs: (): LocalJobRow[] =>
      finishedRows(true).map((j) => ({
        jobId: j.jobId,
        kind: j.kind,
        model: j.model,
        prompt: j.prompt,
        status: j.status === 'completed' ? 'completed' : 'failed',
        reason: j.reason ?? null,
        startedAt: j.startedAt,
        finishedAt: j.finishedAt ?? j.startedAt,
      })),
    jobLog: (jobId) => jobLogs.get(jobId),
    async thumbnail(jobId) {
      return thumbs.get(jobId) ?? (await (making.get(jobId) ?? thumbnailOf(jobId)));
    },
    gpuRuntime: () => gpuRuntimeOf(worker.getStatus()),
    stop() {
      for (const off of offs.splice(0)) off();
      jobLogs.stop();
    },
  };
}

function pick(config: WorkerConfig): EditableConfig {
  return Object.fromEntries(EDITABLE_KEYS.map((k) => [k, config[k]])) as unknown as EditableConfig;
}

function describe(claim: Claim): { kind: string; model: string; prompt: string } {
  const text = promptFor(claim.task);
  const prompt = text.length > PROMPT_CHARS ? `${text.slice(0, PROMPT_CHARS)}…` : text;
  return { kind: claim.task.kind, model: claim.model, prompt };
}

/** The original's shape: no worker id on `approved` (it is `workerId` beside it). */
function registrationOf(status: WorkerStatus): DaemonRegistration {
  const r = status.registration;
  return r.state === 'approved' ? { state: 'approved' } : { ...r };
}

function sessionOf(status: WorkerStatus, attempt: number, failure: string | undefined): DaemonSession {
  switch (status.state) {
    case 'stopped':
      return { state: 'stopped' };
    case 'failed': {
      const reason = failure ?? 'the worker failed';
      // The studio's refusals of our credentials (see session/session.ts); anything else is fatal.
      return /refused this worker’s credentials|deleted this worker/.test(reason)
        ? { state: 'auth_failed', reason }
        : { state: 'fatal', reason };
    }
    case 'starting':
      return { state: 'connecting' };
    case 'registering':
      return status.registration.state === 'pristine'
        ? { state: 'connecting' }
        : { state: 'waiting_for_approval' };
  }
  if (status.session.state === 'welcomed') return { state: 'connected' };
  if (status.session.state === 'waiting') return { state: 'reconnecting', attempt };
  if (status.state === 'draining' && status.session.state === 'closed') return { state: 'stopped' };
  return { state: 'connecting' };
}

/** Whether the GPU can be read here (memory, temperature): what offers are judged by. */
function gpuRuntimeOf(status: WorkerStatus): GpuRuntime | null {
  if (status.gpu) return { ok: true, detail: `GPU runtime available (read through ${status.gpu.source})` };
  if (status.state === 'starting' || status.state === 'registering') return null;
  return { ok: false, detail: 'no GPU could be read: jobs run where their engine can without one' };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Drops the oldest entries (insertion order) beyond `max`. */
function bound(map: Map<string, unknown>, max: number): void {
  for (const key of map.keys()) {
    if (map.size <= max) break;
    map.delete(key);
  }
}

/**
 * The daemon control for a worker that serves no dashboard (`run --no-dashboard`, or its port
 * taken): the local API's `/daemon/*` routes answer all the same, from a job history of its own.
 * Returns what detaches and stops it.
 */
export function attachDaemonControlWithoutDashboard(
  worker: Worker,
  store: ConfigStore,
  log: WorkerLogger,
): () => void {
  const history = new JobHistory(worker, () => {}, join(store.dir, 'job-history.json'));
  const control = createDaemonControl({ worker, store, log, history });
  worker.attachDaemonControl(control);
  return () => {
    worker.attachDaemonControl(undefined);
    control.stop();
    history.stop();
  };
}
