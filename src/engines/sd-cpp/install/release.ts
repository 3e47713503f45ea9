import { EngineError } from '../../types.js';

/**
 * The stable-diffusion.cpp build a worker installs by itself, and where it comes from. The tag is
 * the one the original worker pins, so both install the same binary; `STUDIO_WORKER_SDCPP_RELEASE`
 * picks another.
 */
export const PINNED_SDCPP_RELEASE = 'master-669-2d40a8b';
export const SDCPP_RELEASE_ENV = 'STUDIO_WORKER_SDCPP_RELEASE';
export const SDCPP_URL_ENV = 'STUDIO_WORKER_SDCPP_URL';
export const SDCPP_SHA256_ENV = 'STUDIO_WORKER_SDCPP_SHA256';
/** Ours: the GitHub API base the release JSON is read from (a mirror, or a test's loopback server). */
export const SDCPP_API_ENV = 'STUDIO_WORKER_SDCPP_API';
export const GITHUB_API = 'https://api.github.com';

/** Which GPU runtime a build targets. */
export type SdBackend = 'cuda' | 'vulkan' | 'metal';

export interface SdHost {
  platform: NodeJS.Platform;
  arch: string;
  /** An NVIDIA driver is loaded (so a CUDA build can run). */
  nvidia: boolean;
}

/** One asset of a GitHub release, as the releases API lists it. */
export interface ReleaseAsset {
  name: string;
  url: string;
  bytes?: number;
  /** Lowercase hex SHA-256 from the API's `digest` ("sha256:<hex>"), when it lists one. */
  sha256?: string;
}

/** What to download and how to check it. */
export interface SdInstallPlan {
  /** The release tag, or `custom` for `STUDIO_WORKER_SDCPP_URL`. */
  release: string;
  backend: SdBackend | 'unknown';
  /** The archives to unpack into the bin folder, in order (the build, then any runtime it needs). */
  archives: { name: string; url: string; sha256: string; bytes?: number }[];
}

/** The short commit in asset names is the tag's last `-` segment (`master-669-2d40a8b` → `2d40a8b`). */
export function shaOfTag(tag: string): string {
  const sha = /-([0-9a-zA-Z]+)$/.exec(tag)?.[1];
  if (!sha) throw new EngineError(`release tag ${JSON.stringify(tag)} has no "-<commit>" ending`, false);
  return sha;
}

/**
 * Where the release JSON of `tag` is. Upstream builds every platform but Linux on ARM, which the
 * original worker's own releases carry (tag `sdcpp-prebuilt-<tag>`).
 */
export function releaseApiUrl(tag: string, host: SdHost, apiBase = GITHUB_API): string {
  const base = apiBase.replace(/\/+$/, '');
  const [repo, releaseTag] =
    host.platform === 'linux' && host.arch === 'arm64'
      ? ['webbertakken/studio-worker', `sdcpp-prebuilt-${tag}`]
      : ['leejet/stable-diffusion.cpp', tag];
  return `${base}/repos/${repo}/releases/tags/${encodeURIComponent(releaseTag)}`;
}

/** The asset name patterns for this host, best first, each with the backend it runs on. */
function candidates(host: SdHost): { backend: SdBackend; pattern: RegExp }[] {
  const cuda = { backend: 'cuda' as const };
  const vulkan = { backend: 'vulkan' as const };
  if (host.platform === 'linux' && host.arch === 'x64') {
    return [
      ...(host.nvidia ? [{ ...cuda, pattern: /^sd-.*-bin-Linux-.*x86_64-cuda[0-9.]*\.zip$/i }] : []),
      { ...vulkan, pattern: /^sd-.*-bin-Linux-.*x86_64-vulkan\.zip$/i },
    ];
  }
  if (host.platform === 'linux' && host.arch === 'arm64') {
    return [{ ...vulkan, pattern: /^sd-.*-bin-Linux-aarch64-vulkan\.zip$/i }];
  }
  if (host.platform === 'win32' && host.arch === 'x64') {
    return [
      ...(host.nvidia ? [{ ...cuda, pattern: /^sd-.*-bin-win-cuda[0-9]*-x64\.zip$/i }] : []),
      { ...vulkan, pattern: /^sd-.*-bin-win-vulkan-x64\.zip$/i },
    ];
  }
  if (host.platform === 'darwin') {
    // Upstream's macOS build is universal (arm64 and x86_64) and runs on Metal.
    return [{ backend: 'metal', pattern: /^sd-.*-bin-Darwin-.*\.zip$/i }];
  }
  return [];
}

