import { desktopExecArg, systemdArg, windowsArg, xmlEscape } from './quote.js';
import type { ServiceTarget } from './target.js';
import { cliArgs, gpuConfigDir, windowsUserId } from './target.js';

export const SERVICE_NAME = 'studio-worker';
export const LAUNCHD_LABEL = 'gg.minis.studio-worker';
export const LAUNCHD_UI_LABEL = 'gg.minis.studio-worker.ui';

export const HEADER =
  'Written by `studio-worker install-service`; `studio-worker uninstall-service` removes it.';

/**
 * A systemd user unit. Exit codes 2 (usage / corrupt config) and 3 (the studio refused this
 * worker) are not restarted: retrying cannot fix them and would only fill the journal.
 */
export function systemdUnit(t: ServiceTarget): string {
  return unitText(t, ['run'], {
    description: 'studio-worker, the minis.gg studio generation worker',
    syslogIdentifier: SERVICE_NAME,
  });
}

/**
 * The template unit `studio-worker@.service` of `install-service --gpus`: instance N runs
 * `run --gpu N` on its own config folder `<config>/gpu-N`, so each GPU is a worker of its own.
 */
export function systemdGpuTemplate(t: ServiceTarget, baseConfigDir: string): string {
  // systemdArg doubles every `%`, so the instance specifier goes in after quoting.
  const marker = '\u0000instance\u0000';
  return unitText({ ...t, configDir: gpuConfigDir(baseConfigDir, marker) }, ['run', '--gpu', marker], {
    description: 'studio-worker on GPU %i, the minis.gg studio generation worker',
    syslogIdentifier: `${SERVICE_NAME}@%i`,
  })
    .replaceAll(`"${marker}"`, '%i')
    .replaceAll(marker, '%i');
}

