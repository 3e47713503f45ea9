import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SIZE, never, startRig } from './helpers.js';
import type { Rig } from './helpers.js';

let rig: Rig;
beforeEach(async () => {
  rig = await startRig();
});
afterEach(async () => {
  await rig.close();
});

describe('two jobs that need the same file', () => {
  it('share one download', async () => {
    const { file, body } = rig.model('shared.gguf');
    const cache = rig.cache();
    const release = rig.server.hold();
    const first = cache.provision([file], never());
    await rig.server.requestsReached(1);
    const second = cache.provision([file], never());
    // Room for the second job to send a request of its own, were the download not shared.
    await delay(100);
    release();
    const [a, b] = await Promise.all([first, second]);

    expect(a.path('model')).toBe(b.path('model'));
    expect((await readFile(a.path('model') ?? '')).equals(body)).toBe(true);
    expect(rig.server.requests).toHaveLength(1);
    expect(rig.server.bytesSent).toBe(SIZE);
  });

  it('keeps the shared download going when one of the jobs is cancelled', async () => {
    const { file, body } = rig.model('kept.gguf');
    const cache = rig.cache();
    const release = rig.server.hold();
    const cancelled = new AbortController();
    const first = cache.provision([file], cancelled.signal);
    await rig.server.requestsReached(1);
    const second = cache.provision([file], never());
    await delay(50);
    cancelled.abort();
    await expect(first).rejects.toThrow(/abort/i);
    release();

    const model = await second;
    expect((await readFile(model.path('model') ?? '')).equals(body)).toBe(true);
    expect(rig.server.requests).toHaveLength(1);
  });

  it('marks the file in use until every job has released it', async () => {
    const { file } = rig.model('held.gguf');
    const cache = rig.cache();
    const [a, b] = await Promise.all([cache.provision([file], never()), cache.provision([file], never())]);
    expect((await cache.list()).map((f) => f.inUse)).toEqual([true]);
    a.release();
    a.release();
    expect((await cache.list()).map((f) => f.inUse)).toEqual([true]);
    b.release();
    expect((await cache.list()).map((f) => f.inUse)).toEqual([false]);
  });

  it('share one download across workers on one cache (one per GPU): the second waits for the first', async () => {
    const { file, body } = rig.model('fleet.gguf');
    // Two caches on one root are two workers' caches: nothing in memory is shared, only the files.
    const first = rig.cache();
    const second = rig.cache();
    const release = rig.server.hold();
    const a = first.provision([file], never());
    await rig.server.requestsReached(1);
    const b = second.provision([file], never());
    await delay(200);
    release();
    const [ma, mb] = await Promise.all([a, b]);
    expect(mb.path('model')).toBe(ma.path('model'));
    expect((await readFile(mb.path('model') ?? '')).equals(body)).toBe(true);
    expect(rig.server.requests).toHaveLength(1);
  });
});
