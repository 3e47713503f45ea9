import { z } from 'zod';
import type { WorkerConfig } from './types.js';

/**
 * The one table every part of config/ reads: a field's TOML spelling, its schema, its group and its
 * default. Adding a config field starts here (see README.md).
 */
export interface FieldSpec<K extends keyof WorkerConfig = keyof WorkerConfig> {
  key: K;
  toml: string;
  /** Operator fields are what people edit; internal fields are state the worker manages itself. */
  group: 'operator' | 'internal';
  schema: z.ZodType<NonNullable<WorkerConfig[K]>>;
  /** Masked by `config` and never logged. */
  secret?: boolean;
}

const httpUrl = z.string().refine(isHttpUrl, {
  error: (issue) => `expected an http(s) URL, got ${JSON.stringify(issue.input)}`,
});
const nonNegative = z
  .number()
  .min(0, { error: (issue) => `must not be negative, got ${String(issue.input)}` });
const nonNegativeInt = z
  .number()
  .int({ message: 'expected a whole number' })
  .min(0, { message: 'must not be negative' });
const text = z.string();
const port = z.number().int({ message: 'expected a whole number' }).min(1).max(65535);

/** Checks that a row's schema produces the type of its WorkerConfig key. */
function field<K extends keyof WorkerConfig>(spec: FieldSpec<K>): FieldSpec {
  return spec;
}

/** In save order: operator fields first, then internal state. */
export const FIELDS: readonly FieldSpec[] = [
  field({ key: 'apiBaseUrl', toml: 'api_base_url', group: 'operator', schema: httpUrl }),
  field({ key: 'vramThresholdGb', toml: 'vram_threshold_gb', group: 'operator', schema: nonNegative }),
  field({ key: 'autoStart', toml: 'auto_start', group: 'operator', schema: z.boolean() }),
  field({ key: 'autoUpdateEnabled', toml: 'auto_update_enabled', group: 'operator', schema: z.boolean() }),
  field({
    key: 'autoUpdateIntervalSecs',
    toml: 'auto_update_interval_secs',
    group: 'operator',
    schema: nonNegative,
  }),
  field({ key: 'autoUpdateFeed', toml: 'auto_update_feed', group: 'operator', schema: httpUrl }),
  field({
    key: 'autoUpdatePrerelease',
    toml: 'auto_update_prerelease',
    group: 'operator',
    schema: z.boolean(),
  }),
  field({ key: 'modelsRoot', toml: 'models_root', group: 'operator', schema: z.string().min(1) }),
  field({ key: 'sdCliPath', toml: 'sd_cli_path', group: 'operator', schema: z.string().min(1) }),
  field({ key: 'dashboardPort', toml: 'dashboard_port', group: 'operator', schema: port }),
  field({ key: 'notifyJobCompleted', toml: 'notify_job_completed', group: 'operator', schema: z.boolean() }),
  field({ key: 'notifyJobFailed', toml: 'notify_job_failed', group: 'operator', schema: z.boolean() }),
  field({
    key: 'notifyRegistrationApproved',
    toml: 'notify_registration_approved',
    group: 'operator',
    schema: z.boolean(),
  }),
  field({ key: 'gpuOffload', toml: 'gpu_offload', group: 'operator', schema: z.boolean() }),
  field({
    key: 'allowInsecureDownloads',
    toml: 'allow_insecure_downloads',
    group: 'operator',
    schema: z.boolean(),
  }),
  field({ key: 'llmThreads', toml: 'llm_threads', group: 'operator', schema: nonNegativeInt }),
  field({
    key: 'jobStallTimeoutSecs',
    toml: 'job_stall_timeout_secs',
    group: 'operator',
    schema: z.number().positive('must be more than 0 seconds'),
  }),
  field({
    key: 'jobTimeoutSecs',
    toml: 'job_timeout_secs',
    group: 'operator',
    schema: z.number().positive('must be more than 0 seconds'),
  }),
  field({
    key: 'engineMaxRssGb',
    toml: 'engine_max_rss_gb',
    group: 'operator',
    schema: z.number().positive('must be more than 0 GB'),
  }),
  field({
    key: 'llmIdleUnloadSecs',
    toml: 'llm_idle_unload_secs',
    group: 'operator',
    schema: nonNegative,
  }),
  field({
    key: 'imageIdleUnloadSecs',
    toml: 'image_idle_unload_secs',
    group: 'operator',
    schema: nonNegative,
  }),
  field({
    key: 'maxGpuTempC',
    toml: 'max_gpu_temp_c',
    group: 'operator',
    schema: z.number().min(0).max(150),
  }),
  field({ key: 'gpu', toml: 'gpu', group: 'operator', schema: nonNegativeInt }),
  field({ key: 'onlyWhenIdle', toml: 'only_when_idle', group: 'operator', schema: z.boolean() }),
  field({ key: 'startMinimised', toml: 'start_minimised', group: 'operator', schema: z.boolean() }),
  field({ key: 'fsyncResults', toml: 'fsync_results', group: 'operator', schema: z.boolean() }),
  field({ key: 'localApiPort', toml: 'local_api_port', group: 'operator', schema: port }),
  field({ key: 'streamPort', toml: 'stream_port', group: 'operator', schema: port }),
  field({ key: 'localApiToken', toml: 'local_api_token', group: 'internal', schema: text, secret: true }),
  field({ key: 'workerId', toml: 'worker_id', group: 'internal', schema: text }),
  field({ key: 'authToken', toml: 'auth_token', group: 'internal', schema: text, secret: true }),
  field({
    key: 'wsReconnectAttempts',
    toml: 'ws_reconnect_attempts',
    group: 'internal',
    schema: nonNegativeInt,
  }),
  field({ key: 'installId', toml: 'install_id', group: 'internal', schema: text }),
  field({ key: 'registrationRequestId', toml: 'registration_request_id', group: 'internal', schema: text }),
  field({
    key: 'registrationSecret',
    toml: 'registration_secret',
    group: 'internal',
    schema: text,
    secret: true,
  }),
  field({
    key: 'registrationRequestedAt',
    toml: 'registration_requested_at',
    group: 'internal',
    schema: text,
  }),
  field({
    key: 'registrationRejectedReason',
    toml: 'registration_rejected_reason',
    group: 'internal',
    schema: text,
  }),
];

export const FIELDS_BY_TOML: ReadonlyMap<string, FieldSpec> = new Map(FIELDS.map((f) => [f.toml, f]));

function isHttpUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const { protocol } = new URL(value);
  return protocol === 'http:' || protocol === 'https:';
}