function unitText(
  t: ServiceTarget,
  command: string[],
  opts: { description: string; syslogIdentifier: string },
): string {
  const exec = [t.nodePath, ...cliArgs(t, command)].map(systemdArg).join(' ');
  return [
    `# ${HEADER}`,
    '[Unit]',
    `Description=${opts.description}`,
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${exec}`,
    'Restart=on-failure',
    'RestartSec=5',
    'RestartPreventExitStatus=2 3',
    'Environment=NODE_ENV=production',
    'StandardOutput=journal',
    'StandardError=journal',
    `SyslogIdentifier=${opts.syslogIdentifier}`,
    // `run` waits up to 30 s for the running job on SIGTERM
    'TimeoutStopSec=45',
    // After an auto-update the first process stays as a thin supervisor and forwards SIGTERM to
    // the new version; with the default control-group mode the worker would get it twice.
    'KillMode=mixed',
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
}

export interface PlistSpec {
  label: string;
  args: string[];
  keepAlive: boolean;
  stdoutPath?: string;
  stderrPath?: string;
  env?: Record<string, string>;
  /** Who wrote the file and what removes it. */
  comment: string;
}

export function launchdPlist(spec: PlistSpec): string {
  const str = (s: string): string => `<string>${xmlEscape(s)}</string>`;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    `<!-- ${xmlEscape(spec.comment).replace(/--/g, '- -')} -->`,
    '<plist version="1.0">',
    '<dict>',
    `  <key>Label</key>`,
    `  ${str(spec.label)}`,
    '  <key>ProgramArguments</key>',
    '  <array>',
    ...spec.args.map((a) => `    ${str(a)}`),
    '  </array>',
    '  <key>RunAtLoad</key>',
    '  <true/>',
  ];
  if (spec.keepAlive) lines.push('  <key>KeepAlive</key>', '  <true/>');
  if (spec.env) {
    lines.push('  <key>EnvironmentVariables</key>', '  <dict>');
    for (const [k, v] of Object.entries(spec.env))
      lines.push(`    <key>${xmlEscape(k)}</key>`, `    ${str(v)}`);
    lines.push('  </dict>');
  }
  if (spec.stdoutPath) lines.push('  <key>StandardOutPath</key>', `  ${str(spec.stdoutPath)}`);
  if (spec.stderrPath) lines.push('  <key>StandardErrorPath</key>', `  ${str(spec.stderrPath)}`);
  lines.push('</dict>', '</plist>', '');
  return lines.join('\n');
}

/**
 * A Task Scheduler 1.2 task: at this user's logon, restarted on failure, no run-time limit (the
 * default of 72 hours would stop a long-running worker). The worker writes its log to `logFile`
 * itself (`--log-file`), rotating it; cmd.exe's `>>` could not be rotated (it writes on at its own
 * offset). Only what bypasses the logger (an error before it starts, a crash trace) goes through
 * cmd.exe's `>>` to `outFile`, which stays small.
 */
export function scheduledTaskXml(
  t: ServiceTarget,
  logs: { logFile: string; outFile: string },
  task: { name: string; command: string[] } = { name: SERVICE_NAME, command: ['run'] },
): string {
  const user = xmlEscape(windowsUserId(t));
  const command = windowsCommandLine(t, [...task.command, '--log-file', logs.logFile]);
  const cmdArgs = `/d /s /c "${command} >> "${logs.outFile}" 2>&1"`;
  return [
    '<?xml version="1.0" encoding="UTF-16"?>',
    '<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">',
    '  <RegistrationInfo>',
    `    <Description>${xmlEscape(HEADER)}</Description>`,
    `    <URI>\\${xmlEscape(task.name)}</URI>`,
    '  </RegistrationInfo>',
    '  <Triggers>',
    '    <LogonTrigger>',
    '      <Enabled>true</Enabled>',
    `      <UserId>${user}</UserId>`,
    '    </LogonTrigger>',
    '  </Triggers>',
    '  <Principals>',
    '    <Principal id="Author">',
    `      <UserId>${user}</UserId>`,
    '      <LogonType>InteractiveToken</LogonType>',
    '      <RunLevel>LeastPrivilege</RunLevel>',
    '    </Principal>',
    '  </Principals>',
    '  <Settings>',
    '    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>',
    '    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>',
    '    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>',
    '    <AllowHardTerminate>true</AllowHardTerminate>',
    '    <StartWhenAvailable>true</StartWhenAvailable>',
    '    <AllowStartOnDemand>true</AllowStartOnDemand>',
    '    <Enabled>true</Enabled>',
    '    <Hidden>false</Hidden>',
    '    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>',
    '    <Priority>7</Priority>',
    '    <RestartOnFailure>',
    '      <Interval>PT1M</Interval>',
    '      <Count>999</Count>',
    '    </RestartOnFailure>',
    '  </Settings>',
    '  <Actions Context="Author">',
    '    <Exec>',
    `      <Command>${xmlEscape('%SystemRoot%\\System32\\cmd.exe')}</Command>`,
    `      <Arguments>${xmlEscape(cmdArgs)}</Arguments>`,
    '    </Exec>',
    '  </Actions>',
    '</Task>',
    '',
  ].join('\r\n');
}

/** schtasks /XML reads UTF-16 little-endian with a byte-order mark. */
export function utf16le(text: string): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
}

/** An XDG autostart entry that starts the dashboard (without opening a browser) at login. */
export function autostartDesktopEntry(t: ServiceTarget): string {
  const exec = [t.nodePath, ...cliArgs(t, ['ui', '--no-open'])].map(desktopExecArg).join(' ');
  return [
    '[Desktop Entry]',
    'Type=Application',
    `Name=${SERVICE_NAME}`,
    'Comment=minis.gg studio worker dashboard (written by studio-worker ui from auto_start)',
    `Exec=${exec}`,
    'Terminal=false',
    'NoDisplay=true',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

/** The HKCU Run value: one command line, as Explorer starts it at logon. */
export function windowsRunValue(t: ServiceTarget): string {
  return windowsCommandLine(t, ['ui', '--no-open']);
}

/** node and the entry script always quoted (Program Files has a space), the rest as needed. */
function windowsCommandLine(t: ServiceTarget, command: string[]): string {
  const args = cliArgs(t, command).map((a) => (a === t.entryScript ? `"${a}"` : windowsArg(a)));
  return [`"${t.nodePath}"`, ...args].join(' ');
}
