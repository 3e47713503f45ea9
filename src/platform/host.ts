import { arch, hostname, totalmem, userInfo } from 'node:os';
import type { Logger } from 'pino';
import { toError } from '../util/index.js';
import { createCommandRunner } from './exec.js';
import type { CommandRunner } from './exec.js';
import { probeVramGb } from './vram.js';

export interface HostInfo {
  machineName: string;
  username: string;
  vramTotalGb: number;
}

/** What the probes look at; defaults are this process's. Tests point them at stand-ins. */
export interface HostProbeOptions {
  platform?: NodeJS.Platform;
  arch?: string;
  /** Environment whose PATH is searched for nvidia-smi / rocm-smi. */
  env?: NodeJS.ProcessEnv;
  procRoot?: string;
  sysRoot?: string;
  totalMemBytes?: number;
  run?: CommandRunner;
  /** Probe only this GPU (`--gpu N`). */
  gpuIndex?: number | undefined;
}

function probeUsername(log: Logger, env: NodeJS.ProcessEnv): string {
  const fallback = env.USER ?? env.USERNAME ?? 'unknown';
  try {
    const name = userInfo().username;
    log.debug(`user probe: ${name} (os.userInfo)`);
    return name;
  } catch (e) {
    log.info(
      `user probe: os.userInfo failed (${toError(e).message}); using ${fallback} from the environment`,
    );
    return fallback;
  }
}

/** What the capabilities say about this machine. */
export async function probeHost(log: Logger, opts: HostProbeOptions = {}): Promise<HostInfo> {
  const probeLog = log.child({ category: 'platform' });
  const env = opts.env ?? process.env;
  const machineName = hostname();
  probeLog.debug(`host probe: machine name ${machineName} (os.hostname)`);
  const username = probeUsername(probeLog, env);
  const vramTotalGb = await probeVramGb({
    log: probeLog,
    run: opts.run ?? createCommandRunner({ timeoutMs: 5000, env }),
    platform: opts.platform ?? process.platform,
    arch: opts.arch ?? arch(),
    procRoot: opts.procRoot ?? '/proc',
    sysRoot: opts.sysRoot ?? '/sys',
    totalMemBytes: opts.totalMemBytes ?? totalmem(),
    gpuIndex: opts.gpuIndex,
  });
  return { machineName, username, vramTotalGb };
}
