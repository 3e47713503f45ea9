/**
 * The dashboard's JSON API, as the browser sees it. Self-contained (no imports) so the browser
 * bundle can share it; the server annotates its responses with these types, so a change to the
 * worker's status that the page cannot show fails to compile.
 */

export type TaskKindName = 'image' | 'llm' | 'audio_stt' | 'audio_tts' | 'video';

export type RegistrationView =
  | { state: 'pristine' }
  | { state: 'pending'; requestId: string; since?: string }
  | { state: 'approved'; workerId: string }
  | { state: 'rejected'; reason: string };

export interface CurrentJobView {
  jobId: string;
  kind: TaskKindName;
  model: string;
  phase: 'running' | 'uploading' | 'delivering';
  elapsedMs: number;
  progress?: { fraction?: number; message?: string };
  /** The first 200 characters of the job's prompt (or text, or last chat message). */
  prompt?: string;
}

export interface StatusView {
  state: 'starting' | 'registering' | 'connecting' | 'running' | 'draining' | 'stopped' | 'failed';
  version: string;
  registration: RegistrationView;
  workerId: string | undefined;
  apiBaseUrl: string | undefined;
  vramTotalGb: number | undefined;
  vramThresholdGb: number | undefined;
  paused: boolean;
  /**
   * What heartbeats tell the studio: whether it may offer jobs now (`autoEnabled`), up to what
   * estimate, and why not (see runner/availability.ts).
   */
  availability?:
    { available: boolean; reasons: string[]; vramThresholdGb: number; vramLowered?: string } | undefined;
  currentJob: CurrentJobView | undefined;
  session: {
    state: 'idle' | 'connecting' | 'open' | 'welcomed' | 'waiting' | 'closed';
    nextAttemptAt: number | undefined;
    lastHeartbeatAt: number | undefined;
  };
  counts: { completed: number; failed: number; rejected: number };
  jobsLastHour: number;
  uptimeMs: number | undefined;
  /** Finished results the studio has not taken yet (kept for a re-offer). */
  pendingResults: number;
  engines: { engine: string; ready: boolean; detail: string; taskKinds: string[] }[];
  /** Free space where jobs write; `problem` is why offers are turned down for lack of it. */
  disk: {
    spaces: { label: string; path: string; freeBytes: number | undefined }[];
    problem: string | undefined;
  };
  /** Offers are turned down while the GPU is hotter than this (°C). */
  maxGpuTempC?: number | undefined;
  /** The GPU's latest reading, when one can be read (admission judges offers by it). */
  gpu?: { source: string; freeBytes: number; temperatureC?: number; utilizationPct?: number } | undefined;
  /** Whether someone uses this computer, and the `only_when_idle` policy. */
  presence?: {
    presence: 'idle' | 'active' | undefined;
    idleMs?: number;
    source?: string;
    reason?: string;
    onlyWhenIdle: boolean;
  };
  /** The local API: its URL and where the token is, or why it is off. */
  localApi: {
    on: boolean;
    url?: string;
    discoveryPath?: string;
    problem?: string;
    /** The LAN streaming speech listener beside it: host:port and its live sessions, or why it is off. */
    stream?: { on: true; addr: string; path: string; sessions: number } | { on: false; problem: string };
  };
  /** Models kept loaded between jobs, or kept by the operator, and where each is in its life. */
  models: ModelStateView[];
}

export interface ModelStateView {
  model: string;
  engine?: string;
  state: 'unloaded' | 'loading' | 'loaded' | 'unloading' | 'failed';
  since?: string;
  bytes?: number;
  /** The operator keeps it loaded (`models keep`). */
  kept: boolean;
  error?: string;
}

export interface StatusResponse {
  status: StatusView;
  /** The server's clock, so ages and countdowns do not depend on the browser's. */
  now: number;
  configPath: string;
}

