import os from 'node:os';
import path from 'node:path';
import type { WorkerConfig } from './types.js';

/** Contract §6 defaults. Internal keys without a value stay absent. */
export const DEFAULT_CONFIG: Readonly<WorkerConfig> = Object.freeze({
  apiBaseUrl: 'https://studio.minis.gg/',
  vramThresholdGb: 12.0,
  autoStart: true,
  autoUpdateEnabled: true,
  autoUpdateIntervalSecs: 1800,
  autoUpdateFeed: 'https://api.github.com/repos/minis-gg/studio-worker/releases',
  autoUpdatePrerelease: false,
  // Stored literally so a config file moves between machines and users; callers expandHome() it.
  modelsRoot: '~/models',
  llmIdleUnloadSecs: 300,
  imageIdleUnloadSecs: 300,
  maxGpuTempC: 85,
  gpuOffload: true,
  allowInsecureDownloads: false,
  dashboardPort: 7878,
  localApiPort: 4787,
  streamPort: 4798,
  fsyncResults: false,
  onlyWhenIdle: false,
  // The original's default, so configs written before the key existed read true too.
  startMinimised: true,
  notifyJobCompleted: false,
  notifyJobFailed: false,
  notifyRegistrationApproved: false,
  llmThreads: 0,
  // Long enough for a cold load of a large model that reports progress; a wedged GPU is not.
  jobStallTimeoutSecs: 600,
  jobTimeoutSecs: 3600,
  // 0 = never give up: a worker started from a terminal, `ui` or autostart has nothing to restart it.
  wsReconnectAttempts: 0,
});

/** Expands a leading `~` (alone, or followed by `/` or `\`) to the home directory. */
export function expandHome(p: string, home: string = os.homedir()): string {
  if (p === '~') return home;
  if (p.startsWith('~/') || p.startsWith('~\\')) return path.join(home, p.slice(2));
  return p;
}
