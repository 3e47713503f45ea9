import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile, chmod, copyFile, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createCommandRunner, type CommandRunner } from '../../../platform/index.js';
import { insecureProblem, toError } from '../../../util/index.js';
import { EngineError, type ModelProvider } from '../../types.js';
import { extractFlat } from './extract.js';
import {
  chooseAssets,
  GITHUB_API,
  NO_PREBUILT_HINT,
  parseRelease,
  PINNED_SDCPP_RELEASE,
  platformProblem,
  releaseApiUrl,
  sha256FromEnv,
  SDCPP_API_ENV,
  SDCPP_RELEASE_ENV,
  SDCPP_SHA256_ENV,
  SDCPP_URL_ENV,
  expectedBackend,
  type SdBackend,
  type SdHost,
  type SdInstallPlan,
} from './release.js';
import { vulkanLoaderPresent, vulkanMissingMessage } from './vulkan.js';

/** Written beside the binaries: which build they are, so `engines` can say it and a re-install can be skipped. */
export const INSTALL_MARKER = '.stable-diffusion-cpp.json';

export interface SdInstallRecord {
  release: string;
  backend: SdBackend | 'unknown';
  archives: { name: string; sha256: string }[];
  installedAt: string;
}

export interface SdCppInstallerOptions {
  /** models_root, already ~-expanded; the build goes into `<modelsRoot>/bin/`. */
  modelsRoot: string;
  log?: Logger | undefined;
  env?: NodeJS.ProcessEnv;
  host?: SdHost;
  run?: CommandRunner;
  userAgent?: string;
  /** Whether the Vulkan loader is there (default: looked for, see vulkan.ts); tests of other machines set it. */
  vulkanPresent?: () => Promise<boolean>;
}

export const exeName = (base: string, platform: NodeJS.Platform = process.platform): string =>
  platform === 'win32' ? `${base}.exe` : base;

/** The machine this runs on, for choosing a build: an NVIDIA driver means a CUDA build can run. */
export function detectSdHost(env: NodeJS.ProcessEnv = process.env): SdHost {
  const platform = process.platform;
  const nvidia =
    platform === 'linux'
      ? existsSync('/proc/driver/nvidia/version')
      : platform === 'win32'
        ? existsSync(join(env['SystemRoot'] ?? 'C:\\Windows', 'System32', 'nvidia-smi.exe'))
        : false;
  return { platform, arch: process.arch, nvidia };
}

/**
 * Installs a prebuilt stable-diffusion.cpp (sd-cli, sd-server and their library) into
 * `<models_root>/bin/`, as the original does on the first image job. The archive is fetched
 * through the model cache, so it is resumable, shared between callers, shown like a model
 * download, and never used unless its SHA-256 matches the release's digest (or
 * STUDIO_WORKER_SDCPP_SHA256).
 */
export class SdCppInstaller {
  readonly binDir: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly host: SdHost;
  private readonly run: CommandRunner;
  private pending: Promise<SdInstallRecord> | undefined;

  constructor(private readonly opts: SdCppInstallerOptions) {
    this.binDir = join(opts.modelsRoot, 'bin');
    this.env = opts.env ?? process.env;
    this.host = opts.host ?? detectSdHost(this.env);
    this.run = opts.run ?? createCommandRunner({ timeoutMs: 5000 });
  }

  get cliPath(): string {
    return join(this.binDir, exeName('sd-cli', this.host.platform));
  }

  /** Why an installed Vulkan build cannot run here (no Vulkan loader), or undefined. */
  async installedProblem(): Promise<string | undefined> {
    if (this.record()?.backend !== 'vulkan') return undefined;
    return (await this.vulkanPresent()) ? undefined : vulkanMissingMessage(this.host.platform);
  }

  /** What an earlier install recorded, if the binary is still there. */
  record(): SdInstallRecord | undefined {
    if (!existsSync(this.cliPath)) return undefined;
    try {
      return JSON.parse(readFileSync(join(this.binDir, INSTALL_MARKER), 'utf8')) as SdInstallRecord;
    } catch {
      return undefined;
    }
  }

