import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ChecksumMismatchError,
  readUpdateState,
  startAutoUpdater,
  type AutoUpdaterOptions,
} from '../../src/update/index.js';
import { captureLog, packFixture, publish, startFeedServer, type FeedServer } from './fixtures.js';

const WINDOW_MS = 1000;
const ARGV = ['--config-dir', '/somewhere', 'run', '--grace', '5'];

let root: string;
let good: string; // 9.9.9: outlives the start window, then exits 0
let feed: FeedServer;
let configDir: string;
let markers: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'sw-update-'));
  good = await packFixture(root, '9.9.9', { liveMs: WINDOW_MS + 500, exitCode: 0 });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

beforeEach(async (ctx) => {
  feed = await startFeedServer();
  configDir = await mkdtemp(path.join(root, 'config-'));
  markers = await mkdtemp(path.join(root, 'markers-'));
  process.env.FIXTURE_MARKER_DIR = markers;
  ctx.onTestFinished(() => feed.close());
});

function updater(overrides: Partial<AutoUpdaterOptions> = {}) {
  const restarts: number[] = [];
  const { lines, log } = captureLog();
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
    argv: ARGV,
    configDir,
    onBeforeRestart: () => {
      restarts.push(Date.now());
      return Promise.resolve();
    },
    startWindowMs: WINDOW_MS,
    initialDelayMs: 3_600_000,
    supervised: false,
    ...overrides,
  });
  return { u, restarts, lines };
}

const marker = async (version: string) =>
  JSON.parse(await readFile(path.join(markers, `${version}.json`), 'utf8')) as {
    argv: string[];
    supervised: string;
  };
const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

describe('the auto-updater', () => {
  it('installs a newer version, stops the worker and re-executes the same arguments on it', async () => {
    await publish(feed, '9.9.9', good);
    const { u, restarts } = updater();

    const outcome = await u.checkNow();
    u.stop();

    expect(outcome).toMatchObject({ status: 'handed-off', version: '9.9.9' });
    expect(outcome.status === 'handed-off' && outcome.handoff).toEqual({
      outcome: 'exited',
      version: '9.9.9',
      code: 0,
    });
    expect(restarts).toHaveLength(1);
    expect(await marker('9.9.9')).toEqual({ argv: ARGV, supervised: '1' });
    expect((await readUpdateState(configDir)).current).toBe('9.9.9');
  });

  it('refuses a package whose SHA-256 does not match the release, and installs nothing', async () => {
    await publish(feed, '9.9.9', good, { checksum: 'a'.repeat(64) });
    const { u, restarts, lines } = updater();

    const outcome = await u.checkNow();
    u.stop();

    expect(outcome.status).toBe('failed');
    expect(outcome.status === 'failed' && outcome.error).toBeInstanceOf(ChecksumMismatchError);
    expect(lines.some((l) => l.level === 'error' && l.msg.includes('SHA-256'))).toBe(true);
    expect(restarts).toHaveLength(0);
    expect(await exists(path.join(configDir, 'versions', '9.9.9'))).toBe(false);
    expect(await exists(path.join(markers, '9.9.9.json'))).toBe(false);
  });

  it('says once what to run when the install folder cannot be written, and does not retry', async () => {
    await publish(feed, '9.9.9', good);
    const blocker = path.join(configDir, 'not-a-folder');
    await writeFile(blocker, '');
    const { u, restarts, lines } = updater({ versionsDir: path.join(blocker, 'versions') });

    const first = await u.checkNow();
    const second = await u.checkNow();
    u.stop();

    expect([first.status, second.status]).toEqual(['not-writable', 'not-writable']);
    const advice = lines.filter((l) => l.msg.includes('npm install -g studio-worker@9.9.9'));
    expect(advice).toEqual([expect.objectContaining({ level: 'warn' })]);
    expect(feed.requests.filter((r) => r.startsWith('/assets/'))).toEqual([]);
    expect(restarts).toHaveLength(0);
  });

  it('does nothing while disabled or busy, and reads no feed', async () => {
    await publish(feed, '9.9.9', good);
    const off = updater({
      config: () => ({
        autoUpdateEnabled: false,
        autoUpdateIntervalSecs: 1,
        autoUpdateFeed: feed.feedUrl,
        autoUpdatePrerelease: false,
      }),
    });
    const busy = updater({ isIdle: () => false });

    expect((await off.u.checkNow()).status).toBe('disabled');
    expect((await busy.u.checkNow()).status).toBe('busy');
    off.u.stop();
    busy.u.stop();
    expect(feed.requests).toEqual([]);
  });

  it('checks the feed on its own schedule when idle', async () => {
    const { u } = updater({ initialDelayMs: 1 });
    await expect.poll(() => feed.requests).toContain('/releases');
    u.stop();
  });
});
