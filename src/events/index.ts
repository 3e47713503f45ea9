import type { Logger } from 'pino';
import type { Claim, TaskKind } from '../protocol/index.js';
import { toError } from '../util/index.js';

/** Where a job came from: the studio, the local API, or the LAN streaming speech listener. */
export type JobSource = 'studio' | 'local' | 'stream';

/**
 * Everything observers (logs, dashboard, tray, tests) can see happen, named `noun:verb`.
 * Payloads are plain data so a listener can serialise them as they are.
 */
export interface WorkerEvents {
  'worker:state': { state: WorkerLifecycleState; reason?: string };
  'worker:paused': { paused: boolean };
  'registration:state': { state: 'pristine' | 'pending' | 'approved' | 'rejected'; requestId?: string };
  'session:connecting': { attempt: number; url: string };
  'session:welcomed': { workerId: string };
  'session:closed': { code: number; reason: string };
  'session:reconnecting': { attempt: number; delayMs: number };
  /** `local`: a local API request (see local-api/); `stream`: a streaming speech session; else a studio offer. */
  'job:offered': { claim: Claim; source?: JobSource };
  'job:accepted': { jobId: string; kind: TaskKind; model: string };
  'job:rejected': { jobId: string; reason: string; kind?: TaskKind };
  'job:progress': { jobId: string; fraction?: number; message?: string };
  'job:completed': { jobId: string; kind: TaskKind; ms: number; bytes?: number };
  'job:failed': { jobId: string; kind?: TaskKind; error: string; retryable: boolean };
  'upload:retrying': { jobId: string; attempt: number };
  /** A binary result, before its upload; `data` only for results up to 4 MiB (for previews). */
  'job:result': {
    jobId: string;
    kind: TaskKind;
    ext: string;
    bytes: number;
    data?: Uint8Array;
    text?: string;
  };
  'model:download': ModelDownloadProgress;
  /** An engine's child process died while serving a request (its job failed as retryable). */
  'engine:crashed': {
    engine: string;
    signal: string | null;
    code: number | null;
    phase: string;
    message: string;
    at: string;
  };
  /** A GPU backend failed before its first success: the engine uses the next one from now on. */
  'engine:backend-broken': { engine: string; backend: string; reason: string };
}

/** Progress of one model file download (also sent once with `done: true` at the end). */
export interface ModelDownloadProgress {
  filename: string;
  receivedBytes: number;
  totalBytes: number | undefined;
  bytesPerSec: number;
  etaSec: number | undefined;
  done: boolean;
  /** Set when the download ended in an error. */
  error?: string;
}

/** The documented lifecycle of a worker process (see src/worker/README.md). */
export type WorkerLifecycleState =
  'starting' | 'registering' | 'connecting' | 'running' | 'draining' | 'stopped' | 'failed';

type Listener<T> = (payload: T) => void;

/**
 * A typed event stream. `emit` is safe: a listener that throws is logged and skipped, so a bad
 * observer can never break the job loop.
 */
export class WorkerEventBus {
  private readonly listeners = new Map<keyof WorkerEvents, Set<Listener<never>>>();

  constructor(private readonly log?: Logger) {}

  on<K extends keyof WorkerEvents>(name: K, listener: Listener<WorkerEvents[K]>): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  once<K extends keyof WorkerEvents>(name: K, listener: Listener<WorkerEvents[K]>): () => void {
    const off = this.on(name, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  /** How many listeners `name` has (so work only a listener needs can be skipped). */
  listenerCount(name: keyof WorkerEvents): number {
    return this.listeners.get(name)?.size ?? 0;
  }

  emit<K extends keyof WorkerEvents>(name: K, payload: WorkerEvents[K]): void {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<WorkerEvents[K]>)(payload);
      } catch (e) {
        this.log?.error({ err: toError(e), event: name }, `event listener for ${name} threw`);
      }
    }
  }
}
