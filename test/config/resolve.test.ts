import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  configForDisplay,
  DEFAULT_CONFIG,
  expandHome,
  legacyConfigDirs,
  migrateLegacyConfigDir,
  resolveConfigDir,
} from '../../src/config/index.js';

describe('resolveConfigDir', () => {
  const env = { STUDIO_WORKER_CONFIG_DIR: '/from/env', XDG_CONFIG_HOME: '/xdg' };

  it('prefers the --config-dir option over the environment', () => {
    expect(resolveConfigDir({ configDir: '/from/flag', env })).toBe(path.resolve('/from/flag'));
  });

  it('uses STUDIO_WORKER_CONFIG_DIR when no option is given', () => {
    expect(resolveConfigDir({ env })).toBe(path.resolve('/from/env'));
  });

  it('falls back to XDG_CONFIG_HOME on Linux, else ~/.config', () => {
    const base = { platform: 'linux' as const, homedir: '/home/u' };
    expect(resolveConfigDir({ ...base, env: { XDG_CONFIG_HOME: '/xdg' } })).toBe('/xdg/minis-studio-worker');
    expect(resolveConfigDir({ ...base, env: {} })).toBe('/home/u/.config/minis-studio-worker');
  });

  it("uses the original's ProjectDirs folder on macOS, whatever XDG_CONFIG_HOME says", () => {
    expect(
      resolveConfigDir({ platform: 'darwin', homedir: '/Users/u', env: { XDG_CONFIG_HOME: '/xdg' } }),
    ).toBe('/Users/u/Library/Application Support/gg.minis.minis-studio-worker');
  });

  it("uses the original's %APPDATA%\\minis\\minis-studio-worker\\config on Windows", () => {
    const dir = resolveConfigDir({
      platform: 'win32',
      homedir: 'C:\\Users\\u',
      env: { APPDATA: 'D:\\Roaming' },
    });
    expect(dir).toBe('D:\\Roaming\\minis\\minis-studio-worker\\config');
    expect(resolveConfigDir({ platform: 'win32', homedir: 'C:\\Users\\u', env: {} })).toBe(
      'C:\\Users\\u\\AppData\\Roaming\\minis\\minis-studio-worker\\config',
    );
  });

  it('ignores a relative XDG_CONFIG_HOME, as the XDG spec says', () => {
    expect(resolveConfigDir({ platform: 'linux', homedir: '/home/u', env: { XDG_CONFIG_HOME: 'rel' } })).toBe(
      '/home/u/.config/minis-studio-worker',
    );
  });

  it("names this worker's earlier folders on macOS and Windows, none on Linux", () => {
    expect(legacyConfigDirs({ platform: 'linux', homedir: '/home/u', env: {} })).toEqual([]);
    expect(legacyConfigDirs({ platform: 'darwin', homedir: '/Users/u', env: {} })).toEqual([
      '/Users/u/.config/minis-studio-worker',
    ]);
    expect(legacyConfigDirs({ platform: 'win32', homedir: 'C:\\U', env: { APPDATA: 'D:\\R' } })).toEqual([
      'D:\\R\\minis-studio-worker',
    ]);
  });
});

describe('migrateLegacyConfigDir', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'sw-migrate-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('moves an earlier config folder, outbox and all, once', () => {
    const old = path.join(root, 'old');
    const target = path.join(root, 'Application Support', 'gg.minis.minis-studio-worker');
    mkdirSync(path.join(old, 'outbox'), { recursive: true });
    writeFileSync(path.join(old, 'config.toml'), 'worker_id = "w-1"\nstart_minimised = true\n');
    writeFileSync(path.join(old, 'outbox', 'job-1.webp'), 'bytes');
    const move = migrateLegacyConfigDir(target, [old]);
    expect(move).toEqual({ from: old, to: target, moved: ['outbox', 'config.toml'], kept: [] });
    expect(readFileSync(path.join(target, 'config.toml'), 'utf8')).toContain('start_minimised = true');
    expect(readFileSync(path.join(target, 'outbox', 'job-1.webp'), 'utf8')).toBe('bytes');
    expect(existsSync(old)).toBe(false);
    expect(migrateLegacyConfigDir(target, [old])).toBeUndefined();
  });

  it('never replaces a config already at the new place', () => {
    const old = path.join(root, 'old');
    const target = path.join(root, 'new');
    mkdirSync(old);
    mkdirSync(target);
    writeFileSync(path.join(old, 'config.toml'), 'worker_id = "old"\n');
    writeFileSync(path.join(target, 'config.toml'), 'worker_id = "new"\n');
    expect(migrateLegacyConfigDir(target, [old])).toBeUndefined();
    expect(readFileSync(path.join(target, 'config.toml'), 'utf8')).toContain('"new"');
    expect(readFileSync(path.join(old, 'config.toml'), 'utf8')).toContain('"old"');
  });

  it('keeps both copies of an entry the new folder already has, and says so', () => {
    const old = path.join(root, 'old');
    const target = path.join(root, 'new');
    mkdirSync(old);
    mkdirSync(target);
    writeFileSync(path.join(old, 'config.toml'), 'worker_id = "old"\n');
    writeFileSync(path.join(old, 'dashboard-token'), 'old');
    writeFileSync(path.join(target, 'dashboard-token'), 'new');
    const move = migrateLegacyConfigDir(target, [old]);
    expect(move?.moved).toEqual(['config.toml']);
    expect(move?.kept).toEqual(['dashboard-token']);
    expect(readFileSync(path.join(old, 'dashboard-token'), 'utf8')).toBe('old');
  });
});

describe('expandHome', () => {
  it('expands a leading ~ and leaves other paths alone', () => {
    expect(expandHome('~/models', '/home/u')).toBe(path.join('/home/u', 'models'));
    expect(expandHome('~', '/home/u')).toBe('/home/u');
    expect(expandHome('/opt/models', '/home/u')).toBe('/opt/models');
    expect(expandHome('~other/models', '/home/u')).toBe('~other/models');
  });
});

describe('configForDisplay', () => {
  it('shows snake_case keys, masks secrets that are set and shows unset ones as null', () => {
    const shown = configForDisplay({ ...DEFAULT_CONFIG, authToken: 'sekrit-token', workerId: 'w-1' });
    expect(shown).toMatchObject({
      api_base_url: 'https://studio.minis.gg/',
      vram_threshold_gb: 12,
      worker_id: 'w-1',
      auth_token: '********',
      registration_secret: null,
    });
    expect(JSON.stringify(shown)).not.toContain('sekrit-token');
  });
});
