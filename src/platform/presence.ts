import type { CommandRunner } from './exec.js';

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

/** The PowerShell probe below prints the milliseconds since the last input, one integer. */
export const parseWindowsIdle = parseXprintidle;

const WINDOWS_PROBE = [
  'Add-Type @"',
  'using System; using System.Runtime.InteropServices;',
  'public static class Idle {',
  '  [StructLayout(LayoutKind.Sequential)] struct LASTINPUTINFO { public uint cbSize; public uint dwTime; }',
  '  [DllImport("user32.dll")] static extern bool GetLastInputInfo(ref LASTINPUTINFO p);',
  '  public static uint Ms() { var i = new LASTINPUTINFO(); i.cbSize = (uint)Marshal.SizeOf(i);',
  '    GetLastInputInfo(ref i); return (uint)Environment.TickCount - i.dwTime; } }',
  '"@',
  '[Idle]::Ms()',
].join('\n');

interface Source {
  name: string;
  cmd: string;
  args: string[];
  parse: (stdout: string) => number | undefined;
}

/** The sources the original reads, per platform, in its order. */
export function presenceSources(platform: NodeJS.Platform): Source[] {
  if (platform === 'win32') {
    return [
      {
        name: 'GetLastInputInfo',
        cmd: 'powershell.exe',
        args: ['-NoProfile', '-NonInteractive', '-Command', WINDOWS_PROBE],
        parse: parseWindowsIdle,
      },
    ];
  }
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
