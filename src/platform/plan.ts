import path from 'node:path';
import { UserError } from '../util/index.js';
import {
  HEADER,
  LAUNCHD_LABEL,
  SERVICE_NAME,
  launchdPlist,
  scheduledTaskXml,
  systemdGpuTemplate,
  systemdUnit,
  utf16le,
} from './files.js';
import type { ServiceTarget } from './target.js';
import { cliArgs, gpuConfigDir, launchdDomain, localAppData, xdgConfigHome } from './target.js';

export interface PlannedCommand {
  argv: string[];
  /** A failure is reported but does not stop the install (e.g. unloading what is not loaded). */
  mayFail?: boolean;
  /** Run only when the file's content changed, so a re-install that changes nothing restarts nothing. */
  onlyIfChanged?: boolean;
  /** Skip this command when this one succeeds (e.g. "already loaded"). */
  unless?: string[];
}

export interface ServicePlan {
  /** The files install writes and uninstall removes; their paths depend only on the target. */
  files: Array<{ path: string; content: Buffer }>;
  /** Folders install creates for logs; uninstall removes them only when empty. */
  dirs: string[];
  /** When this succeeds the service manager is usable here; otherwise commands are printed, not run. */
  probe?: string[];
  install: PlannedCommand[];
  uninstallBefore: PlannedCommand[];
  uninstallAfter: PlannedCommand[];
  /** How to follow the logs: one command per line. */
  logsCommand: string;
  /** The log files the service manager writes the worker's output to (none where journald keeps it). */
  logFiles: string[];
  /** `--gpus`: each GPU's worker and the config folder it runs on (install-service seeds it). */
  gpuWorkers: Array<{ gpu: number; configDir: string; name: string }>;
}

/** One worker the service manager runs: the plain service, or the one pinned to a GPU. */
interface Worker {
  /** The service's name: studio-worker, or studio-worker-gpu<N>. */
  name: string;
  /** Added to the launchd label and log file names: '' or .gpu<N>. */
  suffix: string;
  target: ServiceTarget;
  command: string[];
  gpu?: number;
}

function workersOf(t: ServiceTarget): Worker[] {
  if (!t.gpus || t.gpus.length === 0) {
    return [{ name: SERVICE_NAME, suffix: '', target: t, command: ['run'] }];
  }
  const base = baseConfigDir(t);
  return t.gpus.map((n) => ({
    name: `${SERVICE_NAME}-gpu${n}`,
    suffix: `.gpu${n}`,
    target: { ...t, configDir: gpuConfigDir(base, n) },
    command: ['run', '--gpu', String(n)],
    gpu: n,
  }));
}

function baseConfigDir(t: ServiceTarget): string {
  if (t.configDir === undefined)
    throw new UserError('install-service --gpus needs a config folder to start from');
  return t.configDir;
}

/** Each GPU's worker, named as this platform's service manager knows it. */
function gpuWorkersOf(
  t: ServiceTarget,
  name: (w: Worker) => string = (w) => w.name,
): ServicePlan['gpuWorkers'] {
  return workersOf(t).flatMap((w) =>
    w.gpu === undefined || w.target.configDir === undefined
      ? []
      : [{ gpu: w.gpu, configDir: w.target.configDir, name: name(w) }],
  );
}

function linuxPlan(t: ServiceTarget): ServicePlan {
  const ctl = (...args: string[]): string[] => ['systemctl', '--user', ...args];
  const unitDir = path.join(xdgConfigHome(t), 'systemd', 'user');
  const gpus = t.gpus ?? [];
  // One plain unit, or the template `studio-worker@.service` and an instance per GPU.
  const [file, units] =
    gpus.length === 0
      ? [
          { path: path.join(unitDir, `${SERVICE_NAME}.service`), content: Buffer.from(systemdUnit(t)) },
          [`${SERVICE_NAME}.service`],
        ]
      : [
          {
            path: path.join(unitDir, `${SERVICE_NAME}@.service`),
            content: Buffer.from(systemdGpuTemplate(t, baseConfigDir(t))),
          },
          gpus.map((n) => `${SERVICE_NAME}@${n}.service`),
        ];
  return {
    files: [file],
    dirs: [],
    probe: ctl('show-environment'),
    install: [
      { argv: ctl('daemon-reload') },
      { argv: ctl('enable', '--now', ...units) },
      { argv: ctl('try-restart', ...units), onlyIfChanged: true },
    ],
    uninstallBefore: [{ argv: ctl('disable', '--now', ...units), mayFail: true }],
    uninstallAfter: [{ argv: ctl('daemon-reload'), mayFail: true }],
    logsCommand: `journalctl --user -u ${gpus.length === 0 ? SERVICE_NAME : `'${SERVICE_NAME}@*'`} -f`,
    logFiles: [],
    gpuWorkers: gpuWorkersOf(t, (w) => `${SERVICE_NAME}@${w.gpu}.service`),
  };
}

