import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readlinkSync, statSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  chooseAssets,
  extractFlat,
  parseRelease,
  PINNED_SDCPP_RELEASE,
  platformProblem,
  releaseApiUrl,
  SdCppInstaller,
  shaOfTag,
  vulkanLoaderPresent,
  vulkanMissingMessage,
  type ReleaseAsset,
} from '../../src/engines/sd-cpp/install/index.js';
import { EngineError } from '../../src/engines/types.js';
import { ModelCache } from '../../src/models/index.js';
import { silentLog } from '../fixtures/sd-cli-standin/harness.js';
import {
  buildZip,
  LINUX_VULKAN_ASSET,
  standinBuildEntries,
  startReleaseServer,
  type ReleaseServer,
} from '../fixtures/sd-cli-standin/release.js';

const LINUX = { platform: 'linux' as const, arch: 'x64', nvidia: false };
const asset = (name: string): ReleaseAsset => ({
  name,
  url: `https://example.test/${name}`,
  sha256: 'a'.repeat(64),
});
const UPSTREAM = [
  'sd-master-2d40a8b-bin-Linux-Ubuntu-24.04-x86_64.zip',
  'sd-master-2d40a8b-bin-Linux-Ubuntu-24.04-x86_64-vulkan.zip',
  'sd-master-2d40a8b-bin-Linux-Ubuntu-24.04-x86_64-rocm-7.14.0.zip',
  'sd-master-2d40a8b-bin-Darwin-macOS-15.7.7-arm64.zip',
  'sd-master-2d40a8b-bin-win-cpu-x64.zip',
  'sd-master-2d40a8b-bin-win-cuda12-x64.zip',
  'sd-master-2d40a8b-bin-win-vulkan-x64.zip',
  'cudart-sd-bin-win-cu12-x64.zip',
].map(asset);

describe('choosing the stable-diffusion.cpp build', () => {
  it('takes Vulkan on Linux, even with an NVIDIA driver, since upstream ships no Linux CUDA zip', () => {
    expect(chooseAssets(UPSTREAM, LINUX)?.assets.map((a) => a.name)).toEqual([UPSTREAM[1]?.name]);
    expect(chooseAssets(UPSTREAM, { ...LINUX, nvidia: true })?.backend).toBe('vulkan');
  });

  it('takes a Linux CUDA build when a release ships one and an NVIDIA driver is loaded', () => {
    const withCuda = [...UPSTREAM, asset('sd-master-2d40a8b-bin-Linux-Ubuntu-24.04-x86_64-cuda12.zip')];
    expect(chooseAssets(withCuda, { ...LINUX, nvidia: true })).toMatchObject({
      backend: 'cuda',
      assets: [{ name: 'sd-master-2d40a8b-bin-Linux-Ubuntu-24.04-x86_64-cuda12.zip' }],
    });
    expect(chooseAssets(withCuda, LINUX)?.backend).toBe('vulkan');
  });

  it('takes CUDA with its runtime DLLs on Windows with an NVIDIA driver, Vulkan without one', () => {
    const win = { platform: 'win32' as const, arch: 'x64', nvidia: true };
    expect(chooseAssets(UPSTREAM, win)?.assets.map((a) => a.name)).toEqual([
      'sd-master-2d40a8b-bin-win-cuda12-x64.zip',
      'cudart-sd-bin-win-cu12-x64.zip',
    ]);
    expect(chooseAssets(UPSTREAM, { ...win, nvidia: false })?.assets.map((a) => a.name)).toEqual([
      'sd-master-2d40a8b-bin-win-vulkan-x64.zip',
    ]);
  });

  it('takes the universal Metal build on both kinds of Mac', () => {
    for (const arch of ['arm64', 'x64']) {
      expect(chooseAssets(UPSTREAM, { platform: 'darwin', arch, nvidia: false })).toMatchObject({
        backend: 'metal',
        assets: [{ name: 'sd-master-2d40a8b-bin-Darwin-macOS-15.7.7-arm64.zip' }],
      });
    }
  });

  it('reads Linux on ARM from the original worker’s own releases, and names platforms with no build', () => {
    expect(releaseApiUrl(PINNED_SDCPP_RELEASE, { platform: 'linux', arch: 'arm64', nvidia: false })).toBe(
      `https://api.github.com/repos/webbertakken/studio-worker/releases/tags/sdcpp-prebuilt-${PINNED_SDCPP_RELEASE}`,
    );
    expect(releaseApiUrl('master-700-deadbee', LINUX, 'http://127.0.0.1:9/')).toBe(
      'http://127.0.0.1:9/repos/leejet/stable-diffusion.cpp/releases/tags/master-700-deadbee',
    );
    expect(platformProblem({ platform: 'freebsd', arch: 'x64', nvidia: false })).toMatch(
      /no prebuilt build for freebsd\/x64: build stable-diffusion\.cpp yourself .* sd_cli_path/,
    );
    expect(shaOfTag('master-669-2d40a8b')).toBe('2d40a8b');
    expect(() => shaOfTag('master')).toThrow(/no "-<commit>"/);
  });

  it('reads the sha256 from GitHub’s digest field and ignores assets without a URL', () => {
    const release = parseRelease(
      {
        tag_name: 'master-669-2d40a8b',
        assets: [
          { name: 'a.zip', browser_download_url: 'https://x/a.zip', digest: `sha256:${'AB'.repeat(32)}` },
          { name: 'b.zip', browser_download_url: 'https://x/b.zip', digest: 'md5:00' },
          { name: 'c.zip' },
        ],
      },
      'test',
    );
    expect(release.assets).toEqual([
      { name: 'a.zip', url: 'https://x/a.zip', sha256: 'ab'.repeat(32) },
      { name: 'b.zip', url: 'https://x/b.zip' },
    ]);
    expect(() => parseRelease({ message: 'Not Found' }, 'https://api')).toThrow(/not a GitHub release/);
  });
});

