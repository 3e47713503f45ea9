import path from 'node:path';
import { UserError } from '../util/index.js';
import {
  HEADER,
  LAUNCHD_LABEL,
  SERVICE_NAME,
  launchdPlist,
  scheduledTaskXml,
  systemdUnit,
  utf16le,
} from './files.js';
import type { ServiceTarget } from './target.js';
import { cliArgs, launchdDomain, localAppData, xdgConfigHome } from './target.js';

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
  logsCommand: string;
  /** The log files the service manager writes the worker's output to (none where journald keeps it). */
  logFiles: string[];
}

function linuxPlan(t: ServiceTarget): ServicePlan {
  const unit = `${SERVICE_NAME}.service`;
  const ctl = (...args: string[]): string[] => ['systemctl', '--user', ...args];
  return {
    files: [
      { path: path.join(xdgConfigHome(t), 'systemd', 'user', unit), content: Buffer.from(systemdUnit(t)) },
    ],
    dirs: [],
    probe: ctl('show-environment'),
    install: [
      { argv: ctl('daemon-reload') },
      { argv: ctl('enable', '--now', unit) },
      { argv: ctl('try-restart', unit), onlyIfChanged: true },
    ],
    uninstallBefore: [{ argv: ctl('disable', '--now', unit), mayFail: true }],
    uninstallAfter: [{ argv: ctl('daemon-reload'), mayFail: true }],
    logsCommand: `journalctl --user -u ${SERVICE_NAME} -f`,
    logFiles: [],
  };
}

function macPlan(t: ServiceTarget): ServicePlan {
  const plist = path.join(t.home, 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`);
  const logDir = path.join(t.home, 'Library', 'Logs', SERVICE_NAME);
  const content = launchdPlist({
    label: LAUNCHD_LABEL,
    args: [t.nodePath, ...cliArgs(t, ['run'])],
    keepAlive: true,
    env: { NODE_ENV: 'production' },
    stdoutPath: path.join(logDir, 'worker.log'),
    stderrPath: path.join(logDir, 'worker.err.log'),
    comment: HEADER,
  });
  const service = `${launchdDomain(t)}/${LAUNCHD_LABEL}`;
  return {
    files: [{ path: plist, content: Buffer.from(content) }],
    dirs: [logDir],
    install: [
      // launchd keeps the definition it loaded: a changed plist takes effect only after a bootout
      { argv: ['launchctl', 'bootout', service], mayFail: true, onlyIfChanged: true },
      { argv: ['launchctl', 'bootstrap', launchdDomain(t), plist], unless: ['launchctl', 'print', service] },
    ],
    uninstallBefore: [{ argv: ['launchctl', 'bootout', service], mayFail: true }],
    uninstallAfter: [],
    logsCommand: `tail -f ${JSON.stringify(path.join(logDir, 'worker.log'))} ${JSON.stringify(path.join(logDir, 'worker.err.log'))}`,
    logFiles: [path.join(logDir, 'worker.log'), path.join(logDir, 'worker.err.log')],
  };
}

function windowsPlan(t: ServiceTarget): ServicePlan {
  const dir = path.join(localAppData(t), SERVICE_NAME);
  const logDir = path.join(dir, 'logs');
  const logFile = path.join(logDir, 'worker.log');
  const xml = path.join(dir, `${SERVICE_NAME}-task.xml`);
  return {
    files: [{ path: xml, content: utf16le(scheduledTaskXml(t, logFile)) }],
    dirs: [logDir, dir],
    install: [
      { argv: ['schtasks', '/Create', '/TN', SERVICE_NAME, '/XML', xml, '/F'] },
      { argv: ['schtasks', '/Run', '/TN', SERVICE_NAME], mayFail: true },
    ],
    uninstallBefore: [
      { argv: ['schtasks', '/End', '/TN', SERVICE_NAME], mayFail: true },
      { argv: ['schtasks', '/Delete', '/TN', SERVICE_NAME, '/F'], mayFail: true },
    ],
    uninstallAfter: [],
    logsCommand: `powershell -NoProfile -Command "Get-Content -Wait -Tail 50 '${logFile.replace(/'/g, "''")}'"`,
    logFiles: [logFile],
  };
}

/** What installing the worker as a service means on the target's platform. */
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
