import type { WorkerLifecycleState } from '../events/index.js';
import type { TaskKind } from '../protocol/index.js';
import type { RegistrationState } from '../registration/index.js';
import type { Availability } from '../runner/index.js';
import type { SessionState } from '../session/index.js';

/** The stream listener as a status shows it: `addr` is host:port, `sessions` those streaming now. */
export type StreamListenerView =
  { on: true; addr: string; path: string; sessions: number } | { on: false; problem: string };

/** A snapshot of everything a status line, the dashboard or a test wants to show. */
export interface WorkerStatus {
  state: WorkerLifecycleState;
  version: string;
  registration: RegistrationState;
  workerId: string | undefined;
  apiBaseUrl: string | undefined;
  vramTotalGb: number | undefined;
  vramThresholdGb: number | undefined;
  paused: boolean;
  /**
   * What heartbeats tell the studio now: whether it may offer jobs (`autoEnabled`) and up to what
   * estimate (`vramThresholdGb`), with why not. Absent before the runner starts.
   */
  availability?: Availability | undefined;
  currentJob:
    | {
        jobId: string;
        kind: TaskKind;
        model: string;
        phase: 'running' | 'uploading' | 'delivering';
        elapsedMs: number;
        progress?: { fraction?: number; message?: string };
      }
    | undefined;
  session: { state: SessionState; nextAttemptAt: number | undefined; lastHeartbeatAt: number | undefined };
  /** Since this config folder's first job (kept across restarts). */
  counts: { completed: number; failed: number; rejected: number };
  jobsLastHour: number;
  /** Since `run()` started. */
  uptimeMs: number | undefined;
  /** Finished results the studio has not taken yet (kept for a re-offer). */
  pendingResults: number;
  /** Each engine: can it run here, and on what (or what is missing). */
  engines: { engine: string; ready: boolean; detail: string; taskKinds: string[] }[];
  /** Free space where jobs write, and why offers are refused for lack of it (if they are). */
  disk: {
    spaces: { label: string; path: string; freeBytes: number | undefined }[];
    problem: string | undefined;
  };
  /** Offers are turned down while the GPU is hotter than this (°C). */
  maxGpuTempC?: number | undefined;
  /** The GPU's latest reading (free memory, temperature, load), when it can be read. */
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
    /** The LAN streaming speech listener beside it (while the local API is on): where, or why not. */
    stream?: StreamListenerView;
  };
  /** Models loaded between jobs or kept by the operator, and where each is in its life. */
  models: {
    model: string;
    engine?: string;
    state: 'unloaded' | 'loading' | 'loaded' | 'unloading' | 'failed';
    since?: string;
    bytes?: number;
    kept: boolean;
    error?: string;
  }[];
}
