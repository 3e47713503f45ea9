import { describe, expect, it } from 'vitest';
import {
  createCommandRunner,
  parseGdbusIdle,
  parseIoregIdle,
  parseWindowsIdle,
  parseXprintidle,
  presenceSources,
  readIdleTime,
  type CommandRunner,
} from '../../src/platform/index.js';

// Outputs recorded from each source (the commands' real answers, kept as text here).
const IOREG = `+-o IOHIDSystem  <class IOHIDSystem, id 0x100000473, registered, matched, active, busy 0 (0 ms), retain 22>
    {
      "IOClass" = "IOHIDSystem"
      "HIDIdleTime" = 4537206875
      "HIDParameters" = {"HIDClickTime"=500000000}
    }`;

describe('reading the input-idle time, per source', () => {
  it('parses each source’s answer into milliseconds', () => {
    expect(parseXprintidle('15342\n')).toBe(15342);
    expect(parseXprintidle("couldn't open display\n")).toBeUndefined();
    expect(parseGdbusIdle('(uint64 130012,)\n')).toBe(130012); // GNOME Mutter GetIdletime
    expect(parseGdbusIdle('(uint32 2500,)\n')).toBe(2500); // KDE ScreenSaver GetSessionIdleTime
    expect(parseGdbusIdle('Error: GDBus.Error:org.freedesktop.DBus.Error.ServiceUnknown')).toBeUndefined();
    expect(parseIoregIdle(IOREG)).toBe(4537);
    expect(parseWindowsIdle('125000\r\n')).toBe(125000);
  });

  it('asks the original’s sources in its order: X11, then GNOME, then KDE; macOS its own', () => {
    expect(presenceSources('linux').map((s) => s.name)).toEqual([
      'X11 (xprintidle)',
      'GNOME Mutter IdleMonitor',
      'KDE ScreenSaver',
    ]);
    // Windows: one long-lived helper (test/platform/idle-helper.test.ts), no command per reading.
    expect(presenceSources('win32')).toEqual([]);
    expect(presenceSources('darwin')[0]).toMatchObject({
      cmd: 'ioreg',
      args: ['-c', 'IOHIDSystem', '-d', '4'],
    });
  });

  it('falls through to the next source, and takes the first that answers', async () => {
    const asked: string[] = [];
    const run: CommandRunner = (cmd, args) => {
      asked.push(
        `${cmd} ${args.includes('org.gnome.Mutter.IdleMonitor') ? 'gnome' : args.length ? 'kde' : ''}`.trim(),
      );
      if (cmd === 'xprintidle')
        return Promise.resolve({ code: 1, stdout: '', stderr: "couldn't open display" });
      if (args.includes('org.gnome.Mutter.IdleMonitor')) {
        return Promise.resolve({ code: 1, stdout: '', stderr: 'ServiceUnknown' });
      }
      return Promise.resolve({ code: 0, stdout: '(uint32 200000,)\n', stderr: '' });
    };
    expect(
      await readIdleTime(run, 'linux', { DISPLAY: ':0', DBUS_SESSION_BUS_ADDRESS: 'unix:path=/x' }),
    ).toEqual({
      idleMs: 200000,
      source: 'KDE ScreenSaver',
    });
    expect(asked).toEqual(['xprintidle', 'gdbus gnome', 'gdbus kde']);
  });

  it('on this machine, with no display and no session bus, says presence cannot be read', async () => {
    const r = await readIdleTime(createCommandRunner(), 'linux', { PATH: process.env['PATH'] ?? '' });
    expect(r).toEqual({
      reason:
        'no X display (DISPLAY unset); GNOME Mutter IdleMonitor: no session bus; KDE ScreenSaver: no session bus',
    });
  });
});
