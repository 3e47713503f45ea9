import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  LINUX_VULKAN_ASSET,
  startReleaseServer,
  type ReleaseServer,
} from '../fixtures/sd-cli-standin/release.js';
import { runCli } from '../support/cli.js';

/** With a PATH of the system's folders only, so no sd-cli of this machine is found. */
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { PATH: '/usr/bin:/bin', ...env });

let release: ReleaseServer;
let dir: string;
beforeAll(async () => {
  release = await startReleaseServer();
});
afterAll(async () => {
  await release.close();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sw-engines-'));
  await writeFile(join(dir, 'config.toml'), `models_root = ${JSON.stringify(join(dir, 'models'))}\n`);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('studio-worker engines install (a loopback release of the stand-in sd-cli and sd-server)', () => {
  it('installs the verified zip into models_root/bin, after which engines says sd-cpp is ready', async () => {
    const env = {
      STUDIO_WORKER_SDCPP_URL: `${release.url}/download/${LINUX_VULKAN_ASSET}`,
      STUDIO_WORKER_SDCPP_SHA256: release.sha256,
    };
    const install = await cli(['--config-dir', dir, 'engines', 'install', 'sd-cpp'], env);
    expect(install.stderr).not.toContain('internal error');
    expect(install.code).toBe(0);
    expect(install.stdout).toContain('installed stable-diffusion.cpp custom');
    const bin = join(dir, 'models', 'bin');
    expect(existsSync(join(bin, 'sd-cli')) && existsSync(join(bin, 'sd-server'))).toBe(true);
    const { engines } = JSON.parse((await cli(['--config-dir', dir, 'engines', '--json'])).stdout) as {
      engines: { engine: string; ready: boolean; detail: string; taskKinds: string[] }[];
    };
    const sd = engines.find((e) => e.engine === 'sd-cpp');
    expect(sd).toMatchObject({ ready: true, taskKinds: ['image', 'video'] });
    expect(sd?.detail).toContain(`sd-cli at ${join(bin, 'sd-cli')}`);
    expect(sd?.detail).toContain(`sd-server at ${join(bin, 'sd-server')} keeps image models warm`);
    const again = await cli(['--config-dir', dir, 'engines', 'install', 'sd-cpp'], env);
    expect(again.stdout).toContain('sd-cpp can already run');
  });

  it('refuses an unverified download in one plain line, exit 5, installing nothing', async () => {
    const r = await cli(['--config-dir', dir, 'engines', 'install', 'sd-cpp'], {
      STUDIO_WORKER_SDCPP_URL: `${release.url}/download/${LINUX_VULKAN_ASSET}`,
    });
    expect(r.code).toBe(5);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(
      'could not install sd-cpp: refusing to install stable-diffusion.cpp from STUDIO_WORKER_SDCPP_URL without STUDIO_WORKER_SDCPP_SHA256',
    );
    expect(existsSync(join(dir, 'models', 'bin'))).toBe(false);
  });

  it('names what can be installed when asked for something else (exit 2)', async () => {
    const r = await cli(['--config-dir', dir, 'engines', 'install', 'llama-cpp']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('installable: sd-cpp');
  });
});

describe('studio-worker models keep / release', () => {
  it('keeps and releases a model in residency.json beside config.toml', async () => {
    const keep = await cli(['--config-dir', dir, 'models', 'keep', 'z-image-turbo']);
    expect(keep.code).toBe(0);
    expect(keep.stdout).toContain('keeping z-image-turbo loaded once it is loaded');
    expect(JSON.parse(await readFile(join(dir, 'residency.json'), 'utf8'))).toEqual({
      version: 1,
      resident: ['z-image-turbo'],
    });
    const release2 = await cli(['--config-dir', dir, 'models', 'release', 'z-image-turbo']);
    expect(release2.stdout).toContain('released z-image-turbo');
    expect(JSON.parse(await readFile(join(dir, 'residency.json'), 'utf8'))).toEqual({
      version: 1,
      resident: [],
    });
    expect((await cli(['--config-dir', dir, 'models', 'keep'])).code).toBe(2);
  });
});