export const NO_PREBUILT_HINT =
  'build stable-diffusion.cpp yourself (https://github.com/leejet/stable-diffusion.cpp) and set sd_cli_path in config.toml';

/** Whether a prebuilt build exists for this platform at all (before any network request). */
export function platformProblem(host: SdHost): string | undefined {
  if (candidates(host).length > 0) return undefined;
  return `stable-diffusion.cpp publishes no prebuilt build for ${host.platform}/${host.arch}: ${NO_PREBUILT_HINT}`;
}

/** The backend the build for this host will use, before the release is read. */
export function expectedBackend(host: SdHost): SdBackend | undefined {
  return candidates(host)[0]?.backend;
}

/**
 * Picks this host's build from a release's assets: CUDA where an NVIDIA driver is loaded and the
 * release ships one, Vulkan otherwise, Metal on macOS. A Windows CUDA build needs the CUDA runtime
 * DLLs that upstream ships as a separate `cudart-*` asset, so that comes along.
 */
export function chooseAssets(
  assets: ReleaseAsset[],
  host: SdHost,
): { backend: SdBackend; assets: ReleaseAsset[] } | undefined {
  for (const { backend, pattern } of candidates(host)) {
    const build = assets.find((a) => pattern.test(a.name));
    if (!build) continue;
    if (backend === 'cuda' && host.platform === 'win32') {
      const cudaMajor = /cuda([0-9]+)/i.exec(build.name)?.[1] ?? '';
      const runtime = assets.find((a) =>
        new RegExp(`^cudart-.*cu${cudaMajor}.*-x64\\.zip$`, 'i').test(a.name),
      );
      if (!runtime) continue;
      return { backend, assets: [build, runtime] };
    }
    return { backend, assets: [build] };
  }
  return undefined;
}

/** The assets of a GitHub releases API answer; throws a plain error when it is not one. */
export function parseRelease(json: unknown, source: string): { tag: string; assets: ReleaseAsset[] } {
  const release = json as { tag_name?: unknown; assets?: unknown };
  if (typeof release !== 'object' || release === null || !Array.isArray(release.assets)) {
    throw new EngineError(`${source} is not a GitHub release (no "assets" list)`, false);
  }
  const assets: ReleaseAsset[] = [];
  for (const raw of release.assets as unknown[]) {
    const a = raw as { name?: unknown; browser_download_url?: unknown; size?: unknown; digest?: unknown };
    if (typeof a?.name !== 'string' || typeof a.browser_download_url !== 'string') continue;
    const digest = typeof a.digest === 'string' ? /^sha256:([0-9a-f]{64})$/i.exec(a.digest)?.[1] : undefined;
    assets.push({
      name: a.name,
      url: a.browser_download_url,
      ...(typeof a.size === 'number' ? { bytes: a.size } : {}),
      ...(digest ? { sha256: digest.toLowerCase() } : {}),
    });
  }
  return { tag: typeof release.tag_name === 'string' ? release.tag_name : '', assets };
}

/** Lowercase hex, or a plain error naming the variable. */
export function sha256FromEnv(value: string | undefined): string | undefined {
  const v = value?.trim().replace(/^sha256:/i, '');
  if (!v) return undefined;
  if (!/^[0-9a-fA-F]{64}$/.test(v)) {
    throw new EngineError(
      `${SDCPP_SHA256_ENV} must be 64 hex digits (a SHA-256), not ${JSON.stringify(v)}`,
      false,
    );
  }
  return v.toLowerCase();
}
