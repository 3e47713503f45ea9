import type { ConfigStore } from '../config/index.js';
import type { Engine } from '../engines/index.js';
import type { LogShipper, WorkerLogger } from '../logs/index.js';
import type { GpuReading, HostInfo, IdleReading } from '../platform/index.js';

export interface WorkerOptions {
  store: ConfigStore;
  log: WorkerLogger;
  shipper: LogShipper;
  /** Engines to serve; default: every engine this build ships (`createEngines`). */
  engines?: Engine[];
  /** Skip the host probes (tests, benchmarks). */
  host?: HostInfo;
  registrationPollMs?: number;
  retryBackoff?: { baseMs: number; capMs: number };
  reconnectBackoff?: { baseMs: number; capMs: number };
  uploadBackoff?: { baseMs: number; capMs: number };
  /** How long transient upload failures are retried before the job is failed as retryable (10 min). */
  uploadGiveUpMs?: number;
  heartbeatMs?: number;
  logFlushMs?: number;
  deadAfterMs?: number;
  /** How long a stop waits for the running job before cancelling it. */
  graceMs?: number;
  /** Free bytes on the disk of a folder (default: statfs); a test can play a full disk with it. */
  freeBytes?: (dir: string) => Promise<number>;
  /** How often free disk space is measured (default 10 s). */
  diskCheckMs?: number;
  /** Reads the GPU's free memory and temperature (default: nvidia-smi, amdgpu sysfs, unified memory). */
  gpuProbe?: () => Promise<GpuReading | { reason: string }>;
  /** How often the GPU is read (default 5 s). */
  gpuCheckMs?: number;
  /** Pin to this GPU (`run --gpu N`; default: config `gpu`, else every GPU). */
  gpu?: number | undefined;
  /** Reads the input-idle time (default: the OS's, see platform/presence.ts); tests play a person with it. */
  idleProbe?: () => Promise<IdleReading | { reason: string }>;
  /**
   * Serve the local API (and the LAN stream listener beside it) while the worker runs (`run` and
   * `ui` do; default off, so tests and embedders choose). `port` overrides
   * STUDIO_WORKER_LOCAL_API_PORT and local_api_port (0 = any free port, the stream listener's too);
   * `streamPort` overrides STUDIO_WORKER_STREAM_PORT and stream_port.
   */
  localApi?: { port?: number; streamPort?: number } | false;
}
