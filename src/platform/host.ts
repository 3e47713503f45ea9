import { execFile } from 'node:child_process';
import { hostname, userInfo } from 'node:os';
import type { Logger } from 'pino';
import { toError } from '../util/index.js';

export interface HostInfo {
  machineName: string;
  username: string;
  vramTotalGb: number;
}

function runProbe(cmd: string, args: string[], timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, windowsHide: true }, (err, stdout) => {
      if (err) reject(toError(err));
      else resolve(stdout);
    });
  });
}

/** Total VRAM of the NVIDIA GPUs `nvidia-smi` lists, in GB; 0 with a logged reason when none. */
async function probeVramGb(log: Logger): Promise<number> {
  try {
    const out = await runProbe('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits']);
    const mib = out
      .split('\n')
      .map((l) => Number.parseFloat(l.trim()))
      .filter((n) => Number.isFinite(n));
    if (mib.length === 0) {
      log.info('vram probe: nvidia-smi listed no GPU; reporting 0 GB');
      return 0;
    }
    const gb = Math.round((mib.reduce((a, b) => a + b, 0) / 1024) * 10) / 10;
    log.info(`vram probe: ${mib.length} NVIDIA GPU(s), ${gb} GB in total (nvidia-smi)`);
    return gb;
  } catch (e) {
    const err = toError(e) as Error & { code?: string };
    const why = err.code === 'ENOENT' ? 'nvidia-smi is not installed' : err.message;
    log.info(`vram probe: ${why}; reporting 0 GB (no GPU found)`);
    return 0;
  }
}

/** What the capabilities say about this machine. */
export async function probeHost(log: Logger): Promise<HostInfo> {
  const probeLog = log.child({ category: 'platform' });
  let username = process.env.USER ?? process.env.USERNAME ?? 'unknown';
  try {
    username = userInfo().username;
  } catch (e) {
    probeLog.info(`user probe: ${toError(e).message}; using ${username}`);
  }
  return { machineName: hostname(), username, vramTotalGb: await probeVramGb(probeLog) };
}