function macPlan(t: ServiceTarget): ServicePlan {
  const logDir = path.join(t.home, 'Library', 'Logs', SERVICE_NAME);
  const workers = workersOf(t).map((w) => {
    const label = `${LAUNCHD_LABEL}${w.suffix}`;
    const plist = path.join(t.home, 'Library', 'LaunchAgents', `${label}.plist`);
    const logs = [path.join(logDir, `worker${w.suffix}.log`), path.join(logDir, `worker${w.suffix}.err.log`)];
    const content = launchdPlist({
      label,
      args: [t.nodePath, ...cliArgs(w.target, w.command)],
      keepAlive: true,
      env: { NODE_ENV: 'production' },
      stdoutPath: logs[0],
      stderrPath: logs[1],
      comment: HEADER,
    });
    const service = `${launchdDomain(t)}/${label}`;
    return { plist, logs, content, service };
  });
  return {
    files: workers.map((w) => ({ path: w.plist, content: Buffer.from(w.content) })),
    dirs: [logDir],
    install: workers.flatMap((w) => [
      // launchd keeps the definition it loaded: a changed plist takes effect only after a bootout
      { argv: ['launchctl', 'bootout', w.service], mayFail: true, onlyIfChanged: true },
      {
        argv: ['launchctl', 'bootstrap', launchdDomain(t), w.plist],
        unless: ['launchctl', 'print', w.service],
      },
    ]),
    uninstallBefore: workers.map((w) => ({ argv: ['launchctl', 'bootout', w.service], mayFail: true })),
    uninstallAfter: [],
    logsCommand: `tail -f ${workers.flatMap((w) => w.logs.map((f) => JSON.stringify(f))).join(' ')}`,
    logFiles: workers.flatMap((w) => w.logs),
    gpuWorkers: gpuWorkersOf(t),
  };
}

function windowsPlan(t: ServiceTarget): ServicePlan {
  const dir = path.join(localAppData(t), SERVICE_NAME);
  const logDir = path.join(dir, 'logs');
  const workers = workersOf(t).map((w) => {
    const logFile = path.join(logDir, `worker${w.suffix.replace('.', '-')}.log`);
    const outFile = path.join(logDir, `worker${w.suffix.replace('.', '-')}.out.log`);
    const xml = path.join(dir, `${w.name}-task.xml`);
    const task = { name: w.name, command: w.command };
    const content = utf16le(scheduledTaskXml(w.target, { logFile, outFile }, task));
    return { name: w.name, logFile, outFile, xml, content };
  });
  return {
    files: workers.map((w) => ({ path: w.xml, content: w.content })),
    dirs: [logDir, dir],
    install: workers.flatMap((w) => [
      { argv: ['schtasks', '/Create', '/TN', w.name, '/XML', w.xml, '/F'] },
      { argv: ['schtasks', '/Run', '/TN', w.name], mayFail: true },
    ]),
    uninstallBefore: workers.flatMap((w) => [
      { argv: ['schtasks', '/End', '/TN', w.name], mayFail: true },
      { argv: ['schtasks', '/Delete', '/TN', w.name, '/F'], mayFail: true },
    ]),
    uninstallAfter: [],
    logsCommand: workers
      .map(
        (w) =>
          `powershell -NoProfile -Command "Get-Content -Wait -Tail 50 '${w.logFile.replace(/'/g, "''")}'"`,
      )
      .join('\n'),
    // worker.log is rotated by the worker (`--log-file`); the trim at start leaves it alone.
    logFiles: workers.flatMap((w) => [w.logFile, w.outFile]),
    gpuWorkers: gpuWorkersOf(t),
  };
}

/** What installing the worker as a service (or one per GPU) means on the target's platform. */
export function servicePlan(t: ServiceTarget): ServicePlan {
  switch (t.platform) {
    case 'linux':
      return linuxPlan(t);
    case 'darwin':
      return macPlan(t);
    case 'win32':
      return windowsPlan(t);
    default:
      throw new UserError(`no service manager is supported on ${t.platform} (only Linux, macOS and Windows)`);
  }
}
