import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installService, removeOriginalEntries } from '../../src/platform/index.js';
import type { ServiceTarget } from '../../src/platform/index.js';
import { captureLogger, recordingRunner, tempDir } from './support.js';

// The original's entries, with its own file names and contents (its autostart.rs and the service.rs
// of the versions that installed a headless service). Service managers other than the files are
// stand-ins (recordingRunner): launchctl, schtasks, reg and a user systemd do not run here.

const EXE = '/home/ada/.local/bin/studio-worker';
const ORIGINAL_DESKTOP = `[Desktop Entry]
Type=Application
Name=studio-worker
Comment=Pull-based generation worker for the minis.gg studio
Exec=${EXE} ui
Terminal=false
X-GNOME-Autostart-enabled=true
`;
const ORIGINAL_UNIT = `[Unit]
Description=Minis studio worker (pull-based image-generation agent)
After=network-online.target

[Service]
Type=simple
ExecStart=${EXE} run
Restart=on-failure
RestartSec=5
Environment=RUST_LOG=studio_worker=info

[Install]
WantedBy=default.target
`;
const plist = (label: string, args: string[], keepAlive: boolean) => `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${label}</string>
  <key>ProgramArguments</key>
  <array>
${args.map((a) => `    <string>${a}</string>`).join('\n')}
  </array>
  <key>RunAtLoad</key>
  <true/>${keepAlive ? '\n  <key>KeepAlive</key>\n  <true/>' : ''}
</dict>
</plist>
`;

let home: string;
let cleanup: () => Promise<void>;
let target: (platform: NodeJS.Platform) => ServiceTarget;

async function put(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
}

beforeEach(async () => {
  ({ dir: home, cleanup } = await tempDir('legacy'));
  const entry = path.join(home, 'app', 'dist', 'cli', 'main.js');
  await put(entry, '');
  target = (platform) => ({
    platform,
    home,
    nodePath: process.execPath,
    entryScript: entry,
    env: { APPDATA: path.join(home, 'AppData', 'Roaming'), USERNAME: 'ada' },
    uid: 501,
  });
});
afterEach(() => cleanup());

describe("the original's login entries and services, on switching over", () => {
  it('Linux: stops and removes its headless unit and its tray login entry, saying each; ours is left alone', async () => {
    const desktop = path.join(home, '.config', 'autostart', 'studio-worker-ui.desktop');
    const unit = path.join(home, '.config', 'systemd', 'user', 'minis-studio-worker.service');
    await put(desktop, ORIGINAL_DESKTOP);
    await put(unit, ORIGINAL_UNIT);
    const { log, messages } = captureLogger();
    const { run, calls } = recordingRunner();
    const dry = await removeOriginalEntries(target('linux'), { run, log, dryRun: true });
    expect(dry.removed).toHaveLength(2);
    expect(existsSync(desktop) && existsSync(unit)).toBe(true);
    expect(calls).toEqual([]);
    const done = await removeOriginalEntries(target('linux'), { run, log });
    expect(done.removed).toEqual([
      `removed the original studio-worker's login entry (it starts the original's tray, which starts its daemon): ${desktop}`,
      `removed the original studio-worker's headless service: ${unit}`,
    ]);
    expect(existsSync(desktop) || existsSync(unit)).toBe(false);
    expect(calls).toEqual([
      ['systemctl', '--user', 'disable', '--now', 'minis-studio-worker.service'],
      ['systemctl', '--user', 'daemon-reload'],
    ]);
    expect(messages.some((m) => m.includes('switch-over: removed'))).toBe(true);
    // Found nothing the second time: nothing run, nothing said.
    expect(await removeOriginalEntries(target('linux'), { run, log })).toEqual({ removed: [], failed: [] });
    expect(calls).toHaveLength(2);
  });

  it("macOS: boots out and removes the original's tray and headless agents, but never this worker's own plist of the same label", async () => {
    const agents = path.join(home, 'Library', 'LaunchAgents');
    await put(
      path.join(agents, 'gg.minis.studio-worker-ui.plist'),
      plist('gg.minis.studio-worker-ui', [EXE, 'ui'], false),
    );
    await put(
      path.join(agents, 'gg.minis.studio-worker.plist'),
      plist('gg.minis.studio-worker', [EXE, 'run'], true),
    );
    const { log } = captureLogger();
    const { run, calls } = recordingRunner();
    const done = await removeOriginalEntries(target('darwin'), { run, log });
    expect(done.removed).toHaveLength(2);
    expect(calls).toEqual([
      ['launchctl', 'bootout', 'gui/501/gg.minis.studio-worker-ui'],
      ['launchctl', 'bootout', 'gui/501/gg.minis.studio-worker'],
    ]);
    // This worker's own LaunchAgent has the same label: once installed, it is not the original's.
    await installService(target('darwin'), { run, log });
    const ours = await readFile(path.join(agents, 'gg.minis.studio-worker.plist'), 'utf8');
    expect((await removeOriginalEntries(target('darwin'), { run, log })).removed).toEqual([]);
    expect(await readFile(path.join(agents, 'gg.minis.studio-worker.plist'), 'utf8')).toBe(ours);
  });

  it('Windows: deletes its Run value and its Scheduled Task (ended first) and the task XML it kept', async () => {
    const xml = path.join(home, 'AppData', 'Roaming', 'minis-studio-worker', 'minis-studio-worker.task.xml');
    await put(xml, '<Task/>');
    const { log } = captureLogger();
    const { run, calls } = recordingRunner((argv) =>
      argv[0] === 'reg' && argv[1] === 'query'
        ? {
            stdout: `\r\nHKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\r\n    studio-worker-ui    REG_SZ    "C:\\Users\\ada\\studio-worker.exe" ui\r\n`,
          }
        : {},
    );
    const done = await removeOriginalEntries(target('win32'), { run, log });
    expect(done.removed).toHaveLength(3);
    expect(calls).toEqual([
      ['reg', 'query', 'HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run', '/v', 'studio-worker-ui'],
      [
        'reg',
        'delete',
        'HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run',
        '/v',
        'studio-worker-ui',
        '/f',
      ],
      ['schtasks', '/Query', '/TN', 'MinisStudioWorker'],
      ['schtasks', '/End', '/TN', 'MinisStudioWorker'],
      ['schtasks', '/Delete', '/TN', 'MinisStudioWorker', '/F'],
    ]);
    expect(existsSync(xml)).toBe(false);
  });

  it('says what it could not remove, and goes on with the rest', async () => {
    const { log } = captureLogger();
    const { run } = recordingRunner((argv) =>
      argv[1] === 'delete' ? { code: 1, stderr: 'Access is denied.' } : {},
    );
    const done = await removeOriginalEntries(target('win32'), {
      run: (cmd, args) =>
        cmd === 'reg' && args[0] === 'query'
          ? Promise.resolve({ code: 0, stdout: '    studio-worker-ui    REG_SZ    x ui\r\n', stderr: '' })
          : run(cmd, args),
      log,
    });
    expect(done.failed[0]).toMatch(
      /could not remove the original studio-worker's login entry .*Access is denied/,
    );
    expect(done.removed).toEqual([
      "removed the original studio-worker's headless Scheduled Task: MinisStudioWorker",
    ]);
  });
});
