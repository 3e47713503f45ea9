import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../support/cli.js';

const cli = runCli;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sw-cli-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the studio-worker command', () => {
  it('teaches its commands, examples and exit codes in --help', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    for (const word of [
      'run',
      'register',
      'status',
      'set-threshold',
      'config',
      'dev-studio',
      'demo',
      'Exit codes',
    ]) {
      expect(stdout).toContain(word);
    }
  });

  it('leaves a corrupt config untouched and names the file, line and key', async () => {
    const path = join(dir, 'config.toml');
    const text = 'api_base_url = "http://127.0.0.1:1/"\nvram_threshold_gb = "lots"\n';
    await writeFile(path, text);
    for (const args of [['status'], ['set-threshold', '8'], ['run']]) {
      const { code, stderr } = await cli(['--config-dir', dir, ...args]);
      expect(code).toBe(2);
      expect(stderr).toContain(path);
      expect(stderr).toContain('vram_threshold_gb');
      expect(stderr).toMatch(/:2\b/);
      expect(await readFile(path, 'utf8')).toBe(text);
    }
  });

  it('saves set-threshold atomically with mode 0600 and shows it in config --json', async () => {
    expect((await cli(['--config-dir', dir, 'set-threshold', '7.5'])).code).toBe(0);
    expect((await stat(join(dir, 'config.toml'))).mode & 0o777).toBe(0o600);
    const shown = await cli(['--config-dir', dir, 'config', '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ config: { vram_threshold_gb: 7.5 } });
    expect((await cli(['--config-dir', dir, 'set-threshold', 'lots'])).code).toBe(2);
  });

  it("takes the original's --config <file>: that file, everything else beside it; a clash with --config-dir is refused", async () => {
    const file = join(dir, 'worker-a.toml');
    expect((await cli(['--config', file, 'set-threshold', '6.5'])).code).toBe(0);
    expect(await readFile(file, 'utf8')).toContain('vram_threshold_gb = 6.5');
    expect(existsSync(join(dir, 'config.toml'))).toBe(false);
    const shown = await cli(['--config', file, 'config', '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ config: { vram_threshold_gb: 6.5 } });
    // The original's tray starts its daemon as `studio-worker --config <path> run`: the same parse.
    const plain = join(dir, 'config.toml');
    expect((await cli(['--config', plain, '--config-dir', dir, 'set-threshold', '3'])).code).toBe(0);
    expect(await readFile(plain, 'utf8')).toContain('vram_threshold_gb = 3');
    const clash = await cli(['--config', file, '--config-dir', join(dir, 'elsewhere'), 'status']);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/--config .* and --config-dir .* name different folders/);
    expect(clash.stderr).not.toMatch(/\n\s+at /);
    // A service installed from it starts the worker on the same file.
    const dry = await cli(['--config', file, 'install-service', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`--config ${file}`);
  });

  it('masks secrets in config output', async () => {
    await writeFile(
      join(dir, 'config.toml'),
      'worker_id = "w-1"\nauth_token = "super-secret-token"\nregistration_secret = "abcdef0123456789"\n',
    );
    const { stdout } = await cli(['--config-dir', dir, 'config']);
    expect(stdout).not.toContain('super-secret-token');
    expect(stdout).not.toContain('abcdef0123456789');
    expect(stdout).toContain('w-1');
  });

  it('reports the registration state in status --json', async () => {
    await writeFile(join(dir, 'config.toml'), 'worker_id = "w-9"\nauth_token = "t0k3n-t0k3n"\n');
    const { code, stdout } = await cli(['--config-dir', dir, 'status', '--json']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      registration: { state: 'approved', workerId: 'w-9' },
      pendingUploads: 0,
    });
    expect(stdout).not.toContain('t0k3n-t0k3n');
  });

  it('runs the demo: five kinds, every result checked, metrics scraped over HTTP, exit 0', async () => {
    const { code, stdout, stderr } = await cli(['demo', '--json']);
    expect(stderr).not.toMatch(/internal error/);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as {
      ok: boolean;
      jobs: { kind: string; status: string }[];
      metrics: { missing: string[]; jobsCounted: number };
    };
    expect(report.metrics).toMatchObject({ missing: [], jobsCounted: 5 });
    expect(report.ok).toBe(true);
    expect(report.jobs.map((j) => j.kind).sort()).toEqual([
      'audio_stt',
      'audio_tts',
      'image',
      'llm',
      'video',
    ]);
    expect(report.jobs.every((j) => j.status === 'completed')).toBe(true);
  }, 60_000);
});

describe('failures a user can cause or fix: one plain line and an exit code from the table', () => {
  it('answers an unknown flag or a missing required option with exit code 2 on every command', async () => {
    for (const args of [['run', '--bogus'], ['generate'], ['models', 'list', '--nope'], ['status', '--x']]) {
      const { code, stderr } = await cli(['--config-dir', dir, ...args]);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr).toMatch(/error: (unknown option|required option)/);
    }
  });

  it('blames the flag, not the config file, for an invalid --api-base-url, and saves nothing', async () => {
    const { code, stderr } = await cli(['--config-dir', dir, 'register', '--api-base-url', 'htp:/bad url']);
    expect(code).toBe(2);
    expect(stderr).toContain('--api-base-url: "htp:/bad url" is not a valid http(s) URL');
    expect(stderr).not.toContain('config file');
    await expect(stat(join(dir, 'config.toml'))).rejects.toThrow(/ENOENT/);
  });

  it('says plainly that an output folder does not exist (exit 6), without a stack trace', async () => {
    const out = join(dir, 'missing', 'x.webp');
    const args = ['--config-dir', dir, 'generate', '--kind', 'image', '--engine', 'synthetic'];
    const { code, stderr } = await cli([
      ...args,
      '--prompt',
      'x',
      '--width',
      '16',
      '--height',
      '16',
      '-o',
      out,
    ]);
    expect(code).toBe(6);
    expect(stderr.trim()).toBe(`studio-worker: ${out}: no such file or folder`);
  });

  it('prunes a model cache that does not exist yet (a fresh machine) without an error', async () => {
    const models = join(dir, 'models');
    await writeFile(join(dir, 'config.toml'), `models_root = "${models}"\n`);
    const { code, stdout, stderr } = await cli(['--config-dir', dir, 'models', 'prune', '--max-gb', '40']);
    expect(stderr).not.toContain('internal error');
    expect(code).toBe(0);
    expect(stdout).toContain('freed 0 B');
    await expect(stat(models)).rejects.toThrow(/ENOENT/);
  });
});