export interface FinishedJob {
  jobId: string;
  kind: TaskKindName | undefined;
  model: string | undefined;
  prompt: string | undefined;
  outcome: 'completed' | 'failed' | 'rejected';
  finishedAt: number;
  durationMs: number | undefined;
  bytes: number | undefined;
  error: string | undefined;
  /** `GET /api/jobs/:id/preview` serves the result (images, audio and video up to 4 MiB). */
  preview: { mediaType: 'image' | 'audio' | 'video'; contentType: string } | undefined;
  /** The answer of an llm job, the transcript of an audio_stt job (the first 1000 characters). */
  resultText?: string | undefined;
  /** `local`: a local API request; `stream`: a streaming speech session; absent: a studio job. */
  source?: 'studio' | 'local' | 'stream';
}

export interface JobsResponse {
  current: CurrentJobView | undefined;
  /** Newest first, at most 500 (kept across restarts). */
  finished: FinishedJob[];
}

export interface LogRecord {
  ts: string;
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  category: string;
  message: string;
  jobId?: string;
}

export interface ConfigFieldView {
  toml: string;
  type: 'boolean' | 'number' | 'string';
  /** An optional field can be left empty (unset). */
  optional: boolean;
  value: boolean | number | string | null;
  defaultValue: boolean | number | string | null;
}

export interface ConfigResponse {
  path: string;
  fields: ConfigFieldView[];
}

/** 400 answer of `PUT /api/config`: one message per TOML key at fault (`''` for the file as a whole). */
export interface ConfigErrorsResponse {
  errors: Record<string, string>;
}

export interface CachedModel {
  filename: string;
  bytes: number;
  sha256: string;
  lastUsedAt: string;
  inUse: boolean;
}

export interface DownloadView {
  filename: string;
  receivedBytes: number;
  totalBytes: number | undefined;
  bytesPerSec: number;
  etaSec: number | undefined;
  done: boolean;
  error?: string;
}

export interface ModelsResponse {
  root: string | undefined;
  /** Undefined until the worker has started its model cache. */
  files: CachedModel[] | undefined;
  downloads: DownloadView[];
}

/** Where a catalogue model is in its life. */
export type CatalogModelState = 'unloaded' | 'loading' | 'loaded' | 'unloading' | 'failed';

/** One model of the catalogue (`models.json`) with its state (`GET /api/catalog`). */
export interface CatalogEntryView {
  id: string;
  displayName?: string;
  kind: TaskKindName;
  engine: string;
  vramGbEstimate: number;
  description?: string;
  enabled: boolean;
  /** `local`: added on this machine; `studio`: mirrored from a studio offer. */
  origin: 'local' | 'studio';
  exclusiveGroup?: string;
  state: CatalogModelState;
  /** Kept loaded: a load sets it, an unload clears it, and the worker loads it again at start. */
  resident: boolean;
  /** When it entered its state (ISO 8601), when known. */
  since?: string;
  /** Why its last load failed (state `failed`). */
  error?: string;
  /** Its engine loads in process, so it can be loaded ahead and kept in memory (else: per job). */
  loadable: boolean;
}

export interface CatalogResponse {
  /** Undefined until the worker has started its engines. */
  models: CatalogEntryView[] | undefined;
}

/** `POST /api/models/:id/load` and `/unload`: 202 when started, 200 when there was nothing to do. */
export interface ModelActionResponse {
  id: string;
  state: CatalogModelState;
}

/** A refused action: a machine code and a sentence for the operator. */
export interface ActionErrorResponse {
  error: string;
  message: string;
}

export interface AboutResponse {
  version: string;
  configPath: string;
  logPath: string | undefined;
  node: string;
  platform: string;
  updateCheck: boolean;
}

export interface UpdateCheckResponse {
  current: string;
  latest?: string;
  updateAvailable: boolean;
  message: string;
}

/** Server-sent events (`GET /api/events`): the event name, and its JSON data. */
export interface DashboardEvents {
  status: StatusResponse;
  jobs: JobsResponse;
  /** New records, oldest first; the first message after connecting carries the whole ring. */
  logs: { records: LogRecord[]; reset: boolean };
  downloads: DownloadView[];
}