describe('the Vulkan loader check', () => {
  const noLdconfig = () => Promise.resolve({ code: -1, stdout: '', stderr: '', error: 'ENOENT' });

  it('finds the loader in ldconfig’s cache, and says what to install when it is not there', async () => {
    const listing = '\tlibvulkan.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libvulkan.so.1\n';
    const ldconfig = () => Promise.resolve({ code: 0, stdout: listing, stderr: '' });
    const probe = { platform: 'linux' as const, env: {}, exists: () => false };
    expect(await vulkanLoaderPresent({ ...probe, run: ldconfig })).toBe(true);
    expect(await vulkanLoaderPresent({ ...probe, run: noLdconfig })).toBe(false);
    expect(vulkanMissingMessage('linux')).toContain('sudo apt install libvulkan1 mesa-vulkan-drivers');
    expect(vulkanMissingMessage('linux')).toContain('vulkaninfo --summary');
    expect(vulkanMissingMessage('win32')).toContain('vulkan-1.dll');
  });

  it('looks in LD_LIBRARY_PATH folders, and in System32 on Windows; macOS needs none', async () => {
    const seen: string[] = [];
    const exists = (p: string) => (seen.push(p), p === '/opt/vk/libvulkan.so.1');
    expect(
      await vulkanLoaderPresent({
        platform: 'linux',
        env: { LD_LIBRARY_PATH: '/opt/vk' },
        exists,
        run: noLdconfig,
      }),
    ).toBe(true);
    expect(
      await vulkanLoaderPresent({
        platform: 'win32',
        env: { SystemRoot: 'C:\\Windows' },
        exists: (p) => p.endsWith('vulkan-1.dll'),
        run: noLdconfig,
      }),
    ).toBe(true);
    expect(await vulkanLoaderPresent({ platform: 'darwin', env: {}, run: noLdconfig })).toBe(true);
  });

  it('agrees with ldconfig on this machine (the real probe)', async () => {
    const { createCommandRunner } = await import('../../src/platform/index.js');
    const listed = (() => {
      try {
        return execFileSync('ldconfig', ['-p'], { encoding: 'utf8' }).includes('libvulkan.so.1 ');
      } catch {
        return false;
      }
    })();
    const present = await vulkanLoaderPresent({ platform: 'linux', env: {}, run: createCommandRunner() });
    if (listed) expect(present).toBe(true);
    else expect(typeof present).toBe('boolean');
  });
});

