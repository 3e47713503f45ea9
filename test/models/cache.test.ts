import { existsSync } from 'node:fs';
import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { INDEX_FILENAME } from '../../src/models/index.js';
import type { ModelCache } from '../../src/models/index.js';
import type { ModelFile } from '../../src/protocol/index.js';
import { SIZE, never, startRig } from './helpers.js';
import type { Rig } from './helpers.js';

let rig: Rig;
beforeEach(async () => {
  rig = await startRig();
});
afterEach(async () => {
  await rig.close();
});

/** Provisions and releases each file in turn, a few ms apart, so their last-used times are ordered. */
async function useInOrder(cache: ModelCache, files: ModelFile[]): Promise<void> {
  for (const f of files) {
    (await cache.provision([f], never())).release();
    await delay(5);
  }
}

describe('a warm model (provisioned again in the same run)', () => {
  it('is used after one stat, the index left alone, and checked in full again once its file changes', async () => {
    const a = rig.model('warm.gguf');
    const cache = rig.cache();
    (await cache.provision([a.file], never())).release();
    await delay(100); // the release's index write
    await rm(join(rig.root, INDEX_FILENAME));
    // Unchanged on disk: trusted as found a moment ago, no index read or written.
    const again = await cache.provision([a.file], never());
    expect(again.path('model')).toBe(join(rig.root, 'warm.gguf'));
    expect(existsSync(join(rig.root, INDEX_FILENAME))).toBe(false);
    again.release();
    // Changed (another size): judged in full, found stale against its sha256, fetched again.
    await truncate(join(rig.root, 'warm.gguf'), 10);
    const fetched = rig.server.requests.length;
    (await cache.provision([a.file], never())).release();
    expect(rig.server.requests.length).toBeGreaterThan(fetched);
    expect(await readFile(join(rig.root, 'warm.gguf'))).toEqual(a.body);
  });
});

describe('the cache index', () => {
  it('lists files least recently used first, with size, sha256, last use and whether in use', async () => {
    const a = rig.model('a.gguf');
    const b = rig.model('b.gguf');
    const cache = rig.cache();
    await useInOrder(cache, [b.file, a.file]);
    const held = await cache.provision([b.file], never());

    const list = await cache.list();
    expect(list.map((f) => [f.filename, f.bytes, f.sha256, f.inUse])).toEqual([
      ['a.gguf', SIZE, a.sha256, false],
      ['b.gguf', SIZE, b.sha256, true],
    ]);
    expect(Date.parse(list[0]?.lastUsedAt ?? '')).toBeGreaterThan(0);
    expect(await cache.totalBytes()).toBe(2 * SIZE);
    held.release();
  });

  it('prunes least recently used first and never a file in use', async () => {
    const [a, b, c, d] = ['a.gguf', 'b.gguf', 'c.gguf', 'd.gguf'].map((n) => rig.model(n).file) as [
      ModelFile,
      ModelFile,
      ModelFile,
      ModelFile,
    ];
    const cache = rig.cache();
    // c is in use by a running job and the least recently used; then a, d, b.
    const running = await cache.provision([c], never());
    await delay(5);
    await useInOrder(cache, [a, d, b]);

    const result = await cache.prune({ maxBytes: 2 * SIZE });
    expect(result.removed.map((f) => f.filename)).toEqual(['a.gguf', 'd.gguf']);
    expect(result.freedBytes).toBe(2 * SIZE);
    expect(result.keptBytes).toBe(2 * SIZE);
    expect(existsSync(join(rig.root, 'a.gguf'))).toBe(false);
    expect(existsSync(join(rig.root, 'c.gguf'))).toBe(true);
    expect((await cache.list()).map((f) => f.filename)).toEqual(['c.gguf', 'b.gguf']);

    const dry = await cache.prune({ maxBytes: 0, dryRun: true });
    expect(dry.removed.map((f) => f.filename)).toEqual(['b.gguf']);
    expect(existsSync(join(rig.root, 'b.gguf'))).toBe(true);
    running.release();
  });

  it('sees a file held by another live process as in use (a prune run by hand beside a worker)', async () => {
    const { file } = rig.model('other.gguf');
    const cache = rig.cache();
    (await cache.provision([file], never())).release();
    await cache.list();
    const indexPath = join(rig.root, INDEX_FILENAME);
    const index = JSON.parse(await readFile(indexPath, 'utf8')) as {
      files: Record<string, { inUseBy?: number[] }>;
    };
    // process.ppid: a live process that is not this one (the test runner).
    index.files['other.gguf']!.inUseBy = [process.ppid];
    await writeFile(indexPath, JSON.stringify(index));

    expect((await cache.list())[0]?.inUse).toBe(true);
    expect((await cache.prune({ maxBytes: 0 })).removed).toEqual([]);
  });

  it('re-verifies a file present without an index entry by its hash, without downloading it', async () => {
    const { file } = rig.model('adopted.gguf');
    const cache = rig.cache();
    (await cache.provision([file], never())).release();
    await rm(join(rig.root, INDEX_FILENAME));

    (await rig.cache().provision([file], never())).release();
    expect(rig.server.requests).toHaveLength(1);
    expect((await cache.list()).map((f) => f.filename)).toEqual(['adopted.gguf']);
  });

  it('downloads again a file present without an index entry when there is no sha256 to check it', async () => {
    const { file } = rig.model('unknown.gguf', { withSha: false });
    await rig.cache().provision([file], never());
    await rm(join(rig.root, INDEX_FILENAME));
    await rig.cache().provision([file], never());
    expect(rig.server.requests).toHaveLength(2);
  });

  it('downloads again a file whose size no longer matches the index', async () => {
    const { file, body } = rig.model('truncated.gguf');
    await rig.cache().provision([file], never());
    await truncate(join(rig.root, 'truncated.gguf'), 1000);
    const model = await rig.cache().provision([file], never());
    expect((await readFile(model.path('model') ?? '')).equals(body)).toBe(true);
    expect(rig.server.requests).toHaveLength(2);
  });

  it('downloads again when the job expects another sha256 than the cached file has', async () => {
    const old = rig.model('updated.gguf');
    await rig.cache().provision([old.file], never());
    const fresh = rig.model('updated.gguf');
    const model = await rig.cache().provision([fresh.file], never());
    expect((await readFile(model.path('model') ?? '')).equals(fresh.body)).toBe(true);
    expect(rig.server.requests).toHaveLength(2);
  });

  it('starts a new index when the index file is corrupt, logging why', async () => {
    const { file } = rig.model('fine.gguf');
    await rig.cache().provision([file], never());
    await writeFile(join(rig.root, INDEX_FILENAME), '{ not json');
    (await rig.cache().provision([file], never())).release();
    expect(rig.logText()).toContain('model cache index is unreadable');
    expect(rig.server.requests).toHaveLength(1);
  });
});
