import { createCommandRunner, type CommandRunner } from './exec.js';
import { IdleHelper, windowsIdleHelperCommand } from './idle-helper.js';

/** Two minutes without keyboard or mouse input is idle, as the original counts it. */
export const IDLE_AFTER_MS = 120_000;

export interface IdleReading {
  idleMs: number;
  /** Where it was read ("xprintidle", "GNOME Mutter", "KDE ScreenSaver", "GetLastInputInfo", "ioreg"). */
  source: string;
}

/** `xprintidle`: the X server's idle time in milliseconds, one integer. */
export function parseXprintidle(stdout: string): number | undefined {
  const m = /^\s*(\d+)\s*$/.exec(stdout);
  return m ? Number(m[1]) : undefined;
}

/** gdbus' answer to Mutter's `GetIdletime` (`(uint64 12345,)`) or the ScreenSaver's `GetSessionIdleTime` (`(uint32 12345,)`), in ms. */
export function parseGdbusIdle(stdout: string): number | undefined {
  const m = /^\(\s*(?:uint(?:32|64)\s+)?(\d+)\s*,?\s*\)\s*$/.exec(stdout.trim());
  return m ? Number(m[1]) : undefined;
}

/** `ioreg -c IOHIDSystem -d 4`: `"HIDIdleTime" = <nanoseconds>`, the first one. */
export function parseIoregIdle(stdout: string): number | undefined {
  const m = /"HIDIdleTime"\s*=\s*(\d+)/.exec(stdout);
  return m ? Math.floor(Number(m[1]) / 1e6) : undefined;
}

/** The Windows idle helper (platform/idle-helper.ts) answers the milliseconds since the last input, one integer a line. */
export const parseWindowsIdle = parseXprintidle;

interface Source {
  name: string;
  cmd: string;
  args: string[];
  parse: (stdout: string) => number | undefined;
}

/** The sources the original reads, per platform, in its order (none on Windows: see systemIdleProbe). */
export function presenceSources(platform: NodeJS.Platform): Source[] {
  // Windows is read by one long-lived helper (IdleHelper), not a command per reading: see systemIdleProbe.
  if (platform === 'win32') return [];
  if (platform === 'darwin') {
    return [
      {
        name: 'ioreg HIDIdleTime',
        cmd: 'ioreg',
        args: ['-c', 'IOHIDSystem', '-d', '4'],
        parse: parseIoregIdle,
      },
    ];
  }
  const gdbus = (dest: string, path: string, method: string) => [
    'call',
    '--session',
    '--dest',
    dest,
    '--object-path',
    path,
    '--method',
    method,
  ];
  return [
    { name: 'X11 (xprintidle)', cmd: 'xprintidle', args: [], parse: parseXprintidle },
    {
      name: 'GNOME Mutter IdleMonitor',
      cmd: 'gdbus',
      args: gdbus(
        'org.gnome.Mutter.IdleMonitor',
        '/org/gnome/Mutter/IdleMonitor/Core',
        'org.gnome.Mutter.IdleMonitor.GetIdletime',
      ),
      parse: parseGdbusIdle,
    },
    {
      name: 'KDE ScreenSaver',
      cmd: 'gdbus',
      args: gdbus(
        'org.freedesktop.ScreenSaver',
        '/org/freedesktop/ScreenSaver',
        'org.freedesktop.ScreenSaver.GetSessionIdleTime',
      ),
      parse: parseGdbusIdle,
    },
  ];
}

/**
 * How long since the last keyboard or mouse input, from the first source that answers, or why none
 * did (no display, no session bus: a service without a desktop, or this CI machine).
 */
export async function readIdleTime(
  run: CommandRunner,
  platform: NodeJS.Platform,
  env: NodeJS.ProcessEnv,
): Promise<IdleReading | { reason: string }> {
  const reasons: string[] = [];
  for (const source of presenceSources(platform)) {
    if (platform === 'linux' && source.cmd === 'xprintidle' && !env['DISPLAY']) {
      reasons.push('no X display (DISPLAY unset)');
      continue;
    }
    if (
      platform === 'linux' &&
      source.cmd === 'gdbus' &&
      !env['DBUS_SESSION_BUS_ADDRESS'] &&
      !env['XDG_RUNTIME_DIR']
    ) {
      reasons.push(`${source.name}: no session bus`);
      continue;
    }
    const r = await run(source.cmd, source.args);
    const idleMs = r.code === 0 ? source.parse(r.stdout) : undefined;
    if (idleMs !== undefined) return { idleMs, source: source.name };
    reasons.push(`${source.name}: ${r.error ?? (r.code === 0 ? 'unreadable answer' : `exit ${r.code}`)}`);
  }
  return { reason: [...new Set(reasons)].join('; ') };
}

/** Reads the idle time; `stop` ends whatever it keeps running between readings. */
export type IdleProbe = (() => Promise<IdleReading | { reason: string }>) & { stop?: () => void };

/**
 * This machine's idle probe: on Windows one long-lived PowerShell helper asked each time (starting
 * PowerShell and compiling C# every 5 s would cost the desktop the worker is a guest on); elsewhere
 * the commands above, run per reading.
 */
export function systemIdleProbe(platform: NodeJS.Platform, env: NodeJS.ProcessEnv): IdleProbe {
  if (platform === 'win32') {
    const helper = new IdleHelper(windowsIdleHelperCommand());
    return Object.assign(() => helper.read(), { stop: () => helper.stop() });
  }
  const run = createCommandRunner({ timeoutMs: 3000 });
  return () => readIdleTime(run, platform, env);
}