describe('flat extraction', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sd-extract-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes every file by its bare name, so no entry can leave the folder, and keeps exec bits', async () => {
    const zipPath = join(dir, 'hostile.zip');
    await writeFile(
      zipPath,
      await buildZip([
        { name: 'build/bin/sd-cli', data: Buffer.from('#!/bin/sh\n'), mode: 0o100755 },
        { name: '../../escape.txt', data: Buffer.from('evil') },
        { name: '/etc/abs.txt', data: Buffer.from('abs') },
        { name: 'nested\\win\\lib.dll', data: Buffer.from('dll') },
        { name: 'build/bin/.hidden', data: Buffer.from('x') },
        { name: 'build/bin/libfoo.so', data: Buffer.from('libfoo.so.1'), mode: 0o120777 },
        { name: 'build/bin/libbad.so', data: Buffer.from('../../etc/passwd'), mode: 0o120777 },
      ]),
    );
    const dest = join(dir, 'out');
    const result = await extractFlat(zipPath, dest);
    expect(result.files.sort()).toEqual(['abs.txt', 'escape.txt', 'lib.dll', 'libfoo.so', 'sd-cli']);
    expect(result.skipped.join('\n')).toMatch(/\.hidden.*hidden name/);
    expect(result.skipped.join('\n')).toMatch(/libbad\.so.*outside the folder/);
    expect(existsSync(join(dir, 'escape.txt'))).toBe(false);
    expect(await readFile(join(dest, 'escape.txt'), 'utf8')).toBe('evil');
    expect(statSync(join(dest, 'sd-cli')).mode & 0o111).not.toBe(0);
    expect(lstatSync(join(dest, 'libfoo.so')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dest, 'libfoo.so'))).toBe('libfoo.so.1');
    expect((await readdir(dir)).sort()).toEqual(['hostile.zip', 'out']);
  });

  it('names a file that is not a zip', async () => {
    const bad = join(dir, 'not.zip');
    await writeFile(bad, 'this is not a zip archive');
    await expect(extractFlat(bad, join(dir, 'out2'))).rejects.toThrow(
      /not\.zip is not a readable zip archive/,
    );
  });
});

