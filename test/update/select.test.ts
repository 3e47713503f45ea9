import { describe, expect, it } from 'vitest';
import type { Release } from '../../src/protocol/index.js';
import { checksumFor, selectUpdate, versionOf } from '../../src/update/index.js';

function release(version: string, opts: Partial<Release> & { assets?: Release['assets'] } = {}): Release {
  const name = `studio-worker-${version}.tgz`;
  return {
    tag_name: `v${version}`,
    draft: false,
    prerelease: false,
    assets: [
      { name, browser_download_url: `https://x/${name}` },
      { name: 'SHA256SUMS', browser_download_url: 'https://x/SHA256SUMS' },
    ],
    ...opts,
  };
}

const pick = (feed: Release[], opts: { prerelease?: boolean; badVersions?: string[] } = {}) =>
  selectUpdate(feed, { current: '1.2.0', prerelease: false, ...opts });

describe('selectUpdate', () => {
  it('picks the highest version above the running one, whatever the feed order', () => {
    const { candidate } = pick([release('1.3.0'), release('2.0.1'), release('1.1.0'), release('2.0.0')]);
    expect(candidate).toMatchObject({
      version: '2.0.1',
      tag: 'v2.0.1',
      packageAsset: { name: 'studio-worker-2.0.1.tgz', url: 'https://x/studio-worker-2.0.1.tgz' },
      checksumAsset: { name: 'SHA256SUMS' },
    });
  });

  it('offers nothing when the running version is the newest', () => {
    expect(pick([release('1.2.0'), release('1.0.0')]).candidate).toBeUndefined();
  });

  it('never uses a draft', () => {
    expect(pick([release('3.0.0', { draft: true }), release('1.5.0')]).candidate?.version).toBe('1.5.0');
    expect(
      pick([release('3.0.0', { draft: true, prerelease: true })], { prerelease: true }).candidate,
    ).toBeUndefined();
  });

  it('uses pre-releases only when asked', () => {
    const feed = [release('1.4.0'), release('2.0.0-rc.1', { prerelease: true })];
    expect(pick(feed).candidate?.version).toBe('1.4.0');
    expect(pick(feed).skipped).toEqual([
      { tag: 'v2.0.0-rc.1', reason: 'pre-release (auto_update_prerelease is off)' },
    ]);
    expect(pick(feed, { prerelease: true }).candidate?.version).toBe('2.0.0-rc.1');
  });

  it('treats a semver pre-release tag as a pre-release even when the flag is unset', () => {
    expect(pick([release('2.0.0-beta.2')]).candidate).toBeUndefined();
  });

  it('skips versions that failed to start here before', () => {
    const { candidate, skipped } = pick([release('1.9.0'), release('2.0.0')], { badVersions: ['2.0.0'] });
    expect(candidate?.version).toBe('1.9.0');
    expect(skipped).toEqual([{ tag: 'v2.0.0', reason: 'failed to start here before' }]);
  });

  it('skips a release missing its package or checksum, and accepts a <asset>.sha256 file', () => {
    const noSums = release('3.0.0', {
      assets: [{ name: 'studio-worker-3.0.0.tgz', browser_download_url: 'https://x/a' }],
    });
    const noPackage = release('2.5.0', {
      assets: [{ name: 'SHA256SUMS', browser_download_url: 'https://x/s' }],
    });
    const perAsset = release('2.0.0', {
      assets: [
        { name: 'studio-worker-2.0.0.tgz', browser_download_url: 'https://x/p' },
        { name: 'studio-worker-2.0.0.tgz.sha256', browser_download_url: 'https://x/p.sha256' },
      ],
    });
    const { candidate, skipped } = pick([noSums, noPackage, perAsset]);
    expect(candidate).toMatchObject({
      version: '2.0.0',
      checksumAsset: { name: 'studio-worker-2.0.0.tgz.sha256' },
    });
    expect(skipped.map((s) => s.tag).sort()).toEqual(['v2.5.0', 'v3.0.0']);
  });

  it('ignores tags that are not semver', () => {
    expect(versionOf('v1.2.3')).toBe('1.2.3');
    expect(versionOf('1.2.3')).toBe('1.2.3');
    expect(versionOf('nightly')).toBeUndefined();
    expect(pick([release('x', { tag_name: 'nightly' })]).candidate).toBeUndefined();
  });
});

describe('checksumFor', () => {
  const a = 'a'.repeat(64);
  const b = 'B'.repeat(64);

  it('finds the line for the asset in a sha256sum file, text or binary mode', () => {
    const sums = `${a}  studio-worker-1.0.0.tgz\n${b} *studio-worker-2.0.0.tgz\n`;
    expect(checksumFor(sums, 'studio-worker-1.0.0.tgz')).toBe(a);
    expect(checksumFor(sums, 'studio-worker-2.0.0.tgz')).toBe('b'.repeat(64));
    expect(checksumFor(sums, 'studio-worker-3.0.0.tgz')).toBeUndefined();
  });

  it('reads a lone digest from a per-asset file', () => {
    expect(checksumFor(`${a}\n`, 'anything.tgz')).toBe(a);
    expect(checksumFor('not a digest', 'anything.tgz')).toBeUndefined();
  });
});