  /**
   * Why this machine cannot get a build (no prebuilt for the platform, no Vulkan loader for a
   * Vulkan build), or undefined when an install can go ahead. Reads no network.
   */
  async problem(): Promise<string | undefined> {
    if (this.env[SDCPP_URL_ENV]) return undefined;
    const platform = platformProblem(this.host);
    if (platform) return platform;
    if (expectedBackend(this.host) === 'vulkan' && !(await this.vulkanPresent())) {
      return vulkanMissingMessage(this.host.platform);
    }
    return undefined;
  }

  /** What would be installed: reads the release JSON (network), or the URL override. */
  async plan(signal?: AbortSignal): Promise<SdInstallPlan> {
    const pinnedSha = sha256FromEnv(this.env[SDCPP_SHA256_ENV]);
    const url = this.env[SDCPP_URL_ENV]?.trim();
    if (url) {
      this.opts.log?.info(`using ${SDCPP_URL_ENV}=${url} for stable-diffusion.cpp`);
      if (!pinnedSha) {
        throw new EngineError(
          `refusing to install stable-diffusion.cpp from ${SDCPP_URL_ENV} without ${SDCPP_SHA256_ENV}: ` +
            'an unverified binary is never run',
          false,
        );
      }
      return {
        release: 'custom',
        // Whatever build the operator's zip holds: not ours to guess.
        backend: 'unknown',
        archives: [{ name: archiveName(url), url, sha256: pinnedSha }],
      };
    }
    const problem = platformProblem(this.host);
    if (problem) throw new EngineError(problem, false);
    const tag = this.env[SDCPP_RELEASE_ENV]?.trim() || PINNED_SDCPP_RELEASE;
    if (tag !== PINNED_SDCPP_RELEASE)
      this.opts.log?.info(`using ${SDCPP_RELEASE_ENV}=${tag} for stable-diffusion.cpp`);
    const apiUrl = releaseApiUrl(tag, this.host, this.env[SDCPP_API_ENV]?.trim() || GITHUB_API);
    const release = parseRelease(await this.getJson(apiUrl, signal), apiUrl);
    const chosen = chooseAssets(release.assets, this.host);
    if (!chosen) {
      throw new EngineError(
        `release ${tag} of stable-diffusion.cpp has no build for ${this.host.platform}/${this.host.arch}: ${NO_PREBUILT_HINT}`,
        false,
      );
    }
    const archives = chosen.assets.map((a, i) => {
      // The override names the main build's hash; a runtime archive beside it keeps the API's.
      const sha256 = (i === 0 ? pinnedSha : undefined) ?? a.sha256;
      if (!sha256) {
        throw new EngineError(
          `the release JSON lists no sha256 digest for ${a.name}, and ${SDCPP_SHA256_ENV} is not set: ` +
            'refusing an unverified binary',
          false,
        );
      }
      return { name: a.name, url: a.url, sha256, ...(a.bytes !== undefined ? { bytes: a.bytes } : {}) };
    });
    return { release: tag, backend: chosen.backend, archives };
  }

