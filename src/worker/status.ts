import type { WorkerLifecycleState } from '../events/index.js';
import type { TaskKind } from '../protocol/index.js';
import type { RegistrationState } from '../registration/index.js';
import type { SessionState } from '../session/index.js';

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
  counts: { completed: number; failed: number; rejected: number };
  /** Free space where jobs write, and why offers are refused for lack of it (if they are). */
  disk: {
    spaces: { label: string; path: string; freeBytes: number | undefined }[];
    problem: string | undefined;
  };
}
