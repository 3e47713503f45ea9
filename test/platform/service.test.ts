import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installService, servicePlan, uninstallService } from '../../src/platform/index.js';
import type { ServiceTarget } from '../../src/platform/index.js';
import { captureLogger, recordingRunner, tempDir } from './support.js';
import { find, parseXml, plistValue, textOf } from './xml.js';

const run = (cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(cmd, args, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
const hasSystemdAnalyze = existsSync('/usr/bin/systemd-analyze') || existsSync('/bin/systemd-analyze');

describe('install-service / uninstall-service', () => {
  let home: string;
  let cleanup: () => Promise<void>;
  let target: (platform: NodeJS.Platform, extra?: Partial<ServiceTarget>) => ServiceTarget;

  beforeEach(async () => {
    ({ dir: home, cleanup } = await tempDir('svc'));
    // a real entry script in a folder whose name needs quoting in every format
    const entry = path.join(home, 'app dir %1 $HOME & <x>', 'dist', 'cli', 'main.js');
    await mkdir(path.dirname(entry), { recursive: true });
    await writeFile(entry, '');
    target = (platform, extra = {}) => ({
      platform,
      home,
      nodePath: process.execPath,
      entryScript: entry,
      env: { USERDOMAIN: 'DESKTOP-1', USERNAME: 'ada' },
      uid: 501,
      ...extra,
    });
  });
  afterEach(() => cleanup());

  describe('on Linux (systemd user unit)', () => {
    const unitPath = (): string => path.join(home, '.config', 'systemd', 'user', 'studio-worker.service');

    it.runIf(hasSystemdAnalyze)(
      'writes a unit that systemd-analyze verify accepts without a warning',
      async () => {
        const { log } = captureLogger();
        const { run: rec } = recordingRunner();
        await installService(target('linux', { configDir: path.join(home, 'cfg dir') }), { run: rec, log });
        const unit = await readFile(unitPath(), 'utf8');
        expect(unit).toContain('Restart=on-failure');
        expect(unit).toContain('StandardOutput=journal');
        expect(unit).toContain(`ExecStart=${process.execPath} `);
        expect(unit).toContain('--config-dir "');
        const verdict = await run('systemd-analyze', ['verify', unitPath()]);
        expect(verdict).toMatchObject({ code: 0, stderr: '' });
      },
    );

    it.runIf(hasSystemdAnalyze)('uses a validator that does catch a broken unit (control)', async () => {
      const { log } = captureLogger();
      await installService(target('linux'), { run: recordingRunner().run, log });
      const broken = path.join(home, 'broken.service');
      await writeFile(
        broken,
        (await readFile(unitPath(), 'utf8')).replace('Restart=on-failure', 'Restart=sometimes'),
      );
      expect((await run('systemd-analyze', ['verify', broken])).stderr).toMatch(
        /broken\.service:\d+: .*restart/i,
      );
    });

    it('runs daemon-reload and enable --now, and prints the journal command', async () => {
      const { log } = captureLogger();
      const { run: rec, calls } = recordingRunner();
      const report = await installService(target('linux'), { run: rec, log });
      expect(calls).toEqual([
        ['systemctl', '--user', 'show-environment'],
        ['systemctl', '--user', 'daemon-reload'],
        ['systemctl', '--user', 'enable', '--now', 'studio-worker.service'],
        ['systemctl', '--user', 'try-restart', 'studio-worker.service'],
      ]);
      expect(report.written).toEqual([unitPath()]);
      expect(report.logsCommand).toBe('journalctl --user -u studio-worker -f');
    });

    it('prints the commands instead when systemctl --user is not usable', async () => {
      const { log } = captureLogger();
      const { run: rec, calls } = recordingRunner(() => ({
        code: 1,
        stderr: 'Failed to connect to bus: No medium found',
      }));
      const report = await installService(target('linux'), { run: rec, log });
      expect(calls).toHaveLength(1);
      expect(report.manual).toEqual([
        ['systemctl', '--user', 'daemon-reload'],
        ['systemctl', '--user', 'enable', '--now', 'studio-worker.service'],
        ['systemctl', '--user', 'try-restart', 'studio-worker.service'],
      ]);
      expect(report.manualReason).toContain('Failed to connect to bus');
      expect(report.failed).toBeUndefined();
    });

    it('is idempotent: a second install rewrites nothing and restarts nothing', async () => {
      const { log } = captureLogger();
      await installService(target('linux'), { run: recordingRunner().run, log });
      const before = await readFile(unitPath());
      const { run: rec, calls } = recordingRunner();
      const again = await installService(target('linux'), { run: rec, log });
      expect(again.written).toEqual([]);
      expect(again.unchanged).toEqual([unitPath()]);
      expect(await readFile(unitPath())).toEqual(before);
      expect(calls.map((c) => c.slice(2, 3)[0])).toEqual(['show-environment', 'daemon-reload', 'enable']);
      expect(await readdir(path.dirname(unitPath()))).toEqual(['studio-worker.service']);
    });

    it('stops at a failing command and hands the rest to the operator', async () => {
      const { log } = captureLogger();
      const { run: rec } = recordingRunner((argv) =>
        argv[2] === 'daemon-reload' ? { code: 1, stderr: 'Access denied' } : {},
      );
      const report = await installService(target('linux'), { run: rec, log });
      expect(report.failed).toBe('systemctl --user daemon-reload: exit 1 (Access denied)');
      expect(report.manual[0]).toEqual(['systemctl', '--user', 'enable', '--now', 'studio-worker.service']);
    });

    it('uninstall disables the unit and removes exactly the file install wrote', async () => {
      const { log } = captureLogger();
      await installService(target('linux'), { run: recordingRunner().run, log });
      const { run: rec, calls } = recordingRunner();
      const report = await uninstallService(target('linux'), { run: rec, log });
      expect(report.removed).toEqual([unitPath()]);
      expect(existsSync(unitPath())).toBe(false);
      expect(calls).toContainEqual(['systemctl', '--user', 'disable', '--now', 'studio-worker.service']);
      const second = recordingRunner();
      expect((await uninstallService(target('linux'), { run: second.run, log })).removed).toEqual([]);
      expect(second.calls).toEqual([]);
    });

    it('a dry run writes and runs nothing but lists both', async () => {
      const { log } = captureLogger();
      const { run: rec, calls } = recordingRunner();
      const report = await installService(target('linux'), { run: rec, log, dryRun: true });
      expect(report.written).toEqual([unitPath()]);
      expect(existsSync(unitPath())).toBe(false);
      expect(calls).toEqual([]);
      expect(report.manual).toHaveLength(3);
    });
  });

  describe('on macOS (launchd LaunchAgent)', () => {
    const plistPath = (): string =>
      path.join(home, 'Library', 'LaunchAgents', 'gg.minis.studio-worker.plist');

    it('writes a plist with RunAtLoad, KeepAlive, absolute paths and logs under ~/Library/Logs', async () => {
      const { log } = captureLogger();
      const t = target('darwin');
      await installService(t, { run: recordingRunner().run, log });
      const value = plistValue(parseXml(await readFile(plistPath(), 'utf8')));
      const logDir = path.join(home, 'Library', 'Logs', 'studio-worker');
      expect(value).toEqual({
        Label: 'gg.minis.studio-worker',
        ProgramArguments: [
          process.execPath,
          '--max-semi-space-size=1',
          '--v8-pool-size=1',
          t.entryScript,
          'run',
        ],
        RunAtLoad: true,
        KeepAlive: true,
        EnvironmentVariables: { NODE_ENV: 'production' },
        StandardOutPath: path.join(logDir, 'worker.log'),
        StandardErrorPath: path.join(logDir, 'worker.err.log'),
      });
      expect(existsSync(logDir)).toBe(true);
    });

    it('bootstraps into gui/<uid> once, and a second install leaves the loaded agent alone', async () => {
      const { log } = captureLogger();
      const loaded = new Set<string>();
      const launchctl = (argv: string[]): { code: number } => {
        if (argv[1] === 'print') return { code: loaded.has(argv[2] ?? '') ? 0 : 113 };
        if (argv[1] === 'bootstrap') loaded.add('gui/501/gg.minis.studio-worker');
        if (argv[1] === 'bootout') return { code: loaded.delete(argv[2] ?? '') ? 0 : 3 };
        return { code: 0 };
      };
      const first = recordingRunner(launchctl);
      const report = await installService(target('darwin'), { run: first.run, log });
      expect(first.calls).toEqual([
        ['launchctl', 'bootout', 'gui/501/gg.minis.studio-worker'],
        ['launchctl', 'print', 'gui/501/gg.minis.studio-worker'],
        ['launchctl', 'bootstrap', 'gui/501', plistPath()],
      ]);
      expect(report.failed).toBeUndefined();
      expect(report.logsCommand).toContain(path.join(home, 'Library', 'Logs', 'studio-worker', 'worker.log'));
      const second = recordingRunner(launchctl);
      await installService(target('darwin'), { run: second.run, log });
      expect(second.calls).toEqual([['launchctl', 'print', 'gui/501/gg.minis.studio-worker']]);
    });

    it('uninstall boots the agent out and keeps a log folder that holds logs', async () => {
      const { log } = captureLogger();
      await installService(target('darwin'), { run: recordingRunner().run, log });
      const logDir = path.join(home, 'Library', 'Logs', 'studio-worker');
      await writeFile(path.join(logDir, 'worker.log'), 'a line launchd wrote\n');
      const { run: rec, calls } = recordingRunner();
      const report = await uninstallService(target('darwin'), { run: rec, log });
      expect(calls).toEqual([['launchctl', 'bootout', 'gui/501/gg.minis.studio-worker']]);
      expect(report.removed).toEqual([plistPath()]);
      expect(report.kept).toEqual([logDir]);
      expect(existsSync(plistPath())).toBe(false);
    });
  });

  describe('on Windows (Scheduled Task)', () => {
    const taskDir = (): string => path.join(home, 'AppData', 'Local', 'studio-worker');
    const xmlPath = (): string => path.join(taskDir(), 'studio-worker-task.xml');

    it('writes task XML as UTF-16 LE with a BOM: logon trigger, restart on failure, no time limit', async () => {
      const { log } = captureLogger();
      const t = target('win32');
      await installService(t, { run: recordingRunner().run, log });
      const bytes = await readFile(xmlPath());
      expect([...bytes.subarray(0, 4)]).toEqual([0xff, 0xfe, 0x3c, 0x00]);
      const task = parseXml(bytes.subarray(2).toString('utf16le'));
      expect(task.name).toBe('Task');
      expect(task.attrs.xmlns).toBe('http://schemas.microsoft.com/windows/2004/02/mit/task');
      const text = (p: string): string => {
        const el = find(task, p);
        if (!el) throw new Error(`no ${p} in the task XML`);
        return textOf(el);
      };
      expect(text('Triggers/LogonTrigger/UserId')).toBe('DESKTOP-1\\ada');
      expect(text('Principals/Principal/LogonType')).toBe('InteractiveToken');
      expect(text('Settings/RestartOnFailure/Interval')).toBe('PT1M');
      expect(text('Settings/RestartOnFailure/Count')).toBe('999');
      expect(text('Settings/ExecutionTimeLimit')).toBe('PT0S');
      expect(text('Actions/Exec/Command')).toBe('%SystemRoot%\\System32\\cmd.exe');
      // The worker writes (and rotates) its own log; cmd.exe's `>>` takes only what bypasses the logger.
      const logFile = path.join(taskDir(), 'logs', 'worker.log');
      const outFile = path.join(taskDir(), 'logs', 'worker.out.log');
      expect(text('Actions/Exec/Arguments')).toBe(
        `/d /s /c ""${process.execPath}" --max-semi-space-size=1 --v8-pool-size=1 "${t.entryScript}" run --log-file ${logFile} >> "${outFile}" 2>&1"`,
      );
      expect(text('Actions/Exec/Arguments')).not.toContain(`>> "${logFile}"`);
    });

    it('creates the task with schtasks /XML /F and uninstall deletes it and everything it wrote', async () => {
      const { log } = captureLogger();
      const first = recordingRunner();
      const report = await installService(target('win32'), { run: first.run, log });
      expect(first.calls).toEqual([
        ['schtasks', '/Create', '/TN', 'studio-worker', '/XML', xmlPath(), '/F'],
        ['schtasks', '/Run', '/TN', 'studio-worker'],
      ]);
      expect(report.logsCommand).toContain('Get-Content -Wait');
      const second = recordingRunner();
      const gone = await uninstallService(target('win32'), { run: second.run, log });
      expect(second.calls).toEqual([
        ['schtasks', '/End', '/TN', 'studio-worker'],
        ['schtasks', '/Delete', '/TN', 'studio-worker', '/F'],
      ]);
      expect(gone.removed).toEqual([xmlPath(), path.join(taskDir(), 'logs'), taskDir()]);
      expect(await readdir(path.join(home, 'AppData', 'Local'))).toEqual([]);
    });
  });

  describe('one worker per GPU (--gpus)', () => {
    const cfg = (): string => path.join(home, 'cfg dir');
    const gpuTarget = (platform: NodeJS.Platform): ServiceTarget =>
      target(platform, { configDir: cfg(), gpus: [0, 2] });
    const templatePath = (): string =>
      path.join(home, '.config', 'systemd', 'user', 'studio-worker@.service');

    it.runIf(hasSystemdAnalyze)(
      'Linux: one template unit studio-worker@.service that systemd-analyze verify accepts for each instance',
      async () => {
        const { log } = captureLogger();
        const { run: rec, calls } = recordingRunner();
        const report = await installService(gpuTarget('linux'), { run: rec, log });
        const template = await readFile(templatePath(), 'utf8');
        expect(template).toContain(`--config-dir "${path.join(cfg(), 'gpu-%i')}" run --gpu %i`);
        expect(template).toContain('Description=studio-worker on GPU %i');
        // systemd-analyze verifies an instance name; the instance is a link to the template, as
        // systemctl enable makes it.
        const links = path.join(home, 'verify');
        await mkdir(links);
        for (const n of [0, 2]) {
          await symlink(templatePath(), path.join(links, `studio-worker@${n}.service`));
          const verdict = await run('systemd-analyze', [
            'verify',
            path.join(links, `studio-worker@${n}.service`),
          ]);
          expect(verdict).toMatchObject({ code: 0, stderr: '' });
        }
        expect(calls).toEqual([
          ['systemctl', '--user', 'show-environment'],
          ['systemctl', '--user', 'daemon-reload'],
          ['systemctl', '--user', 'enable', '--now', 'studio-worker@0.service', 'studio-worker@2.service'],
          ['systemctl', '--user', 'try-restart', 'studio-worker@0.service', 'studio-worker@2.service'],
        ]);
        expect(report.logsCommand).toBe("journalctl --user -u 'studio-worker@*' -f");
        expect(servicePlan(gpuTarget('linux')).gpuWorkers).toEqual([
          { gpu: 0, configDir: path.join(cfg(), 'gpu-0'), name: 'studio-worker@0.service' },
          { gpu: 2, configDir: path.join(cfg(), 'gpu-2'), name: 'studio-worker@2.service' },
        ]);
        const off = recordingRunner();
        expect((await uninstallService(gpuTarget('linux'), { run: off.run, log })).removed).toEqual([
          templatePath(),
        ]);
        expect(off.calls).toContainEqual([
          'systemctl',
          '--user',
          'disable',
          '--now',
          'studio-worker@0.service',
          'studio-worker@2.service',
        ]);
      },
    );

    it('macOS: a LaunchAgent label and log files per GPU, each on its own config folder', async () => {
      const { log } = captureLogger();
      const t = gpuTarget('darwin');
      const { run: rec, calls } = recordingRunner((argv) => ({ code: argv[1] === 'print' ? 113 : 0 }));
      await installService(t, { run: rec, log });
      const logDir = path.join(home, 'Library', 'Logs', 'studio-worker');
      for (const n of [0, 2]) {
        const plist = path.join(home, 'Library', 'LaunchAgents', `gg.minis.studio-worker.gpu${n}.plist`);
        expect(plistValue(parseXml(await readFile(plist, 'utf8')))).toMatchObject({
          Label: `gg.minis.studio-worker.gpu${n}`,
          ProgramArguments: [
            process.execPath,
            '--max-semi-space-size=1',
            '--v8-pool-size=1',
            t.entryScript,
            '--config-dir',
            path.join(cfg(), `gpu-${n}`),
            'run',
            '--gpu',
            String(n),
          ],
          StandardOutPath: path.join(logDir, `worker.gpu${n}.log`),
        });
        expect(calls).toContainEqual(['launchctl', 'bootstrap', 'gui/501', plist]);
      }
      expect(servicePlan(t).logFiles).toHaveLength(4);
    });

    it('Windows: a Scheduled Task per GPU, named studio-worker-gpu<N>', async () => {
      const { log } = captureLogger();
      const { run: rec, calls } = recordingRunner();
      await installService(gpuTarget('win32'), { run: rec, log });
      const dir = path.join(home, 'AppData', 'Local', 'studio-worker');
      for (const n of [0, 2]) {
        const xml = path.join(dir, `studio-worker-gpu${n}-task.xml`);
        const task = (await readFile(xml)).subarray(2).toString('utf16le');
        expect(task).toContain(`<URI>\\studio-worker-gpu${n}</URI>`);
        expect(task).toContain(
          `run --gpu ${n} --log-file ${path.join(dir, 'logs', `worker-gpu${n}.log`)} &gt;&gt; &quot;${path.join(dir, 'logs', `worker-gpu${n}.out.log`)}`,
        );
        expect(calls).toContainEqual([
          'schtasks',
          '/Create',
          '/TN',
          `studio-worker-gpu${n}`,
          '/XML',
          xml,
          '/F',
        ]);
      }
    });
  });

  it('refuses a platform without a supported service manager', () => {
    expect(() => servicePlan(target('aix'))).toThrow('no service manager is supported on aix');
  });
});
