import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchInstalledUpdate, startAutoUpdater } from '../../src/update/index.js';
import { captureLog, packFixture, publish, startFeedServer, type FeedServer } from './fixtures.js';

const WINDOW_MS = 1000;
let root: string;
let feed: FeedServer;
let good: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'sw-launch-'));
  [feed, good] = await Promise.all([
    startFeedServer(),
    packFixture(root, '9.9.9', { liveMs: WINDOW_MS + 500, exitCode: 0 }),
  ]);
  process.env.FIXTURE_MARKER_DIR = root;
});

afterAll(async () => {
  await feed.close();
  await rm(root, { recursive: true, force: true });
});

const marker = async (version: string) =>
  JSON.parse(await readFile(path.join(root, `${version}.json`), 'utf8')) as { argv: string[] };

describe('starting the old version after an update', () => {
  it('runs the installed update instead, with the same arguments', async () => {
    await publish(feed, '9.9.9', good);
    const configDir = await mkdtemp(path.join(root, 'config-'));
    const { log } = captureLog();
    const u = startAutoUpdater({
      config: () => ({
        autoUpdateEnabled: true,
        autoUpdateIntervalSecs: 3600,
        autoUpdateFeed: feed.feedUrl,
        autoUpdatePrerelease: false,
      }),
      isIdle: () => true,
      log,
      version: '1.0.0',
      argv: ['run'],
      configDir,
      onBeforeRestart: () => Promise.resolve(),
      startWindowMs: WINDOW_MS,
      initialDelayMs: 3_600_000,
      supervised: false,
    });
    expect((await u.checkNow()).status).toBe('handed-off');
    u.stop();
    await rm(path.join(root, '9.9.9.json'));

    const handoff = await launchInstalledUpdate({
      version: '1.0.0',
      argv: ['run', '--grace', '9'],
      configDir,
      log,
      startWindowMs: WINDOW_MS,
    });

    expect(handoff).toEqual({ outcome: 'exited', version: '9.9.9', code: 0 });
    expect((await marker('9.9.9')).argv).toEqual(['run', '--grace', '9']);
  });

  it('runs nothing else when no newer version is installed', async () => {
    const configDir = await mkdtemp(path.join(root, 'config-'));
    const { log } = captureLog();
    expect(await launchInstalledUpdate({ version: '1.0.0', argv: [], configDir, log })).toBeUndefined();
  });
});
