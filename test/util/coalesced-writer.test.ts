import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CoalescedFileWriter } from '../../src/util/index.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('CoalescedFileWriter', () => {
  it('writes the newest text, folding calls made while a write runs into one more write', async () => {
    dir = await mkdtemp(join(tmpdir(), 'coalesce-'));
    const path = join(dir, 'state.json');
    const writer = new CoalescedFileWriter(path);
    let renders = 0;
    for (let i = 1; i <= 20; i++) writer.write(() => `${++renders}:${i}`);
    await writer.flush();
    expect(await readFile(path, 'utf8')).toMatch(/:20$/);
    // The first write started at once; the other 19 calls became one more.
    expect(renders).toBe(2);
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('with a delay, writes once per period whatever the number of changes, and at once on flush', async () => {
    dir = await mkdtemp(join(tmpdir(), 'coalesce-'));
    const path = join(dir, 'counts.json');
    const writer = new CoalescedFileWriter(path, 200);
    let renders = 0;
    for (let i = 1; i <= 50; i++) writer.write(() => `${++renders}:${i}`);
    await new Promise((r) => setTimeout(r, 50));
    await expect(readFile(path, 'utf8')).rejects.toThrow(/ENOENT/);
    await new Promise((r) => setTimeout(r, 400));
    expect(await readFile(path, 'utf8')).toBe('1:50');
    writer.write(() => `${++renders}:flushed`);
    await writer.flush();
    expect(await readFile(path, 'utf8')).toBe('2:flushed');
  });

  it('keeps writing after a period whose change a running write already took (and its flush ends)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'coalesce-'));
    const path = join(dir, 'history.json');
    const writer = new CoalescedFileWriter(path, 20);
    // A change made while the first write runs: that write's loop takes it, so the period it
    // started ends with nothing left to write.
    writer.write(() => {
      writer.write(() => 'B');
      return 'A';
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(await readFile(path, 'utf8')).toBe('B');
    writer.write(() => 'C');
    await new Promise((r) => setTimeout(r, 100));
    expect(await readFile(path, 'utf8')).toBe('C');
    writer.write(() => 'D');
    await writer.flush();
    expect(await readFile(path, 'utf8')).toBe('D');
  });
});
