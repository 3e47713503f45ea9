import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ResidencyStore } from '../../src/config/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'residency-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the residency list (models kept loaded)', () => {
  it('saves kept models in the original’s residency.json shape, sorted, owner-only', async () => {
    const store = new ResidencyStore(dir);
    expect(await store.load()).toEqual(new Set());
    expect(existsSync(store.path)).toBe(false); // loading writes nothing
    expect(await store.set('z-image-turbo', true)).toBe(true);
    expect(await store.set('qwen3-4b', true)).toBe(true);
    expect(await store.set('qwen3-4b', true)).toBe(false);
    expect(JSON.parse(await readFile(join(dir, 'residency.json'), 'utf8'))).toEqual({
      version: 1,
      resident: ['qwen3-4b', 'z-image-turbo'],
    });
    if (process.platform !== 'win32') expect((await stat(store.path)).mode & 0o777).toBe(0o600);
    expect(await store.set('qwen3-4b', false)).toBe(true);
    expect([...(await new ResidencyStore(dir).load())]).toEqual(['z-image-turbo']);
  });

  it('reads a file the original wrote', async () => {
    await writeFile(join(dir, 'residency.json'), '{\n  "version": 1,\n  "resident": ["llm-b"]\n}');
    expect([...(await new ResidencyStore(dir).load())]).toEqual(['llm-b']);
  });

  it('moves a corrupt file aside with a warning, never overwriting it, and starts empty', async () => {
    for (const bad of [
      '{not json',
      '{"version":2,"resident":[]}',
      '{"version":1,"resident":[1]}',
      '{"version":1,"resident":[],"x":1}',
    ]) {
      await writeFile(join(dir, 'residency.json'), bad);
      const store = new ResidencyStore(dir);
      expect(await store.load()).toEqual(new Set());
      expect(store.warnings[0]).toMatch(
        /residency\.json .*; moved it to .*residency\.json\.corrupt-\d+ and started with no kept models/,
      );
      const aside = (await readdir(dir)).find((f) => f.startsWith('residency.json.corrupt-'));
      expect(await readFile(join(dir, aside ?? ''), 'utf8')).toBe(bad);
      await rm(join(dir, aside ?? ''));
    }
  });
});
