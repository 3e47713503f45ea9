import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readUpdateState, startAutoUpdater } from '../../src/update/index.js';
import { captureLog, packFixture, publish, startFeedServer, type FeedServer } from './fixtures.js';

let root: string;
let feed: FeedServer;
let dies: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'sw-rollback-'));
  [feed, dies] = await Promise.all([
    startFeedServer(),
    packFixture(root, '2.0.0', { liveMs: 0, exitCode: 1 }),
  ]);
  process.env.FIXTURE_MARKER_DIR = root;
});

afterAll(async () => {
  await feed.close();
  await rm(root, { recursive: true, force: true });
});

describe('a version that dies on start', () => {
  it('is rolled back, marked bad, and not tried again on the next check', async () => {
    await publish(feed, '2.0.0', dies);
    const configDir = await mkdtemp(path.join(root, 'config-'));
    const { lines, log } = captureLog();
    let restarts = 0;
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
      onBeforeRestart: () => {
        restarts += 1;
        return Promise.resolve();
      },
      startWindowMs: 5000,
      initialDelayMs: 3_600_000,
      supervised: false,
    });

    const outcome = await u.checkNow();
    u.stop();

    // It did start (its marker is there), then exited 1 well inside its window.
    expect(JSON.parse(await readFile(path.join(root, '2.0.0.json'), 'utf8'))).toMatchObject({
      argv: ['run'],
    });
    expect(outcome.status === 'handed-off' && outcome.handoff).toEqual({
      outcome: 'rolled-back',
      version: '2.0.0',
      code: 1,
      signal: null,
    });
    expect(await readUpdateState(configDir)).toEqual({ badVersions: ['2.0.0'] });
    expect(lines.some((l) => l.level === 'error' && l.msg.includes('rolled back'))).toBe(true);

    const again = startAutoUpdater({
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
      onBeforeRestart: () => Promise.reject(new Error('must not restart')),
      initialDelayMs: 3_600_000,
      supervised: false,
    });
    const downloads = feed.requests.filter((r) => r.startsWith('/assets/')).length;
    expect((await again.checkNow()).status).toBe('up-to-date');
    again.stop();
    expect(feed.requests.filter((r) => r.startsWith('/assets/')).length).toBe(downloads);
    expect(restarts).toBe(1);
  });
});
