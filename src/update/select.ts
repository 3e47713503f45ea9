// One module per function: the package's index loads all 47 of its modules.
import gt from 'semver/functions/gt.js';
import prerelease from 'semver/functions/prerelease.js';
import valid from 'semver/functions/valid.js';
import type { Release, ReleaseFeed } from '../protocol/index.js';

/** The package asset of a release: `npm pack` output of version `v`. */
export const packageAssetName = (version: string): string => `studio-worker-${version}.tgz`;
/** One `sha256sum` file covering the release's assets; `<asset>.sha256` is accepted too. */
export const CHECKSUMS_ASSET = 'SHA256SUMS';

export interface ReleaseAsset {
  name: string;
  url: string;
}

export interface UpdateCandidate {
  version: string;
  tag: string;
  prerelease: boolean;
  packageAsset: ReleaseAsset;
  checksumAsset: ReleaseAsset;
}

export interface SelectOptions {
  /** The running version. */
  current: string;
  /** Consider pre-releases (`auto_update_prerelease`). */
  prerelease: boolean;
  /** Versions that failed to start here before: never offered again. */
  badVersions?: readonly string[];
}

export interface Selection {
  candidate: UpdateCandidate | undefined;
  /** Releases newer than `current` that were passed over, and why (shown by `check-update`). */
  skipped: { tag: string; reason: string }[];
}

/**
 * The highest semver above `current` among the feed's usable releases. Drafts are never used,
 * pre-releases only when asked, and a release without both its package and checksum assets is
 * skipped (an update we cannot verify is no update).
 */
export function selectUpdate(feed: ReleaseFeed, opts: SelectOptions): Selection {
  const bad = new Set(opts.badVersions ?? []);
  const skipped: Selection['skipped'] = [];
  let best: UpdateCandidate | undefined;
  for (const release of feed) {
    const version = versionOf(release.tag_name);
    if (!version || !gt(version, opts.current)) continue;
    const skip = (reason: string): void => {
      skipped.push({ tag: release.tag_name, reason });
    };
    if (release.draft) continue; // a draft is not published: not even worth a mention
    if ((release.prerelease || prerelease(version)) && !opts.prerelease) {
      skip('pre-release (auto_update_prerelease is off)');
      continue;
    }
    if (bad.has(version)) {
      skip('failed to start here before');
      continue;
    }
    const assets = assetsOf(release, version);
    if (typeof assets === 'string') {
      skip(assets);
      continue;
    }
    if (!best || gt(version, best.version)) {
      best = { version, tag: release.tag_name, prerelease: release.prerelease, ...assets };
    }
  }
  return { candidate: best, skipped };
}

/** `v1.2.3` or `1.2.3` → `1.2.3`; anything else → undefined. */
export function versionOf(tag: string): string | undefined {
  return valid(tag.startsWith('v') ? tag.slice(1) : tag) ?? undefined;
}

function assetsOf(
  release: Release,
  version: string,
): Pick<UpdateCandidate, 'packageAsset' | 'checksumAsset'> | string {
  const name = packageAssetName(version);
  const find = (n: string): ReleaseAsset | undefined => {
    const a = release.assets.find((x) => x.name === n);
    return a ? { name: a.name, url: a.browser_download_url } : undefined;
  };
  const packageAsset = find(name);
  if (!packageAsset) return `no ${name} asset`;
  const checksumAsset = find(CHECKSUMS_ASSET) ?? find(`${name}.sha256`);
  if (!checksumAsset) return `no ${CHECKSUMS_ASSET} or ${name}.sha256 asset`;
  return { packageAsset, checksumAsset };
}
