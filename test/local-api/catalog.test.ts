import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CatalogStore } from '../../src/local-api/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'catalog-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const source = (engine: 'synthetic' | 'llama-cpp' = 'synthetic') => ({
  engine,
  files: [],
  cliDefaults: { cfgScale: 1, steps: 4, width: 512, height: 512 },
});

describe('the model catalogue (models.json)', () => {
  it('resolves a named model, or the first enabled one of a kind, and says why when it cannot', async () => {
    const c = new CatalogStore(dir);
    await c.upsert({ id: 'off', kind: 'image', source: source(), enabled: false });
    await c.upsert({ id: 'img', kind: 'image', source: source() });
    await c.upsert({ id: 'chat', kind: 'llm', source: source('llama-cpp') });
    expect(await c.resolve('image', undefined)).toMatchObject({ id: 'img' });
    expect(await c.resolve('image', 'chat')).toBe("model 'chat' is a llm model, not image");
    expect(await c.resolve('video', undefined)).toBe('no video model configured in the local catalog');
    expect(await c.resolve('image', 'nope')).toBe("unknown model 'nope' (not in the local catalog)");
    const saved = JSON.parse(await readFile(join(dir, 'models.json'), 'utf8')) as {
      models: { id: string; origin: string }[];
    };
    expect(saved.models.map((m) => [m.id, m.origin])).toEqual([
      ['off', 'local'],
      ['img', 'local'],
      ['chat', 'local'],
    ]);
  });

  it('adds the studio’s models as origin "studio", never over a local entry, and skips unchanged ones', async () => {
    const c = new CatalogStore(dir);
    await c.upsert({ id: 'mine', kind: 'image', source: source() });
    expect(await c.syncStudioModel('mine', 'image', source('llama-cpp'))).toBe(false);
    expect((await c.get('mine'))?.source.engine).toBe('synthetic');
    expect(await c.syncStudioModel('theirs', 'llm', source('llama-cpp'))).toBe(true);
    expect(await c.syncStudioModel('theirs', 'llm', source('llama-cpp'))).toBe(false);
    expect(await c.get('theirs')).toMatchObject({ origin: 'studio', kind: 'llm', displayName: 'theirs' });
  });

  it('moves a corrupt file aside with a warning, never overwriting it, and keeps unknown top-level keys', async () => {
    await writeFile(join(dir, 'models.json'), '{"models": [{"id": 1}]}');
    const c = new CatalogStore(dir);
    expect(await c.list()).toEqual([]);
    expect(c.warnings[0]).toMatch(
      /models\.json does not hold a model list .*moved it to .*models\.json\.corrupt-\d+/,
    );
    const aside = (await readdir(dir)).find((f) => f.startsWith('models.json.corrupt-')) ?? '';
    expect(await readFile(join(dir, aside), 'utf8')).toBe('{"models": [{"id": 1}]}');
    await writeFile(join(dir, 'models.json'), JSON.stringify({ dismissedSeeds: ['qwen3.5-2b'], models: [] }));
    await c.upsert({ id: 'img', kind: 'image', source: source() });
    expect(JSON.parse(await readFile(join(dir, 'models.json'), 'utf8'))).toMatchObject({
      dismissedSeeds: ['qwen3.5-2b'],
    });
  });
});