describe('installing from a release server (loopback; the zip holds the stand-in sd-cli and sd-server)', () => {
  let release: ReleaseServer;
  let root: string;
  let cache: ModelCache;
  const installer = (env: NodeJS.ProcessEnv, host = LINUX) =>
    new SdCppInstaller({
      modelsRoot: root,
      env,
      host,
      log: silentLog,
      vulkanPresent: () => Promise.resolve(true),
    });
  const api = () => ({ STUDIO_WORKER_SDCPP_API: release.url });

  beforeAll(async () => {
    release = await startReleaseServer();
  });
  afterAll(async () => {
    await release.close();
  });
  afterEach(async () => {
    await cache.close();
    await rm(root, { recursive: true, force: true });
  });
  const fresh = async () => {
    root = await mkdtemp(join(tmpdir(), 'sd-install-'));
    cache = new ModelCache({ root, log: silentLog });
  };

  it('installs the digest-verified build flat into <models_root>/bin, once, for callers arriving together', async () => {
    await fresh();
    const inst = installer(api());
    const signal = new AbortController().signal;
    const [a, b] = await Promise.all([inst.ensure(cache, signal), inst.ensure(cache, signal)]);
    expect(a).toBe(b);
    expect(a).toMatchObject({
      release: PINNED_SDCPP_RELEASE,
      backend: 'vulkan',
      archives: [{ name: LINUX_VULKAN_ASSET, sha256: release.sha256 }],
    });
    const bin = join(root, 'bin');
    expect((await readdir(bin)).sort()).toEqual([
      '.stable-diffusion-cpp.json',
      'libstable-diffusion.so',
      'package.json',
      'sd-cli',
      'sd-server',
      'standin-common',
    ]);
    expect(statSync(join(bin, 'sd-server')).mode & 0o111).not.toBe(0);
    expect(release.requests.filter((r) => r.startsWith('/download/'))).toHaveLength(1);
    // Already there: no second download, no second read of the release.
    const before = release.requests.length;
    await inst.ensure(cache, signal);
    expect(release.requests.length).toBe(before);
    // No staging folder is left behind.
    expect((await readdir(root)).filter((n) => n.startsWith('.sd-cpp-staging'))).toEqual([]);
  });

  it('refuses a build whose bytes do not match the release’s digest, and installs nothing', async () => {
    await fresh();
    const lying = await startReleaseServer({ digest: 'f'.repeat(64) });
    try {
      const err = await installer({ STUDIO_WORKER_SDCPP_API: lying.url })
        .ensure(cache, new AbortController().signal)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(String(err)).toMatch(/sha256|SHA-256/i);
      expect(existsSync(join(root, 'bin', 'sd-cli'))).toBe(false);
    } finally {
      await lying.close();
    }
  });

  it('refuses a release that lists no digest unless STUDIO_WORKER_SDCPP_SHA256 vouches for it', async () => {
    await fresh();
    const bare = await startReleaseServer({ digest: false });
    try {
      const err = await installer({ STUDIO_WORKER_SDCPP_API: bare.url })
        .ensure(cache, new AbortController().signal)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EngineError);
      expect(String(err)).toContain('lists no sha256 digest');
      expect(String(err)).toContain('STUDIO_WORKER_SDCPP_SHA256');
      const ok = await installer({
        STUDIO_WORKER_SDCPP_API: bare.url,
        STUDIO_WORKER_SDCPP_SHA256: bare.sha256,
      }).ensure(cache, new AbortController().signal);
      expect(ok.archives[0]?.sha256).toBe(bare.sha256);
    } finally {
      await bare.close();
    }
  });

  it('takes STUDIO_WORKER_SDCPP_URL only with STUDIO_WORKER_SDCPP_SHA256', async () => {
    await fresh();
    const url = `${release.url}/download/${LINUX_VULKAN_ASSET}`;
    const err = await installer({ STUDIO_WORKER_SDCPP_URL: url })
      .ensure(cache, new AbortController().signal)
      .catch((e: unknown) => e);
    expect(String(err)).toContain('without STUDIO_WORKER_SDCPP_SHA256');
    const record = await installer({
      STUDIO_WORKER_SDCPP_URL: url,
      STUDIO_WORKER_SDCPP_SHA256: release.sha256,
    }).ensure(cache, new AbortController().signal);
    expect(record.release).toBe('custom');
    expect(existsSync(join(root, 'bin', 'sd-cli'))).toBe(true);
  });

  it('asks for the tag in STUDIO_WORKER_SDCPP_RELEASE, and names an unknown one', async () => {
    await fresh();
    const err = await installer({ ...api(), STUDIO_WORKER_SDCPP_RELEASE: 'master-1-0000000' })
      .ensure(cache, new AbortController().signal)
      .catch((e: unknown) => e);
    expect(release.requests).toContain('/repos/leejet/stable-diffusion.cpp/releases/tags/master-1-0000000');
    expect(String(err)).toMatch(/HTTP 404 \(no such release; check STUDIO_WORKER_SDCPP_RELEASE\)/);
  });

  it('refuses a zip without sd-cli, saying what it held', async () => {
    await fresh();
    const zip = await buildZip((await standinBuildEntries()).filter((e) => !e.name.endsWith('sd-cli')));
    const odd = await startReleaseServer({ zip });
    try {
      const err = await installer({ STUDIO_WORKER_SDCPP_API: odd.url })
        .ensure(cache, new AbortController().signal)
        .catch((e: unknown) => e);
      expect(String(err)).toMatch(/holds no sd-cli \(it holds .*sd-server/);
      expect(existsSync(join(root, 'bin'))).toBe(false);
    } finally {
      await odd.close();
    }
  });

  it('will not install a Vulkan build where the Vulkan loader is missing, and says what to install', async () => {
    await fresh();
    const inst = new SdCppInstaller({
      modelsRoot: root,
      env: api(),
      host: LINUX,
      log: silentLog,
      vulkanPresent: () => Promise.resolve(false),
    });
    expect(await inst.problem()).toContain('libvulkan1');
    await expect(inst.ensure(cache, new AbortController().signal)).rejects.toThrow(
      /Vulkan runtime not available/,
    );
    expect(release.requests.at(-1)).not.toContain('master-669');
  });
});
