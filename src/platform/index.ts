/**
 * The host: what this machine is (hostname, user, VRAM probes) and how the worker is installed on
 * it (a service per OS, an autostart entry for the dashboard).
 */
export { probeHost } from './host.js';
export type { HostInfo, HostProbeOptions } from './host.js';
export { parseRocmSmiVram } from './vram.js';
export { probeGpu, parseNvidiaSmiState, gpuPinEnv, listGpus } from './gpu.js';
export type { GpuReading, GpuProbeContext, GpuList } from './gpu.js';
export { createCommandRunner } from './exec.js';
export { ldconfigCache } from './ldconfig.js';
export type { CommandResult, CommandRunner, RunnerOptions } from './exec.js';
export { WORKER_NODE_FLAGS, cliArgs, currentTarget, gpuConfigDir, resolveEntryScript } from './target.js';
export type { ServiceTarget } from './target.js';
export { servicePlan } from './plan.js';
export type { PlannedCommand, ServicePlan } from './plan.js';
export { installService, uninstallService } from './service.js';
export type { ServiceOptions, ServiceReport } from './service.js';
export { reconcileAutostart, parseRegQuery, RUN_KEY } from './autostart.js';
export type { AutostartOptions, AutostartResult } from './autostart.js';
export { SERVICE_NAME, LAUNCHD_LABEL, LAUNCHD_UI_LABEL } from './files.js';
export {
  readIdleTime,
  systemIdleProbe,
  presenceSources,
  parseXprintidle,
  parseGdbusIdle,
  parseIoregIdle,
  parseWindowsIdle,
  IDLE_AFTER_MS,
} from './presence.js';
export type { IdleReading, IdleProbe } from './presence.js';
export { IdleHelper, WINDOWS_IDLE_SCRIPT, windowsIdleHelperCommand } from './idle-helper.js';
export type { IdleHelperOptions } from './idle-helper.js';
export { trimLogs, LOG_TRIM_MAX_BYTES, LOG_TRIM_KEEP } from './log-trim.js';
export { originalEntries, removeOriginalEntries, ORIGINAL_TASK, ORIGINAL_SYSTEMD_UNIT } from './legacy.js';
export type { OriginalEntry, OriginalRemoval } from './legacy.js';
