import { ApiError } from './errors.js';
import type { Body } from './body.js';

// What the original's tray UI reads and does in the worker over the local API (`/daemon/*`,
// `/jobs`): the shapes on the wire, and the interface the routes answer through. See
// docs/local-api.md#daemon-control.

/** The operator-editable part of the config: what `GET /daemon/config` answers and `PUT` takes. */
export interface EditableConfig {
  apiBaseUrl: string;
  vramThresholdGb: number;
  startMinimised: boolean;
  autoUpdateEnabled: boolean;
  autoUpdateIntervalSecs: number;
  autoUpdateFeed: string;
  autoUpdatePrerelease: boolean;
  modelsRoot: string;
}

/** The original's shortest auto-update interval: its release feed is GitHub's API. */
export const MIN_AUTO_UPDATE_INTERVAL_SECS = 60;

export type DaemonJobSource = 'studio' | 'local' | 'lane' | 'stream';

/** One job, running or finished, whatever its source. */
export interface DaemonJob {
  jobId: string;
  kind: string;
  model: string;
  prompt: string;
  source: DaemonJobSource;
  status: 'running' | 'completed' | 'failed';
  reason?: string;
  startedAt: string;
  finishedAt?: string;
  /** `GET /jobs/:id/thumbnail` answers a PNG. */
  hasThumbnail: boolean;
}

export type DaemonRegistration =
  | { state: 'pristine' }
  | { state: 'pending'; requestId: string; since?: string }
  | { state: 'approved' }
  | { state: 'rejected'; reason: string };

export type DaemonSession =
  | { state: 'waiting_for_approval' }
  | { state: 'connecting' }
  | { state: 'connected' }
  | { state: 'reconnecting'; attempt: number }
  | { state: 'auth_failed'; reason: string }
  | { state: 'fatal'; reason: string }
  | { state: 'stopped' };

export interface GpuRuntime {
  ok: boolean;
  detail: string;
}

/** `GET /daemon/status`: everything the tray UI shows except the logs; never a credential. */
export interface DaemonStatus {
  version: string;
  pid: number;
  configPath: string;
  paused: boolean;
  /** The one-job gate is taken (a studio or local job, or a model load, holds it). */
  busy: boolean;
  /** The config holds a worker id and its token. */
  registered: boolean;
  workerId: string | null;
  registration: DaemonRegistration;
  config: EditableConfig;
  session: DaemonSession;
  heartbeat: { outcome: 'ok'; lastAttemptAt: string } | null;
  gpuRuntime: GpuRuntime | null;
  vramTotalGb: number;
  localApiUrl: string | null;
  /** The studio job the heartbeat reports. */
  currentJobId: string | null;
  activeJobs: DaemonJob[];
  /** Finished studio jobs, newest first, at most 50. */
  recentJobs: DaemonJob[];
  /** Finished local jobs, newest first, at most 50. */
  localJobs: DaemonJob[];
  /** The sequence number of the newest worker log entry. */
  logsSeq: number;
}

export interface DaemonLogEntry {
  ts: string;
  level: 'info' | 'warn' | 'error';
  category: string;
  message: string;
  jobId?: string;
}

/** `GET /daemon/logs?after=<seq>`. */
export interface LogsPage {
  entries: DaemonLogEntry[];
  /** The newest entry's sequence number: the next `after`. */
  seq: number;
}

/** `GET /jobs/:id/log`: the lines logged while the job ran, and how many were dropped (the oldest). */
export interface JobLog {
  lines: { ts: string; level: string; target: string; message: string }[];
  dropped: number;
}

/** One `GET /jobs` row, as the original lists its local queue. */
export interface LocalJobRow {
  jobId: string;
  kind: string;
  model: string;
  prompt: string;
  status: 'completed' | 'failed';
  reason: string | null;
  startedAt: string;
  finishedAt: string;
}

/** The worker as the daemon routes see it (the dashboard's job history and log feed behind it). */
export interface DaemonControl {
  status(local: { busy: boolean }): Promise<DaemonStatus>;
  logs(after: number): LogsPage;
  /** Both answer whether the worker is paused now. */
  pause(): boolean;
  resume(): boolean;
  getConfig(): Promise<EditableConfig>;
  /** Saves a validated config (rejects when it cannot be written) and answers it as saved. */
  putConfig(config: EditableConfig): Promise<EditableConfig>;
  /** True when the registration was rejected and a fresh request now starts. */
  resetRegistration(): boolean;
  /** Stops the worker gracefully (the answer has gone out by then). */
  shutdown(): void;
  jobs(): LocalJobRow[];
  jobLog(jobId: string): JobLog | undefined;
  thumbnail(jobId: string): Promise<Buffer | undefined>;
  gpuRuntime(): GpuRuntime | null;
}

/**
 * A `PUT /daemon/config` body as the original reads it: every field present with its type (else
 * 400 `bad_request`), then its values checked in the original's order (else 400 `invalid_config`
 * naming the field).
 */
export function parseEditableConfig(body: Body): EditableConfig {
  const config: EditableConfig = {
    apiBaseUrl: field(body, 'apiBaseUrl', 'string'),
    vramThresholdGb: field(body, 'vramThresholdGb', 'number'),
    startMinimised: field(body, 'startMinimised', 'boolean'),
    autoUpdateEnabled: field(body, 'autoUpdateEnabled', 'boolean'),
    autoUpdateIntervalSecs: field(body, 'autoUpdateIntervalSecs', 'number'),
    autoUpdateFeed: field(body, 'autoUpdateFeed', 'string'),
    autoUpdatePrerelease: field(body, 'autoUpdatePrerelease', 'boolean'),
    modelsRoot: field(body, 'modelsRoot', 'string'),
  };
  const interval = config.autoUpdateIntervalSecs;
  if (!Number.isInteger(interval) || interval < 0) {
    throw new ApiError(400, 'bad_request', 'bad input: "autoUpdateIntervalSecs" must be a whole number');
  }
  const refuse = (name: keyof EditableConfig, problem: string): never => {
    throw new ApiError(400, 'invalid_config', `invalid config: ${name}: ${problem}`);
  };
  if (!isHttpUrl(config.apiBaseUrl)) refuse('apiBaseUrl', 'must be an http(s) URL');
  if (!Number.isFinite(config.vramThresholdGb) || config.vramThresholdGb < 0) {
    refuse('vramThresholdGb', 'must be a number of GB, 0 or more');
  }
  if (interval < MIN_AUTO_UPDATE_INTERVAL_SECS) {
    refuse('autoUpdateIntervalSecs', `must be at least ${MIN_AUTO_UPDATE_INTERVAL_SECS} seconds`);
  }
  if (!isHttpUrl(config.autoUpdateFeed)) refuse('autoUpdateFeed', 'must be an http(s) URL');
  if (config.modelsRoot.trim() === '') refuse('modelsRoot', 'must not be empty');
  return config;
}

function field<T extends 'string' | 'number' | 'boolean'>(
  body: Body,
  key: keyof EditableConfig,
  type: T,
): T extends 'string' ? string : T extends 'number' ? number : boolean {
  const value = body[key];
  if (value === undefined || value === null) {
    throw new ApiError(400, 'bad_request', `bad input: "${key}" is required`);
  }
  if (typeof value !== type) throw new ApiError(400, 'bad_request', `bad input: "${key}" must be a ${type}`);
  return value as T extends 'string' ? string : T extends 'number' ? number : boolean;
}

function isHttpUrl(raw: string): boolean {
  try {
    const url = new URL(raw);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}
