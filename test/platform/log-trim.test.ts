import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { currentTarget, servicePlan, trimLogs } from '../../src/platform/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'log-trim-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('service log files that do not grow for ever', () => {
  it('rotates a log above the limit into .1, keeps three, and leaves small ones alone', async () => {
    const log = join(dir, 'worker.log');
    const small = join(dir, 'worker.err.log');
    await writeFile(small, 'short\n');
    for (let round = 1; round <= 4; round++) {
      await writeFile(log, `round ${round}\n`.repeat(20));
      expect(await trimLogs([log, small], { maxBytes: 100 })).toEqual([log]);
    }
    expect(await readFile(log, 'utf8')).toBe('');
    expect((await readFile(`${log}.1`, 'utf8')).startsWith('round 4')).toBe(true);
    expect((await readFile(`${log}.2`, 'utf8')).startsWith('round 3')).toBe(true);
    expect((await readFile(`${log}.3`, 'utf8')).startsWith('round 2')).toBe(true);
    expect(existsSync(`${log}.4`)).toBe(false);
    expect(await readFile(small, 'utf8')).toBe('short\n');
    expect(await trimLogs([join(dir, 'missing.log')])).toEqual([]);
  });

  it('keeps a writer that appends (as launchd and cmd.exe `>>` do) writing at the start of the emptied file', async () => {
    const log = join(dir, 'worker.log');
    const writer = await open(log, 'a');
    try {
      await writer.write('x'.repeat(200));
      await trimLogs([log], { maxBytes: 100 });
      await writer.write('after\n');
    } finally {
      await writer.close();
    }
    expect(await readFile(log, 'utf8')).toBe('after\n');
  });

  it('knows which files each platform’s service writes (none on Linux: journald keeps them)', () => {
    const t = currentTarget();
    expect(servicePlan({ ...t, platform: 'linux' }).logFiles).toEqual([]);
    expect(servicePlan({ ...t, platform: 'darwin', home: '/Users/a' }).logFiles).toEqual([
      '/Users/a/Library/Logs/studio-worker/worker.log',
      '/Users/a/Library/Logs/studio-worker/worker.err.log',
    ]);
    expect(
      servicePlan({
        ...t,
        platform: 'win32',
        env: { LOCALAPPDATA: 'C:\\Users\\a\\AppData\\Local' },
      }).logFiles.map((f) => f.split(/[\\/]/).at(-1)),
    ).toEqual(['worker.log', 'worker.out.log']); // worker.log: rotated by the worker (run --log-file)
  });
});
