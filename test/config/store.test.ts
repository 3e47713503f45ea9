import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, ConfigStore, DEFAULT_CONFIG, type WorkerConfig } from '../../src/config/index.js';

let dir: string;
let store: ConfigStore;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'sw-config-'));
  store = new ConfigStore(path.join(dir, 'cfg'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeConfig(text: string): Promise<void> {
  await store.save(DEFAULT_CONFIG); // creates the directory
  await writeFile(store.path, text);
}

async function loadError(): Promise<ConfigError> {
  const err = await store.load().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('ConfigStore', () => {
  it('gives the defaults when no file exists, and writes nothing', async () => {
    expect(await store.load()).toEqual(DEFAULT_CONFIG);
    expect(await store.exists()).toBe(false);
    await expect(stat(store.dir)).rejects.toThrow(/ENOENT/);
  });

  it('loads back exactly what it saved', async () => {
    const config: WorkerConfig = {
      ...DEFAULT_CONFIG,
      vramThresholdGb: 7.5,
      autoStart: false,
      workerId: 'w-1',
      authToken: 'tok-abcdefgh',
      registrationRequestedAt: '2025-01-01T00:00:00.000Z',
    };
    await store.save(config);
    expect(await store.exists()).toBe(true);
    expect(await new ConfigStore(store.dir).load()).toEqual(config);
  });

  it('writes operator fields, then the internal-state comment, then internal fields, omitting unset ones', async () => {
    await store.save({ ...DEFAULT_CONFIG, workerId: 'w-1', registrationSecret: undefined });
    const text = await readFile(store.path, 'utf8');
    const lines = text.split('\n');
    const comment = lines.indexOf('# internal state: managed by studio-worker, do not edit');
    expect(comment).toBeGreaterThan(lines.indexOf('models_root = "~/models"'));
    expect(lines.indexOf('worker_id = "w-1"')).toBeGreaterThan(comment);
    expect(text).not.toContain('registration_secret');
  });

  it('saves with mode 0600 in a 0700 directory and leaves no temp files behind', async () => {
    await store.save(DEFAULT_CONFIG);
    await store.save({ ...DEFAULT_CONFIG, autoStart: false });
    expect(await readdir(store.dir)).toEqual(['config.toml']);
    if (process.platform !== 'win32') {
      expect((await stat(store.path)).mode & 0o777).toBe(0o600);
      expect((await stat(store.dir)).mode & 0o777).toBe(0o700);
    }
  });

  it('reports a syntax error with the path and line, and never overwrites the broken file', async () => {
    const broken = 'api_base_url = "https://a.example/"\nvram_threshold_gb = \nauto_start = true\n';
    await writeConfig(broken);

    const err = await loadError();
    expect(err.message).toContain(`${store.path}:2:`);
    expect(err.problems).toEqual([expect.objectContaining({ line: 2 })]);
    expect(err.exitCode).toBe(2);

    await expect(store.save(DEFAULT_CONFIG)).rejects.toBeInstanceOf(ConfigError);
    await expect(store.update((c) => ({ ...c, autoStart: false }))).rejects.toBeInstanceOf(ConfigError);
    expect(await readFile(store.path, 'utf8')).toBe(broken);
    expect(await readdir(store.dir)).toEqual(['config.toml']);
  });

  it('names the key and line of a value of the wrong type', async () => {
    await writeConfig('auto_start = true\n\nvram_threshold_gb = "lots"\n');
    const err = await loadError();
    expect(err.message).toContain(`${store.path}:3: vram_threshold_gb: expected a number, got string "lots"`);
    expect(err.problems).toEqual([
      { key: 'vram_threshold_gb', line: 3, message: 'expected a number, got string "lots"' },
    ]);
  });

  it('reports every problem at once', async () => {
    await writeConfig(
      [
        'api_base_url = "not a url"',
        'vram_threshold_gb = -1',
        'auto_start = "yes"',
        'ws_reconnect_attempts = 2.5',
        'auto_update_feed = "ftp://x.example/feed"',
      ].join('\n'),
    );
    const err = await loadError();
    expect(err.problems.map((p) => [p.key, p.line])).toEqual([
      ['api_base_url', 1],
      ['vram_threshold_gb', 2],
      ['auto_start', 3],
      ['ws_reconnect_attempts', 4],
      ['auto_update_feed', 5],
    ]);
    expect(err.message).toContain('5 problems');
    expect(err.message).toContain('auto_start: expected a boolean, got string "yes"');
    expect(err.message).toContain('api_base_url: expected an http(s) URL, got "not a url"');
    expect(err.message).toContain('vram_threshold_gb: must not be negative, got -1');
  });

  it('keeps unknown keys across a save and warns about them', async () => {
    await writeConfig('future_flag = true\nauto_start = false\n\n[future_table]\nanswer = 42\n');
    const loaded = await store.load();
    expect(loaded.autoStart).toBe(false);
    expect(store.warnings).toEqual([
      `${store.path}:1: unknown key "future_flag" (kept as is)`,
      `${store.path}:4: unknown key "future_table" (kept as is)`,
    ]);

    await store.save({ ...loaded, workerId: 'w-2' });
    const text = await readFile(store.path, 'utf8');
    expect(text).toContain('future_flag = true');
    expect(text).toContain('[future_table]\nanswer = 42');
    expect((await store.load()).workerId).toBe('w-2');
  });

  it("keeps the original's keys (start_minimised, local_api_port, local_api_token, stream_port) through every save", async () => {
    const original = [
      'api_base_url = "https://studio.minis.gg/"',
      'worker_id = "w-rust"',
      'auth_token = "tok-rust"',
      'vram_threshold_gb = 10.0',
      'start_minimised = false',
      'local_api_port = 4790',
      'local_api_token = "lat-123"',
      'stream_port = 4791',
      '',
    ].join('\n');
    await writeConfig(original);
    const loaded = await store.load();
    expect(loaded).toMatchObject({
      workerId: 'w-rust',
      authToken: 'tok-rust',
      vramThresholdGb: 10,
      startMinimised: false,
    });
    await store.update((c) => ({ ...c, vramThresholdGb: 8 }));
    await store.update((c) => ({ ...c, autoUpdateEnabled: false }));
    const text = await readFile(store.path, 'utf8');
    expect(text).toContain('start_minimised = false');
    expect(text).toContain('local_api_port = 4790');
    expect(text).toContain('local_api_token = "lat-123"');
    expect(text).toContain('stream_port = 4791');
    expect(await store.load()).toMatchObject({
      workerId: 'w-rust',
      authToken: 'tok-rust',
      vramThresholdGb: 8,
    });
  });

  it('does not turn the default auto_start into a choice by saving it; a value the operator set is kept', async () => {
    await store.update((c) => ({ ...c, workerId: 'w-1' }));
    expect(await readFile(store.path, 'utf8')).not.toContain('auto_start');
    expect(await store.isSet('auto_start')).toBe(false);
    await writeConfig('auto_start = true\n');
    await store.update((c) => ({ ...c, workerId: 'w-2' }));
    expect(await readFile(store.path, 'utf8')).toContain('auto_start = true');
    expect(await store.isSet('auto_start')).toBe(true);
    await store.update((c) => ({ ...c, autoStart: false }));
    expect(await readFile(store.path, 'utf8')).toContain('auto_start = false');
  });

  it('refuses to save values that would not load back', async () => {
    await expect(store.save({ ...DEFAULT_CONFIG, vramThresholdGb: -3 })).rejects.toThrow(/vram_threshold_gb/);
    expect(await store.exists()).toBe(false);
  });

  it('lands every one of many concurrent updates', async () => {
    const stores = [store, new ConfigStore(store.dir)];
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        stores[i % 2]!.update((c) => {
          c.installId = `${c.installId ?? ''}${i},`;
        }),
      ),
    );
    const ids = (await store.load()).installId?.split(',').filter(Boolean) ?? [];
    expect(ids.sort()).toEqual(Array.from({ length: 10 }, (_, i) => String(i)).sort());
  });

  it('keeps serving updates after one of them throws', async () => {
    const failing = store.update(() => {
      throw new Error('nope');
    });
    const next = store.update((c) => ({ ...c, autoStart: false }));
    await expect(failing).rejects.toThrow('nope');
    expect((await next).autoStart).toBe(false);
  });

  it('returns the new config from update', async () => {
    const updated = await store.update((c) => ({ ...c, vramThresholdGb: 20 }));
    expect(updated.vramThresholdGb).toBe(20);
    expect((await store.load()).vramThresholdGb).toBe(20);
  });
});
