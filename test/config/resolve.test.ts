import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configForDisplay, DEFAULT_CONFIG, expandHome, resolveConfigDir } from '../../src/config/index.js';

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

  it('uses ~/.config on macOS even with XDG_CONFIG_HOME set', () => {
    expect(
      resolveConfigDir({ platform: 'darwin', homedir: '/Users/u', env: { XDG_CONFIG_HOME: '/xdg' } }),
    ).toBe('/Users/u/.config/minis-studio-worker');
  });

  it('uses %APPDATA% on Windows', () => {
    const dir = resolveConfigDir({
      platform: 'win32',
      homedir: 'C:\\Users\\u',
      env: { APPDATA: 'D:\\Roaming' },
    });
    expect(dir).toBe('D:\\Roaming\\minis-studio-worker');
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