describe('ui and the login autostart entry: only an explicit choice writes one', () => {
  async function runUi(
    home: string,
    config: string,
    port: number,
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    await writeFile(join(dir, 'config.toml'), config);
    const child = spawn(
      process.execPath,
      [CLI, '--config-dir', dir, 'ui', '--no-open', '--port', String(port)],
      {
        env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), LOG_LEVEL: 'warn' },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const deadline = Date.now() + 20_000;
    while (!stdout.includes('Dashboard:') && child.exitCode === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGTERM');
    return { code: await exited, stdout, stderr };
  }
  const entry = (home: string) => join(home, '.config', 'autostart', 'studio-worker.desktop');
  const studio = 'api_base_url = "http://127.0.0.1:9/"\n';

  it('writes nothing when auto_start is left to its default, or when the dashboard cannot start', async () => {
    const home = join(dir, 'home');
    const run = await runUi(home, studio, 0);
    expect(run.stdout).toContain('Dashboard:');
    expect(existsSync(entry(home))).toBe(false);

    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    try {
      const port = (busy.address() as AddressInfo).port;
      const failed = await runUi(home, `${studio}auto_start = true\n`, port);
      expect(failed.code).toBe(2);
      expect(failed.stderr).toContain(`Port ${port} is in use`);
      expect(existsSync(entry(home))).toBe(false);
    } finally {
      busy.close();
    }
  });

  it('writes the entry when the operator set auto_start = true, and says where', async () => {
    const home = join(dir, 'home2');
    const run = await runUi(home, `${studio}auto_start = true\n`, 0);
    expect(existsSync(entry(home))).toBe(true);
    expect(run.stdout).toContain(`Login autostart written: ${entry(home)} (auto_start = true)`);
  });
});

describe('newcomer commands', () => {
  it('gives every command --help with an example', async () => {
    const commands = [
      ['status'],
      ['config'],
      ['models'],
      ['models', 'list'],
      ['models', 'prune'],
      ['check-update'],
      ['engines'],
      ['demo'],
      ['uninstall-service'],
      ['install-service'],
      ['set-threshold'],
      ['register'],
      ['run'],
      ['ui'],
      ['generate'],
    ];
    for (const args of commands) {
      const { code, stdout } = await cli([...args, '--help']);
      expect(code, args.join(' ')).toBe(0);
      expect(stdout, args.join(' ')).toMatch(/Examples?:\n( {2}#.*\n)? {2}studio-worker /);
    }
  });

  it('check-update --json answers JSON when the feed cannot be reached, with exit code 5', async () => {
    await writeFile(join(dir, 'config.toml'), 'auto_update_feed = "http://127.0.0.1:9/releases"\n');
    const { code, stdout, stderr } = await cli(['--config-dir', dir, 'check-update', '--json']);
    expect(code).toBe(5);
    const answer = JSON.parse(stdout) as { ok: boolean; error: string };
    expect(answer.ok).toBe(false);
    expect(answer.error).toContain('could not read the release feed');
    expect(stderr).not.toContain('internal error');
  });

  it('engines says which engine can run here and why not, as text and as JSON', async () => {
    await writeFile(join(dir, 'config.toml'), `models_root = ${JSON.stringify(join(dir, 'models'))}\n`);
    const text = await cli(['--config-dir', dir, 'engines'], { PATH: '/usr/bin:/bin' });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^synthetic\s+ready\s+built in/m);
    // No sd-cli here: whether the worker can install one depends on this machine's Vulkan loader.
    const vulkan = await new Promise<boolean>((resolve) =>
      execFile('ldconfig', ['-p'], (err, out) => resolve(!err && out.includes('libvulkan.so.1 '))),
    );
    if (vulkan) {
      expect(text.stdout).toMatch(
        /^sd-cpp\s+ready\s+sd-cli not installed yet: the first image job installs/m,
      );
    } else {
      expect(text.stdout).toMatch(
        /^sd-cpp\s+cannot run\s+sd-cli \(stable-diffusion\.cpp\) not found, and the worker cannot install it here: Vulkan runtime not available/m,
      );
      expect(text.stdout).toContain('sudo apt install libvulkan1');
    }
    const json = await cli(['--config-dir', dir, 'engines', '--json'], { PATH: '/usr/bin:/bin' });
    const { engines } = JSON.parse(json.stdout) as {
      engines: { engine: string; ready: boolean; taskKinds: string[] }[];
    };
    expect(engines.find((e) => e.engine === 'synthetic')).toMatchObject({ ready: true });
    expect(engines.find((e) => e.engine === 'sd-cpp')).toMatchObject({ ready: vulkan });
    expect(engines.map((e) => e.engine).sort()).toEqual([
      'llama-cpp',
      'onnx',
      'parakeet',
      'sd-cpp',
      'synthetic',
    ]);
    // Streaming speech serves the LAN listener only: it offers the studio no task kind.
    expect(engines.find((e) => e.engine === 'parakeet')).toMatchObject({ ready: true, taskKinds: [] });
  });

  it('refuses an absurd VRAM threshold and saves nothing', async () => {
    const { code, stderr } = await cli(['--config-dir', dir, 'set-threshold', '1e9']);
    expect(code).toBe(2);
    expect(stderr).toContain('set-threshold expects gigabytes from 0 to 1024');
    await expect(stat(join(dir, 'config.toml'))).rejects.toThrow(/ENOENT/);
  });

  it('warns when a threshold is above the VRAM a stand-in nvidia-smi reports (24 GB), and saves it', async () => {
    const bin = join(dir, 'bin');
    await mkdir(bin);
    // Stand-in for nvidia-smi (none on this machine): answers only the probe's exact query.
    const args = '--query-gpu=memory.total --format=csv,noheader,nounits';
    await writeFile(
      join(bin, 'nvidia-smi'),
      `#!/bin/sh\nif [ "$*" != "${args}" ]; then exit 2; fi\nprintf '24564\\n'\n`,
      { mode: 0o755 },
    );
    const env = { PATH: `${bin}:${process.env.PATH ?? ''}` };
    const { code, stdout } = await cli(['--config-dir', dir, 'set-threshold', '30'], env);
    expect(code).toBe(0);
    expect(stdout).toContain("warning: 30 GB is more than this machine's 24 GB of VRAM");
    expect(await readFile(join(dir, 'config.toml'), 'utf8')).toContain('vram_threshold_gb = 30');
  });

  it('register stopped before any request was sent does not claim one is pending', async () => {
    const child = spawn(
      process.execPath,
      [CLI, '--config-dir', dir, 'register', '--api-base-url', 'http://127.0.0.1:9/'],
      { env: { ...process.env, LOG_LEVEL: 'warn' } },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    while (!stderr.includes('retrying in')) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stdout).toContain('none was sent');
    expect(stdout).not.toContain('stays pending');
  });
});
