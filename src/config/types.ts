/**
 * The resolved config: every key of the contract (§6) with its default applied. TOML keys are the
 * snake_case spellings of these fields (`apiBaseUrl` ↔ `api_base_url`).
 */
export interface WorkerConfig {
  // Operator fields
  apiBaseUrl: string;
  vramThresholdGb: number;
  autoStart: boolean;
  autoUpdateEnabled: boolean;
  autoUpdateIntervalSecs: number;
  autoUpdateFeed: string;
  autoUpdatePrerelease: boolean;
  modelsRoot: string;
  /** Path of stable-diffusion.cpp's `sd-cli`; unset = look it up on PATH. Ours, beyond the contract. */
  sdCliPath?: string | undefined;
  /** A loaded LLM is unloaded after this many idle seconds (0 = keep loaded). Ours, beyond the contract. */
  llmIdleUnloadSecs: number;
  /** Stop the warm sd-server after this long without an image job; 0 = sd-cli per job, no warm server. */
  imageIdleUnloadSecs: number;
  /** Offers are rejected while the GPU is hotter than this (°C). */
  maxGpuTempC: number;
  /** Offload models to the GPU where the backend supports it (false = CPU only). Ours, beyond the contract. */
  gpuOffload: boolean;
  /** Plain-http downloads from other hosts than this machine (off: https only). */
  allowInsecureDownloads: boolean;
  /** Port of the local dashboard (`studio-worker ui`). Ours, beyond the contract. */
  dashboardPort: number;
  /** Desktop notifications (off by default). Ours, beyond the contract. */
  notifyJobCompleted: boolean;
  notifyJobFailed: boolean;
  notifyRegistrationApproved: boolean;
  /**
   * Each result is made durable (fsync of the file, its sidecar and the folder) before its upload,
   * so it survives a power cut, not only a killed process. Ours, beyond the contract.
   */
  fsyncResults: boolean;
  /** Pin this worker to one GPU (its index), as `run --gpu N`; unset = every GPU the engines see. */
  gpu?: number | undefined;
  /** Take studio work only while nobody uses this computer (the original's `only_when_idle`). */
  onlyWhenIdle: boolean;
  /**
   * The original's tray window starts hidden (`start_minimised`, default true). This worker has no
   * window of its own; the setting is kept and told to the studio in capabilities, as the original does.
   */
  startMinimised: boolean;
  /** Port of the local API on 127.0.0.1 (the original's `local_api_port`, default 4787). */
  localApiPort: number;
  /**
   * Port of the LAN streaming speech listener on 0.0.0.0 (the original's `stream_port`, default
   * 4798); `STUDIO_WORKER_STREAM_PORT` wins over it.
   */
  streamPort: number;
  /** Bearer token of the local API, generated once (the original's `local_api_token`). Internal. */
  localApiToken?: string | undefined;
  /** CPU threads an LLM may use (0 = one per core available). Ours, beyond the contract. */
  llmThreads: number;
  /**
   * A job whose engine reports no progress (bytes, load, steps, tokens) for this long is stopped and
   * failed as retryable. Ours, beyond the original.
   */
  jobStallTimeoutSecs: number;
  /** A job running longer than this is stopped and failed as retryable. Ours, beyond the original. */
  jobTimeoutSecs: number;
  /**
   * An engine process whose resident memory passes this many GB is stopped (its job fails as
   * retryable); unset = 85 % of the machine's RAM. Ours, beyond the original.
   */
  engineMaxRssGb?: number | undefined;
  // Internal state, managed by the worker (secrets masked by `config` and never logged)
  workerId?: string | undefined;
  authToken?: string | undefined;
  wsReconnectAttempts: number;
  installId?: string | undefined;
  registrationRequestId?: string | undefined;
  registrationSecret?: string | undefined;
  /** When the pending registration request was posted (ISO 8601); ours, beyond the contract's keys. */
  registrationRequestedAt?: string | undefined;
  /** Why the operator rejected this worker; set only in the Rejected state. Ours, beyond the contract. */
  registrationRejectedReason?: string | undefined;
}

/** Keys of WorkerConfig that hold secrets: masked by `config`, redacted from logs and telemetry. */
export const SECRET_KEYS = ['authToken', 'registrationSecret'] as const;
