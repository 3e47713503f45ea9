import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Outbox, safeJobId } from '../../src/outbox/index.js';

const meta = (jobId: string) => ({ jobId, workerId: 'w-1', apiBaseUrl: 'http://studio.test/', ext: 'png' });

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function tempDir(root = tmpdir()): Promise<string> {
  const d = await mkdtemp(join(root, 'outbox-'));
  dirs.push(d);
  return d;
}

describe('Outbox', () => {
  it('keeps a put result on disk, lists it, and forgets it on remove', async () => {
    const dir = await tempDir();
    const outbox = new Outbox(join(dir, 'outbox'));
    const entry = await outbox.put({ ...meta('j1'), prompt: 'a fox' }, { data: Buffer.from('PNGDATA') });

    expect(entry).toMatchObject({ jobId: 'j1', ext: 'png', prompt: 'a fox', attempts: 0, bytes: 7 });
    expect(entry.filePath).toBe(join(dir, 'outbox', 'j1.png'));
    expect(await readFile(entry.filePath, 'utf8')).toBe('PNGDATA');
    expect(await new Outbox(join(dir, 'outbox')).list()).toEqual([entry]);

    await outbox.remove('j1');
    expect(await outbox.list()).toEqual([]);
    expect(await readdir(join(dir, 'outbox'))).toEqual([]);
    await outbox.remove('j1');
  });

  it('stores a small result the fast way (no fsync) as the same files, owner-only, and keeps its bytes for the upload', async () => {
    const dir = await tempDir();
    const outbox = new Outbox(join(dir, 'outbox'));
    const fast = await outbox.put(
      { ...meta('fast'), prompt: 'a fox' },
      { data: Buffer.from('FAST') },
      { sync: false },
    );
    const slow = await outbox.put({ ...meta('slow'), prompt: 'a fox' }, { data: Buffer.from('SLOW') });
    expect(Buffer.from(fast.data!).toString()).toBe('FAST');
    expect(slow.data).toBeUndefined();
    for (const name of ['fast.png', 'fast.json']) {
      expect((await stat(join(dir, 'outbox', name))).mode & 0o777).toBe(0o600);
    }
    // The same sidecar shape as the durable path: a fresh Outbox reads both back alike.
    const { data: _data, ...stored } = fast;
    expect(await new Outbox(join(dir, 'outbox')).get('fast')).toEqual(stored);
    const sidecar = (job: string) =>
      JSON.parse(readFileSync(join(dir, 'outbox', `${job}.json`), 'utf8')) as object;
    expect(Object.keys(sidecar('fast'))).toEqual(Object.keys(sidecar('slow')));
    // Forgetting a delivered entry takes both files.
    await outbox.forget(fast);
    const left = (await readdir(join(dir, 'outbox'))).filter((n) => !n.startsWith('.tmp-'));
    expect(left.sort()).toEqual(['slow.json', 'slow.png']);
    await outbox.forget(fast);
  });

  it('writes the next small results over the files of delivered ones (no new file per job), leaving no stray files', async () => {
    const dir = await tempDir();
    const outbox = new Outbox(join(dir, 'outbox'));
    const first = await outbox.put(meta('one'), { data: Buffer.from('ONE') }, { sync: false });
    const inodes = new Set([
      (await stat(first.filePath)).ino,
      (await stat(join(dir, 'outbox', 'one.json'))).ino,
    ]);
    await outbox.forget(first);
    // Until reused they are temp files, which a start removes as half-written.
    expect((await readdir(join(dir, 'outbox'))).every((n) => n.startsWith('.tmp-'))).toBe(true);
    const second = await outbox.put(meta('two'), { data: Buffer.from('TWO!') }, { sync: false });
    expect(inodes.has((await stat(second.filePath)).ino)).toBe(true);
    expect(await readFile(second.filePath, 'utf8')).toBe('TWO!');
    expect((await readdir(join(dir, 'outbox'))).sort()).toEqual(['two.json', 'two.png']);
    expect(await new Outbox(join(dir, 'outbox')).get('two')).toMatchObject({ jobId: 'two', bytes: 4 });
  });

  it('makes the folder again when it was removed under a running outbox', async () => {
    const dir = await tempDir();
    const outbox = new Outbox(join(dir, 'outbox'));
    await outbox.put(meta('a'), { data: Buffer.from('A') }, { sync: false });
    await rm(join(dir, 'outbox'), { recursive: true });
    const b = await outbox.put(meta('b'), { data: Buffer.from('B') }, { sync: false });
    expect(await readFile(b.filePath, 'utf8')).toBe('B');
    expect((await outbox.list()).map((e) => e.jobId)).toEqual(['b']);
  });

  it('lists nothing for a folder that does not exist yet', async () => {
    expect(await new Outbox(join(await tempDir(), 'none')).list()).toEqual([]);
  });

  it('takes over a result file by moving it, leaving the source gone', async () => {
    const dir = await tempDir();
    const source = join(dir, 'scratch.webp');
    await writeFile(source, 'WEBP', { mode: 0o644 });
    const entry = await new Outbox(join(dir, 'outbox')).put({ ...meta('j2'), ext: 'webp' }, { path: source });
    expect(entry.bytes).toBe(4);
    expect(await readFile(entry.filePath, 'utf8')).toBe('WEBP');
    // Owner-only, like its sidecar, whatever mode the engine made it with.
    expect((await stat(entry.filePath)).mode & 0o777).toBe(0o600);
    await expect(readFile(source)).rejects.toThrow(/ENOENT/);
  });

  const otherDisk = '/dev/shm';
  const canCrossDisks = (() => {
    try {
      return statSync(otherDisk).dev !== statSync(tmpdir()).dev;
    } catch {
      return false;
    }
  })();
  it.skipIf(!canCrossDisks)('copies a result file from another disk, then deletes the source', async () => {
    const source = join(await tempDir(otherDisk), 'scratch.wav');
    await writeFile(source, 'RIFF....WAVE');
    const entry = await new Outbox(join(await tempDir(), 'outbox')).put(
      { ...meta('j3'), ext: 'wav' },
      { path: source },
    );
    expect(await readFile(entry.filePath, 'utf8')).toBe('RIFF....WAVE');
    await expect(readFile(source)).rejects.toThrow(/ENOENT/);
  });

  it('lists nothing when a crash left the data file without its sidecar, and reports it', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'j4.png'), 'half a put');
    await writeFile(join(dir, '.tmp-0b6a'), 'a write cut short');
    const outbox = new Outbox(dir);
    expect(await outbox.list()).toEqual([]);
    expect((await outbox.scan()).problems).toEqual([
      { path: join(dir, 'j4.png'), reason: 'data file without a sidecar' },
    ]);
  });

  it('does not list an entry whose data file is missing, and reports it', async () => {
    const dir = await tempDir();
    const outbox = new Outbox(dir);
    const entry = await outbox.put(meta('j5'), { data: Buffer.from('x') });
    await rm(entry.filePath);
    const { entries, problems } = await outbox.scan();
    expect(entries).toEqual([]);
    expect(problems).toEqual([{ path: join(dir, 'j5.json'), reason: 'data file j5.png is missing' }]);
  });

  it('reports a corrupt sidecar instead of failing the whole listing', async () => {
    const dir = await tempDir();
    const outbox = new Outbox(dir);
    await outbox.put(meta('good'), { data: Buffer.from('x') });
    await writeFile(join(dir, 'bad.json'), '{"version":1');
    const { entries, problems } = await outbox.scan();
    expect(entries.map((e) => e.jobId)).toEqual(['good']);
    expect(problems[0]?.path).toBe(join(dir, 'bad.json'));
    expect(problems[0]?.reason).toMatch(/^unreadable sidecar/);
  });

  it('lists entries oldest first', async () => {
    const outbox = new Outbox(await tempDir());
    for (const id of ['c', 'a', 'b']) {
      await outbox.put(meta(id), { data: Buffer.from(id) });
      await new Promise((r) => setTimeout(r, 5));
    }
    expect((await outbox.list()).map((e) => e.jobId)).toEqual(['c', 'a', 'b']);
  });

  it('replaces an entry put again for the same job, dropping the superseded bytes', async () => {
    const dir = await tempDir();
    const outbox = new Outbox(dir);
    await outbox.put(meta('j6'), { data: Buffer.from('old') });
    await outbox.put({ ...meta('j6'), ext: 'webp' }, { data: Buffer.from('new') });
    expect((await outbox.list()).map((e) => e.filePath)).toEqual([join(dir, 'j6.webp')]);
    expect((await readdir(dir)).sort()).toEqual(['j6.json', 'j6.webp']);
  });

  it('counts failed attempts durably', async () => {
    const dir = await tempDir();
    await new Outbox(dir).put(meta('j7'), { data: Buffer.from('x') });
    await new Outbox(dir).markAttempt('j7', 'HTTP 503');
    const after = await new Outbox(dir).markAttempt('j7');
    expect(after).toMatchObject({ attempts: 2, lastError: 'HTTP 503' });
    expect((await new Outbox(dir).list())[0]).toMatchObject({ attempts: 2, lastError: 'HTTP 503' });
  });

  it('quarantines a refused entry into rejected/ with its reason, bytes kept', async () => {
    const dir = await tempDir();
    const outbox = new Outbox(dir);
    await outbox.put(meta('j8'), { data: Buffer.from('keep me') });
    const moved = await outbox.quarantine('j8', 'HTTP 400: bad ext');
    expect(moved).toBe(join(dir, 'rejected', 'j8.png'));
    expect(await readFile(moved, 'utf8')).toBe('keep me');
    const sidecar = JSON.parse(await readFile(join(dir, 'rejected', 'j8.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(sidecar).toMatchObject({ jobId: 'j8', rejectedReason: 'HTTP 400: bad ext' });
    expect(await outbox.scan()).toEqual({ entries: [], problems: [] });
  });

  it('refuses an extension that is not 1-8 lowercase letters or digits', async () => {
    const outbox = new Outbox(await tempDir());
    await expect(outbox.put({ ...meta('j9'), ext: '../png' }, { data: Buffer.from('x') })).rejects.toThrow(
      /bad result extension/,
    );
  });

  it('stores hostile job ids inside its folder and gives them back unchanged', async () => {
    const dir = await tempDir();
    const outbox = new Outbox(dir);
    const ids = ['../../escape', 'a/b\\c', 'Job-1', 'job-1', 'CON', 'ünï cødé', 'x'.repeat(300)];
    for (const id of ids) await outbox.put(meta(id), { data: Buffer.from(id) });
    const entries = await outbox.list();
    expect(entries.map((e) => e.jobId).sort()).toEqual([...ids].sort());
    for (const e of entries) {
      expect(e.filePath.startsWith(dir + sep)).toBe(true);
      expect(e.filePath.slice(dir.length + 1)).not.toMatch(/[/\\]/);
      expect(await readFile(e.filePath, 'utf8')).toBe(e.jobId);
    }
  });
});

describe('safeJobId', () => {
  it('keeps plain ids as they are and never yields separators, dots or a case-only difference', () => {
    expect(safeJobId('job_42-a')).toBe('job_42-a');
    expect(safeJobId('../x')).toBe('%2E%2E%2Fx');
    expect(safeJobId('Job')).not.toBe(safeJobId('job'));
    expect(safeJobId('Job').toLowerCase()).not.toBe(safeJobId('job').toLowerCase());
    expect(safeJobId('nul')).not.toBe('nul');
    expect(safeJobId('y'.repeat(1000)).length).toBeLessThanOrEqual(160);
    expect(() => safeJobId('')).toThrow();
  });
});
