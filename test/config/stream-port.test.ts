import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, ConfigStore, DEFAULT_CONFIG } from '../../src/config/index.js';
import { STREAM_PORT_ENV, resolveStreamPort } from '../../src/local-api/index.js';

// The LAN streaming speech listener's port: the original's `stream_port` (default 4798), with
// STUDIO_WORKER_STREAM_PORT over it, resolved as the local API's port is.

let dir: string;
let store: ConfigStore;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'sw-stream-port-'));
  store = new ConfigStore(path.join(dir, 'cfg'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeConfig(text: string): Promise<void> {
  await store.save(DEFAULT_CONFIG);
  await writeFile(store.path, text);
}

describe('stream_port', () => {
  it("defaults to the original's 4798, next to the local API's 4787", async () => {
    expect(DEFAULT_CONFIG.streamPort).toBe(4798);
    expect((await store.load()).streamPort).toBe(4798);
  });

  it('is read from config.toml, without an unknown-key warning, and saved back under its own key', async () => {
    await writeConfig('stream_port = 4791\n');
    const loaded = await store.load();
    expect(loaded.streamPort).toBe(4791);
    expect(store.warnings).toEqual([]);
    await store.update((c) => ({ ...c, streamPort: 4800 }));
    const text = await readFile(store.path, 'utf8');
    expect(text).toContain('stream_port = 4800');
    // Once, as a known key: not also in the kept-unknown section.
    expect(text.match(/stream_port/g)).toHaveLength(1);
  });

  it('refuses a value that is no port, naming the key and its line', async () => {
    await writeConfig('auto_start = true\nstream_port = 70000\n');
    const err = await store.load().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([expect.objectContaining({ key: 'stream_port', line: 2 })]);
  });
});

describe('resolveStreamPort', () => {
  const warnings: string[] = [];
  const warn = (m: string) => warnings.push(m);
  afterEach(() => {
    warnings.length = 0;
  });

  it('takes STUDIO_WORKER_STREAM_PORT over the config, 0 included (any free port)', () => {
    expect(STREAM_PORT_ENV).toBe('STUDIO_WORKER_STREAM_PORT');
    expect(resolveStreamPort({ STUDIO_WORKER_STREAM_PORT: '5000' }, 4000, warn)).toBe(5000);
    expect(resolveStreamPort({ STUDIO_WORKER_STREAM_PORT: ' 0 ' }, 4000, warn)).toBe(0);
    expect(warnings).toEqual([]);
  });

  it('uses the configured port when the variable is unset or empty', () => {
    expect(resolveStreamPort({}, 4000, warn)).toBe(4000);
    expect(resolveStreamPort({ STUDIO_WORKER_STREAM_PORT: '' }, 4798, warn)).toBe(4798);
    expect(warnings).toEqual([]);
  });

  it('falls back with a warning naming the variable and the value when it is no port', () => {
    expect(resolveStreamPort({ STUDIO_WORKER_STREAM_PORT: 'not-a-port' }, 4000, warn)).toBe(4000);
    expect(resolveStreamPort({ STUDIO_WORKER_STREAM_PORT: '99999' }, 4000, warn)).toBe(4000);
    expect(warnings).toEqual([
      'STUDIO_WORKER_STREAM_PORT="not-a-port" is not a port number; using 4000',
      'STUDIO_WORKER_STREAM_PORT="99999" is not a port number; using 4000',
    ]);
  });
});
