import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'smol-toml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const NVIDIA_SMI_STANDIN = fileURLToPath(new URL('../fixtures/nvidia-smi-standin/', import.meta.url));

let dir: string;
let env: NodeJS.ProcessEnv;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sw-gpus-'));
  // A home of its own, so nothing is written to this machine's service folders.
  env = { HOME: join(dir, 'home'), XDG_CONFIG_HOME: join(dir, 'home', '.config') };
  await writeFile(
    join(dir, 'config.toml'),
    [
      'api_base_url = "http://127.0.0.1:9/"',
      'models_root = "/srv/models"',
      'worker_id = "w-registered"',
      'auth_token = "secret-token"',
      'install_id = "install-1"',
      '',
    ].join('\n'),
  );
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** This machine's own GPUs, were it to have amdgpu cards: `--gpus all` would then find them. */
const hasAmdgpu = (() => {
  try {
    return readdirSync('/sys/class/drm').some((c) =>
      existsSync(`/sys/class/drm/${c}/device/mem_info_vram_total`),
    );
  } catch {
    return false;
  }
})();

describe('install-service --gpus: one worker per GPU', () => {
  it('--gpus 0,1 --dry-run prints two units, each on its own config folder, and writes nothing', async () => {
    const r = await runCli(['--config-dir', dir, 'install-service', '--gpus', '0,1', '--dry-run'], {
      ...env,
      PATH: '/usr/bin:/bin',
    });
    expect(r.stderr).not.toContain('internal error');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`GPU 0: studio-worker@0.service, config folder ${join(dir, 'gpu-0')}`);
    expect(r.stdout).toContain(`GPU 1: studio-worker@1.service, config folder ${join(dir, 'gpu-1')}`);
    expect(r.stdout).toContain(
      'systemctl --user enable --now studio-worker@0.service studio-worker@1.service',
    );
    expect(r.stdout).toContain(`--config-dir "${join(dir, 'gpu-%i')}" run --gpu %i`);
    expect(r.stdout).toContain(`would write ${join(dir, 'gpu-1', 'config.toml')}`);
    expect(existsSync(join(dir, 'gpu-0'))).toBe(false);
    expect(existsSync(join(dir, 'home'))).toBe(false);
  });

  it('--gpus all lists the GPUs nvidia-smi knows (stand-in nvidia-smi)', async () => {
    const state = join(dir, 'gpus.state');
    await writeFile(
      state,
      'name=GPU A,memory.free=8000\nname=GPU B,memory.free=8000\nname=GPU C,memory.free=8000\n',
    );
    const r = await runCli(['--config-dir', dir, 'install-service', '--gpus', 'all', '--dry-run'], {
      ...env,
      PATH: `${NVIDIA_SMI_STANDIN}:/usr/bin:/bin`,
      NVIDIA_SMI_STANDIN_STATE: state,
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('GPUs (nvidia-smi): 0 GPU A, 1 GPU B, 2 GPU C');
    expect(r.stdout).toContain(
      'enable --now studio-worker@0.service studio-worker@1.service studio-worker@2.service',
    );

    const missing = await runCli(['--config-dir', dir, 'install-service', '--gpus', '0,5', '--dry-run'], {
      ...env,
      PATH: `${NVIDIA_SMI_STANDIN}:/usr/bin:/bin`,
      NVIDIA_SMI_STANDIN_STATE: state,
    });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no GPU 5 here; nvidia-smi lists 0, 1, 2');
  });

  it.skipIf(hasAmdgpu)(
    '--gpus all on a machine without GPUs says so and installs nothing (exit 6)',
    async () => {
      const r = await runCli(['--config-dir', dir, 'install-service', '--gpus', 'all'], {
        ...env,
        PATH: '/usr/bin:/bin',
      });
      expect(r.code).toBe(6);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(
        '--gpus all: this machine has no GPU the worker can use (nvidia-smi is not on PATH',
      );
      expect(r.stderr).toContain('nothing installed');
      expect(existsSync(join(dir, 'home'))).toBe(false);
      expect(existsSync(join(dir, 'gpu-0'))).toBe(false);
    },
  );

  it('refuses a list that is not GPU indices', async () => {
    for (const bad of ['0,x', '1,1', '-1', '']) {
      const r = await runCli(['--config-dir', dir, 'install-service', '--gpus', bad, '--dry-run'], env);
      expect(r.code, bad).toBe(2);
      expect(r.stderr, bad).toMatch(/--gpus (expects|names a GPU twice)/);
    }
  });

  it('seeds each GPU its own config (settings copied, registration not, own ports), and keeps an existing one', async () => {
    // systemctl --user cannot reach a user bus here: the files are written and the commands printed.
    const r = await runCli(['--config-dir', dir, 'install-service', '--gpus', '0,1'], {
      ...env,
      PATH: '/usr/bin:/bin',
    });
    expect(r.stderr).not.toContain('internal error');
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, 'home', '.config', 'systemd', 'user', 'studio-worker@.service'))).toBe(true);
    for (const n of [0, 1]) {
      const config = parse(await readFile(join(dir, `gpu-${n}`, 'config.toml'), 'utf8'));
      expect(config).toMatchObject({
        api_base_url: 'http://127.0.0.1:9/',
        models_root: '/srv/models',
        gpu: n,
        dashboard_port: 7879 + n,
        local_api_port: 4788 + n,
        stream_port: 4799 + n,
      });
      for (const key of ['worker_id', 'auth_token', 'install_id']) expect(config[key]).toBeUndefined();
    }
    // The base config is untouched.
    expect(await readFile(join(dir, 'config.toml'), 'utf8')).toContain('worker_id = "w-registered"');

    await writeFile(join(dir, 'gpu-1', 'config.toml'), 'gpu = 1\nworker_id = "w-gpu1"\n');
    const again = await runCli(['--config-dir', dir, 'install-service', '--gpus', '0,1'], {
      ...env,
      PATH: '/usr/bin:/bin',
    });
    expect(again.stdout).toContain(`kept ${join(dir, 'gpu-1', 'config.toml')}`);
    expect(await readFile(join(dir, 'gpu-1', 'config.toml'), 'utf8')).toBe('gpu = 1\nworker_id = "w-gpu1"\n');

    // A plain uninstall finds no single service, and says how to remove the per-GPU ones.
    const plain = await runCli(['--config-dir', dir, 'uninstall-service'], { ...env, PATH: '/usr/bin:/bin' });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain('nothing to remove: the service is not installed');
    expect(plain.stdout).toContain(
      'per-GPU workers were installed from this config (GPU 0, 1): `studio-worker uninstall-service --gpus all` removes them',
    );
    // `all` is what was installed from this config, not the GPUs this machine has (here: none).
    const off = await runCli(['--config-dir', dir, 'uninstall-service', '--gpus', 'all'], {
      ...env,
      PATH: '/usr/bin:/bin',
    });
    expect(off.code).toBe(0);
    expect(off.stdout).toContain(
      `removed ${join(dir, 'home', '.config', 'systemd', 'user', 'studio-worker@.service')}`,
    );
    expect(off.stdout).toContain(
      'systemctl --user disable --now studio-worker@0.service studio-worker@1.service',
    );
    expect(existsSync(join(dir, 'gpu-1', 'config.toml'))).toBe(true);
  });
});
