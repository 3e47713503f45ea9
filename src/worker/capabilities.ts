import type { WorkerConfig } from '../config/types.js';
import type { DispatcherCapabilities } from '../engines/index.js';
import type { HostInfo } from '../platform/index.js';
import type { Capabilities } from '../protocol/index.js';
import type { Availability } from '../runner/index.js';
import { VERSION } from '../version.js';

/**
 * The capabilities a worker announces (register-request, hello, every heartbeat): this machine,
 * the operator's settings, and what the engines serve. `paused` and `availability` are runtime
 * state, never saved.
 */
export function buildCapabilities(opts: {
  host: HostInfo;
  config: Pick<WorkerConfig, 'vramThresholdGb' | 'autoStart'> &
    Partial<Pick<WorkerConfig, 'autoUpdateEnabled' | 'onlyWhenIdle' | 'startMinimised'>>;
  engines: DispatcherCapabilities;
  paused: boolean;
  /**
   * Whether the worker can take jobs now and up to what size (see runner/availability.ts): said
   * as `autoEnabled`, the way the original says "paused", and as `vramThresholdGb`, so the studio
   * stops offering what would only be turned down.
   */
  availability?: Pick<Availability, 'available' | 'vramThresholdGb'> | undefined;
  /** `idle` or `active`; left out while unknown, as the original leaves it out. */
  userPresence?: 'idle' | 'active' | undefined;
}): Capabilities {
  const { host, config, engines } = opts;
  return {
    machineName: host.machineName,
    username: host.username,
    agentVersion: VERSION,
    engine: 'multi',
    vramTotalGb: host.vramTotalGb,
    vramThresholdGb: opts.availability?.vramThresholdGb ?? config.vramThresholdGb,
    autoEnabled: !opts.paused && (opts.availability?.available ?? true),
    autoStart: config.autoStart,
    supportedModels: engines.supportedModels,
    taskKinds: engines.taskKinds,
    supportedModelsPerKind: engines.supportedModelsPerKind,
    ...(config.autoUpdateEnabled !== undefined ? { autoUpdate: config.autoUpdateEnabled } : {}),
    ...(config.startMinimised !== undefined ? { startMinimised: config.startMinimised } : {}),
    ...(config.onlyWhenIdle !== undefined ? { onlyWhenIdle: config.onlyWhenIdle } : {}),
    ...(opts.userPresence ? { userPresence: opts.userPresence } : {}),
  };
}
