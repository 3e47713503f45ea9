import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RUN_KEY, parseRegQuery, reconcileAutostart } from '../../src/platform/index.js';
import type { ServiceTarget } from '../../src/platform/index.js';
import { captureLogger, recordingRunner, tempDir } from './support.js';
import { parseXml, plistValue } from './xml.js';

const validate = (file: string): Promise<{ code: number; out: string }> =>
  new Promise((resolve) => {
    execFile('desktop-file-validate', [file], (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr }),
    );
  });
const hasValidator = existsSync('/usr/bin/desktop-file-validate');

describe('autostart reconciled with auto_start', () => {
  let home: string;
  let cleanup: () => Promise<void>;
  let target: (platform: NodeJS.Platform) => ServiceTarget;

  beforeEach(async () => {
    ({ dir: home, cleanup } = await tempDir('auto'));
    const entry = path.join(home, 'Program Files', 'studio "worker" $x `y` 100%', 'main.js');
    await mkdir(path.dirname(entry), { recursive: true });
    await writeFile(entry, '');
    target = (platform) => ({ platform, home, nodePath: process.execPath, entryScript: entry, env: {} });
  });
  afterEach(() => cleanup());

  describe('on Linux (~/.config/autostart)', () => {
    const desktop = (): string => path.join(home, '.config', 'autostart', 'studio-worker.desktop');

    it.runIf(hasValidator)(
      'writes an entry desktop-file-validate accepts, with awkward paths quoted',
      async () => {
        const { log, messages } = captureLogger();
        const result = await reconcileAutostart({ ...target('linux'), enabled: true, log });
        expect(result).toEqual({ action: 'written', where: desktop() });
        expect(messages).toContain(`autostart (auto_start = true): written ${desktop()}`);
        const text = await readFile(desktop(), 'utf8');
        expect(text).toContain('Type=Application');
        expect(text).toContain('X-GNOME-Autostart-enabled=true');
        expect(text).toMatch(/^Exec=.* ui --no-open$/m);
        expect(await validate(desktop())).toEqual({ code: 0, out: '' });
      },
    );

    it.runIf(hasValidator)('uses a validator that does reject a broken entry (control)', async () => {
      const broken = path.join(home, 'broken.desktop');
      await writeFile(broken, '[Desktop Entry]\nType=Application\nExec=node "unterminated\n');
      expect((await validate(broken)).code).not.toBe(0);
    });

    it('leaves an identical entry alone, rewrites a different one, and removes it when disabled', async () => {
      const { log } = captureLogger();
      const t = target('linux');
      await reconcileAutostart({ ...t, enabled: true, log });
      expect((await reconcileAutostart({ ...t, enabled: true, log })).action).toBe('unchanged');
      await writeFile(desktop(), '[Desktop Entry]\nType=Application\nName=old\nExec=/old/node\n');
      expect((await reconcileAutostart({ ...t, enabled: true, log })).action).toBe('rewritten');
      expect(await readFile(desktop(), 'utf8')).toContain('Name=studio-worker');
      expect((await reconcileAutostart({ ...t, enabled: false, log })).action).toBe('removed');
      expect(existsSync(desktop())).toBe(false);
      expect((await reconcileAutostart({ ...t, enabled: false, log })).action).toBe('absent');
    });
  });

  it('on macOS writes a LaunchAgent that runs ui at login without KeepAlive', async () => {
    const { log } = captureLogger();
    const t = target('darwin');
    const result = await reconcileAutostart({ ...t, enabled: true, log });
    expect(result.where).toBe(path.join(home, 'Library', 'LaunchAgents', 'gg.minis.studio-worker.ui.plist'));
    expect(plistValue(parseXml(await readFile(result.where, 'utf8')))).toEqual({
      Label: 'gg.minis.studio-worker.ui',
      ProgramArguments: [
        process.execPath,
        '--max-semi-space-size=1',
        '--v8-pool-size=1',
        t.entryScript,
        'ui',
        '--no-open',
      ],
      RunAtLoad: true,
    });
    expect((await reconcileAutostart({ ...t, enabled: false, log })).action).toBe('removed');
  });

  describe('on Windows (HKCU Run through reg.exe)', () => {
    /** Stands in for reg.exe, answering `reg query` in its real output format. */
    function fakeReg(): {
      run: ReturnType<typeof recordingRunner>['run'];
      calls: string[][];
      values: Map<string, string>;
    } {
      const values = new Map<string, string>();
      const { run, calls } = recordingRunner((argv) => {
        const name = argv[argv.indexOf('/v') + 1] ?? '';
        if (argv[1] === 'query') {
          const data = values.get(name);
          if (data === undefined)
            return {
              code: 1,
              stderr: 'ERROR: The system was unable to find the specified registry key or value.\r\n',
            };
          return {
            stdout: `\r\nHKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\r\n    ${name}    REG_SZ    ${data}\r\n\r\n`,
          };
        }
        if (argv[1] === 'add') values.set(name, argv[argv.indexOf('/d') + 1] ?? '');
        if (argv[1] === 'delete') values.delete(name);
        return { stdout: 'The operation completed successfully.\r\n' };
      });
      return { run, calls, values };
    }

    it('adds the Run value with node and the entry quoted, once', async () => {
      const { log } = captureLogger();
      const t = target('win32');
      const reg = fakeReg();
      expect((await reconcileAutostart({ ...t, enabled: true, log, run: reg.run })).action).toBe('written');
      const value = `"${process.execPath}" --max-semi-space-size=1 --v8-pool-size=1 "${t.entryScript}" ui --no-open`;
      expect(reg.calls).toEqual([
        ['reg', 'query', RUN_KEY, '/v', 'studio-worker'],
        ['reg', 'add', RUN_KEY, '/v', 'studio-worker', '/t', 'REG_SZ', '/d', value, '/f'],
      ]);
      reg.calls.length = 0;
      expect((await reconcileAutostart({ ...t, enabled: true, log, run: reg.run })).action).toBe('unchanged');
      expect(reg.calls).toEqual([['reg', 'query', RUN_KEY, '/v', 'studio-worker']]);
    });

    it('deletes the value when auto_start is off, and logs a reg.exe that cannot run', async () => {
      const { log, messages } = captureLogger();
      const t = target('win32');
      const reg = fakeReg();
      reg.values.set('studio-worker', '"C:\\old\\node.exe" "C:\\old\\main.js" ui --no-open');
      expect((await reconcileAutostart({ ...t, enabled: false, log, run: reg.run })).action).toBe('removed');
      expect(reg.calls.at(-1)).toEqual(['reg', 'delete', RUN_KEY, '/v', 'studio-worker', '/f']);
      const missing = recordingRunner(() => ({ code: -1, error: 'ENOENT' }));
      expect((await reconcileAutostart({ ...t, enabled: true, log, run: missing.run })).action).toBe(
        'failed',
      );
      expect(messages.at(-1)).toContain('could not run (ENOENT)');
    });

    it('reads a value out of real reg query output', () => {
      const out =
        '\r\nHKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\r\n    OneDrive    REG_SZ    "C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe" /background\r\n    studio-worker    REG_SZ    "C:\\n.exe" "C:\\m.js" ui\r\n';
      expect(parseRegQuery(out)).toBe('"C:\\n.exe" "C:\\m.js" ui');
      expect(parseRegQuery(out, 'OneDrive')).toBe(
        '"C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe" /background',
      );
      expect(parseRegQuery(out, 'Missing')).toBeUndefined();
    });
  });
});
