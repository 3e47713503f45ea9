import type { WorkerConfig } from '../config/types.js';
import type { DispatcherCapabilities } from '../engines/index.js';
import type { HostInfo } from '../platform/index.js';
import type { Capabilities } from '../protocol/index.js';
import { VERSION } from '../version.js';

/**
 * The capabilities a worker announces (register-request, hello, every heartbeat): this machine,
 * the operator's settings, and what the engines serve. `paused` is runtime state, never saved.
 */
export function buildCapabilities(opts: {
  host: HostInfo;
  config: Pick<WorkerConfig, 'vramThresholdGb' | 'autoStart'>;
  engines: DispatcherCapabilities;
  paused: boolean;
}): Capabilities {
  const { host, config, engines } = opts;
  return {
    machineName: host.machineName,
    username: host.username,
    agentVersion: VERSION,
    engine: 'multi',
    vramTotalGb: host.vramTotalGb,
    vramThresholdGb: config.vramThresholdGb,
    autoEnabled: !opts.paused,
    autoStart: config.autoStart,
    supportedModels: engines.supportedModels,
    taskKinds: engines.taskKinds,
    supportedModelsPerKind: engines.supportedModelsPerKind,
  };
}
