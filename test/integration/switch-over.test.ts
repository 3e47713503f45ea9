import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/config/index.js';
import { ORIGINAL_FEED } from '../../src/worker/index.js';
import { runCli } from '../support/cli.js';
import { freeLoopbackPort, pidAlive } from '../../src/util/index.js';

// A machine the original (Rust) worker ran on, by the original's own file names and contents: its
// config folder, its tray's login entry and the headless service its older versions installed.

let home: string;
let env: NodeJS.ProcessEnv;
const EXE = '/usr/local/bin/studio-worker';

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'sw-switch-home-'));
  env = { HOME: home, XDG_CONFIG_HOME: join(home, '.config'), PATH: '/usr/bin:/bin' };
  const put = async (file: string, text: string) => {
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, text);
  };
  await put(
    join(home, '.config', 'minis-studio-worker', 'config.toml'),
    [
      'api_base_url = "https://studio.minis.gg/"',
      'vram_threshold_gb = 10.0',
      `auto_update_feed = "${ORIGINAL_FEED}"`,
      'start_minimised = true',
      'worker_id = "w-rust"',
      'auth_token = "tok-rust"',
      'install_id = "install-rust"',
      '',
    ].join('\n'),
  );
  await put(
    join(home, '.config', 'autostart', 'studio-worker-ui.desktop'),
    `[Desktop Entry]\nType=Application\nName=studio-worker\nComment=Pull-based generation worker for the minis.gg studio\nExec=${EXE} ui\nTerminal=false\nX-GNOME-Autostart-enabled=true\n`,
  );
  await put(
    join(home, '.config', 'systemd', 'user', 'minis-studio-worker.service'),
    `[Unit]\nDescription=Minis studio worker (pull-based image-generation agent)\nAfter=network-online.target\n\n[Service]\nType=simple\nExecStart=${EXE} run\nRestart=on-failure\nRestartSec=5\nEnvironment=RUST_LOG=studio_worker=info\n\n[Install]\nWantedBy=default.target\n`,
  );
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

describe('switching a machine over from the original with one install-service', () => {
  it("removes the original's login entry and service, installs this worker's, moves to its feed and keeps the registration", async () => {
    const r = await runCli(['install-service'], env);
    expect(r.stderr).not.toContain('internal error');
    expect(r.code, r.stderr).toBe(0);
    const desktop = join(home, '.config', 'autostart', 'studio-worker-ui.desktop');
    const unit = join(home, '.config', 'systemd', 'user', 'minis-studio-worker.service');
    expect(r.stdout).toContain(`removed the original studio-worker's login entry`);
    expect(r.stdout).toContain(`removed the original studio-worker's headless service: ${unit}`);
    expect(existsSync(desktop) || existsSync(unit)).toBe(false);
    // One service left to start a worker: this one's.
    expect(existsSync(join(home, '.config', 'systemd', 'user', 'studio-worker.service'))).toBe(true);
    const config = parse(await readFile(join(home, '.config', 'minis-studio-worker', 'config.toml'), 'utf8'));
    expect(config).toMatchObject({
      auto_update_feed: DEFAULT_CONFIG.autoUpdateFeed,
      worker_id: 'w-rust',
      auth_token: 'tok-rust',
      install_id: 'install-rust',
      vram_threshold_gb: 10,
      start_minimised: true,
    });
    // A second run finds nothing of the original's left.
    const again = await runCli(['install-service'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).not.toContain('the original');
  });

  it('uninstall-service removes them too, and --dry-run only says so', async () => {
    const dry = await runCli(['uninstall-service', '--dry-run'], env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("would remove the original studio-worker's headless service");
    expect(existsSync(join(home, '.config', 'systemd', 'user', 'minis-studio-worker.service'))).toBe(true);
    const r = await runCli(['uninstall-service'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("removed the original studio-worker's login entry");
    expect(existsSync(join(home, '.config', 'systemd', 'user', 'minis-studio-worker.service'))).toBe(false);
  });

  it("setup, the original's last install step: the original's entries go, this worker's login entry and dashboard start", async () => {
    const dir = join(home, '.config', 'minis-studio-worker');
    // An unreachable studio: the dashboard it starts serves while registration retries.
    const config = join(dir, 'config.toml');
    const text = await readFile(config, 'utf8');
    await writeFile(
      config,
      text.replace('https://studio.minis.gg/', 'http://127.0.0.1:1/') +
        `dashboard_port = ${await freeLoopbackPort()}\nlocal_api_port = ${await freeLoopbackPort()}\n`,
    );
    const r = await runCli(['setup', '--no-open'], env);
    // The dashboard it started outlives the command: stopped whatever the assertions say.
    const pid = Number(/\(pid (\d+)\)/.exec(r.stdout)?.[1]);
    try {
      expect(r.stderr).not.toContain('internal error');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain("removed the original studio-worker's login entry");
      const entry = join(home, '.config', 'autostart', 'studio-worker.desktop');
      expect(r.stdout).toContain(`Login autostart written: ${entry}`);
      expect(await readFile(entry, 'utf8')).toContain(' ui --no-open');
      expect(r.stdout).toContain('http://127.0.0.1:1/graphics');
      expect(r.stdout).toContain(join(dir, 'local-api.json'));
      expect(parse(await readFile(config, 'utf8'))).toMatchObject({ worker_id: 'w-rust' });
      expect(pid).toBeGreaterThan(0);
      // The dashboard it started publishes itself beside the config.
      for (let i = 0; i < 300 && !existsSync(join(dir, 'dashboard.json')); i++) {
        await new Promise((res) => setTimeout(res, 100));
      }
      expect(existsSync(join(dir, 'dashboard.json')), await readFile(join(dir, 'ui.log'), 'utf8')).toBe(true);
    } finally {
      if (pid > 0) {
        process.kill(pid, 'SIGTERM');
        for (let i = 0; i < 100 && pidAlive(pid); i++) await new Promise((res) => setTimeout(res, 100));
      }
    }
    expect(pidAlive(pid)).toBe(false);
  });
});
