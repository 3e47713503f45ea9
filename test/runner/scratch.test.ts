import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeScratchDir, sweepScratch } from '../../src/runner/scratch.js';
import { sweepUnresumable } from '../../src/models/partial.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'sweep-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('tidying what a worker killed mid-job left behind', () => {
  it("removes scratch folders of processes that are gone, keeps this process's and other files", async () => {
    const mine = makeScratchDir(root);
    expect(basename(mine)).toMatch(new RegExp(`^job-${process.pid}-`));
    await mkdir(join(root, 'job-999999999-abc123'));
    await mkdir(join(root, 'job-oldone'));
    await mkdir(join(root, 'job-young1'));
    const hourAgo = new Date(Date.now() - 2 * 3_600_000);
    await utimes(join(root, 'job-oldone'), hourAgo, hourAgo);
    await writeFile(join(root, 'notes.txt'), 'keep');
    const removed = await sweepScratch(root);
    expect(removed.sort()).toEqual(['job-999999999-abc123', 'job-oldone']);
    expect(existsSync(mine)).toBe(true);
    expect(existsSync(join(root, 'job-young1'))).toBe(true);
    expect(existsSync(join(root, 'notes.txt'))).toBe(true);
  });

  it('removes partial downloads that can never be resumed once idle, and keeps resumable ones', async () => {
    const partial = join(root, '.partial', 'model-a');
    await mkdir(partial, { recursive: true });
    const old = new Date(Date.now() - 3_600_000);
    const put = async (name: string, meta?: object) => {
      await writeFile(join(partial, name), 'bytes');
      if (meta) await writeFile(join(partial, `${name}.json`), JSON.stringify(meta));
      await utimes(join(partial, name), old, old);
    };
    await put('no-meta.gguf.part');
    await put('no-validator.gguf.part', { url: 'https://x/a', bytes: 5 });
    await put('resumable.gguf.part', { url: 'https://x/b', bytes: 5, etag: '"abc"' });
    await writeFile(join(partial, 'fresh.gguf.part'), 'being written');
    const removed = (await sweepUnresumable(root)).map((p) => basename(p)).sort();
    expect(removed).toEqual(['no-meta.gguf.part', 'no-validator.gguf.part']);
    expect(existsSync(join(partial, 'no-validator.gguf.part.json'))).toBe(false);
    expect(existsSync(join(partial, 'resumable.gguf.part'))).toBe(true);
    expect(existsSync(join(partial, 'fresh.gguf.part'))).toBe(true);
  });
});