  /**
   * Installs the build unless one is there (or `force`). One install at a time per process; a
   * caller that arrives meanwhile waits for the same install.
   */
  ensure(
    models: ModelProvider,
    signal: AbortSignal,
    opts: { force?: boolean } = {},
  ): Promise<SdInstallRecord> {
    const existing = this.record();
    if (existing && !opts.force) return Promise.resolve(existing);
    if (existsSync(this.cliPath) && !opts.force) {
      return Promise.resolve({ release: 'unknown', backend: 'unknown', archives: [], installedAt: '' });
    }
    this.pending ??= this.install(models, signal).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async install(models: ModelProvider, signal: AbortSignal): Promise<SdInstallRecord> {
    const problem = await this.problem();
    if (problem) throw new EngineError(problem, false);
    const plan = await this.plan(signal);
    const log = this.opts.log;
    log?.info(
      { release: plan.release, backend: plan.backend, archives: plan.archives.map((a) => a.name) },
      `installing stable-diffusion.cpp ${plan.release} (${plan.backend}) into ${this.binDir}`,
    );
    const provisioned = await models.provision(
      plan.archives.map((a) => ({
        role: 'model' as const,
        url: a.url,
        filename: a.name,
        sha256: a.sha256,
        ...(a.bytes !== undefined ? { approxBytes: a.bytes } : {}),
      })),
      signal,
      { model: `stable-diffusion.cpp-${plan.release}` },
    );
    const staging = join(this.opts.modelsRoot, `.sd-cpp-staging-${process.pid}-${Date.now()}`);
    try {
      const written: string[] = [];
      for (const archive of provisioned.byRole('model')) {
        const { files, skipped } = await extractFlat(archive, staging);
        for (const s of skipped) log?.warn(`left out of ${archive}: ${s}`);
        written.push(...files);
      }
      const cli = exeName('sd-cli', this.host.platform);
      if (!written.includes(cli)) {
        throw new EngineError(
          `the stable-diffusion.cpp archive (${plan.archives[0]?.name}) holds no ${cli} (it holds ${written.join(', ') || 'nothing'})`,
          false,
        );
      }
      const record: SdInstallRecord = {
        release: plan.release,
        backend: plan.backend,
        archives: plan.archives.map((a) => ({ name: a.name, sha256: a.sha256 })),
        installedAt: new Date().toISOString(),
      };
      await writeFile(join(staging, INSTALL_MARKER), `${JSON.stringify(record, null, 2)}\n`);
      await publish(staging, this.binDir);
      if (this.host.platform !== 'win32') {
        for (const name of ['sd-cli', 'sd-server']) {
          const path = join(this.binDir, name);
          if (existsSync(path)) await chmod(path, 0o755);
        }
      }
      log?.info(`stable-diffusion.cpp ${plan.release} installed: ${this.cliPath}`);
      return record;
    } catch (e) {
      log?.warn(`stable-diffusion.cpp install failed: ${toError(e).message}`);
      throw e;
    } finally {
      provisioned.release();
      await rm(staging, { recursive: true, force: true }).catch((e: unknown) =>
        log?.warn(`could not remove ${staging}: ${toError(e).message}`),
      );
    }
  }

  private async vulkanPresent(): Promise<boolean> {
    if (this.opts.vulkanPresent) return this.opts.vulkanPresent();
    return vulkanLoaderPresent({ platform: this.host.platform, env: this.env, run: this.run });
  }

  private async getJson(url: string, signal?: AbortSignal): Promise<unknown> {
    const parsed = new URL(url);
    const insecure = insecureProblem(parsed, false);
    if (insecure) throw new EngineError(`${insecure} (${url})`, false);
    let res: Response;
    try {
      res = await fetch(url, {
        headers: {
          'user-agent': this.opts.userAgent ?? 'studio-worker',
          accept: 'application/vnd.github+json',
        },
        signal: signal ?? null,
      });
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new EngineError(
        `could not read the stable-diffusion.cpp release from ${url}: ${toError(e).message}`,
        true,
      );
    }
    if (!res.ok) {
      await res.body?.cancel();
      const hint =
        res.status === 404
          ? ` (no such release; check ${SDCPP_RELEASE_ENV})`
          : res.status === 403 || res.status === 429
            ? ' (GitHub API rate limit; try again later)'
            : '';
      throw new EngineError(
        `GET ${url} answered HTTP ${res.status}${hint}`,
        res.status >= 500 || res.status === 429 || res.status === 403,
      );
    }
    try {
      return await res.json();
    } catch {
      throw new EngineError(`${url} did not answer JSON`, false);
    }
  }
}

/** A name the model cache accepts for an archive fetched from a URL override. */
function archiveName(url: string): string {
  let base = '';
  try {
    base = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  } catch {
    // A URL we cannot read a name from gets the fallback.
  }
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,150}\.zip$/.test(base) ? base : 'stable-diffusion.cpp.zip';
}

/** Moves every file of `staging` into `target`, replacing what is there (rename; copy across filesystems). */
async function publish(staging: string, target: string): Promise<void> {
  await mkdir(target, { recursive: true });
  for (const name of await readdir(staging)) {
    const from = join(staging, name);
    const to = join(target, name);
    const st = await lstat(from);
    try {
      await rename(from, to);
    } catch {
      if (st.isSymbolicLink()) continue;
      await rm(to, { force: true });
      await copyFile(from, to);
    }
  }
}
