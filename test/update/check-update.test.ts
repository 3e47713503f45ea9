import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkUpdateCommand } from '../../src/cli/commands/update.js';
import type { CommandContext } from '../../src/cli/context.js';
import { ConfigStore } from '../../src/config/index.js';
import { createLogger, LogShipper } from '../../src/logs/index.js';
import { checkForUpdate, type CheckUpdateResult } from '../../src/update/index.js';
import { UserError } from '../../src/util/index.js';
import { VERSION } from '../../src/version.js';
import { startFeedServer, type FeedServer } from './fixtures.js';

let feed: FeedServer;
let root: string;

beforeAll(async () => {
  feed = await startFeedServer();
  root = await mkdtemp(path.join(os.tmpdir(), 'sw-check-'));
  for (const [version, prerelease] of [
    ['99.0.0', false],
    ['100.0.0-rc.1', true],
  ] as const) {
    const name = `studio-worker-${version}.tgz`;
    feed.releases.push({
      tag_name: `v${version}`,
      draft: false,
      prerelease,
      assets: [
        { name, browser_download_url: feed.asset(name, 'not fetched by a check') },
        { name: 'SHA256SUMS', browser_download_url: feed.asset('SHA256SUMS', '') },
      ],
    });
  }
});

afterAll(async () => {
  await feed.close();
  await rm(root, { recursive: true, force: true });
});

const config = (over: { prerelease?: boolean; enabled?: boolean } = {}) => ({
  autoUpdateEnabled: over.enabled ?? true,
  autoUpdateIntervalSecs: 1800,
  autoUpdateFeed: feed.feedUrl,
  autoUpdatePrerelease: over.prerelease ?? false,
});

async function context(feedUrl: string) {
  const store = new ConfigStore(await mkdtemp(path.join(root, 'config-')));
  await store.save({ ...(await store.load()), autoUpdateFeed: feedUrl });
  const out: string[] = [];
  const ctx: CommandContext = {
    store,
    log: createLogger({ level: 'silent', pretty: false }),
    shipper: new LogShipper(),
    out: (line) => out.push(line),
  };
  return { ctx, out };
}

describe('checking for an update', () => {
  it('reports the newest release and installs nothing', async () => {
    const before = feed.requests.length;
    const result = await checkForUpdate(config(), '1.0.0');
    expect(result).toMatchObject({ current: '1.0.0', latest: '99.0.0', updateAvailable: true });
    expect(result.message).toContain('studio-worker 99.0.0 is available (running 1.0.0)');
    expect(feed.requests.slice(before)).toEqual(['/releases']);
  });

  it('offers the pre-release only when asked, and says how to install when auto-update is off', async () => {
    const result = await checkForUpdate(config({ prerelease: true, enabled: false }), '1.0.0');
    expect(result.latest).toBe('100.0.0-rc.1');
    expect(result.message).toContain('npm install -g studio-worker@100.0.0-rc.1');
  });

  it('says the running version is up to date when nothing is newer', async () => {
    const result = await checkForUpdate(config(), '200.0.0');
    expect(result).toMatchObject({ updateAvailable: false, latest: undefined });
    expect(result.message).toBe('studio-worker 200.0.0 is up to date');
  });

  it('prints JSON from the check-update command, using the configured feed', async () => {
    const { ctx, out } = await context(feed.feedUrl);
    await checkUpdateCommand(ctx, { json: true });
    const result = JSON.parse(out[0] ?? '') as CheckUpdateResult;
    expect(result).toMatchObject({ current: VERSION, latest: '99.0.0', feed: feed.feedUrl });
    expect(result.skipped).toEqual([
      { tag: 'v100.0.0-rc.1', reason: 'pre-release (auto_update_prerelease is off)' },
    ]);
  });

  it('fails the check-update command with a clear message when the feed cannot be read', async () => {
    const { ctx } = await context(`${feed.url}/missing`);
    const err = await checkUpdateCommand(ctx, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toMatch(/could not read the release feed .*\/missing: .*HTTP 404/);
  });
});
