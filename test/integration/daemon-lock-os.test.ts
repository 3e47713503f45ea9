import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { holdOsLock } from '../../src/util/index.js';
import { acquireDaemonLock, LOCK_FILE } from '../../src/worker/index.js';
import { startRun, type RunProcess } from '../support/cli.js';

// The original (Rust) daemon takes daemon.lock with flock(LOCK_EX | LOCK_NB) and, finding it held,
// does not start (its tray does not spawn one either). `flock -n -x <file> true` asks the same.
const haveFlock = spawnSync('flock', ['--version']).status === 0;
const havePerl = spawnSync('perl', ['-v']).status === 0;
const originalCouldLock = (path: string): boolean =>
  spawnSync('flock', ['--nonblock', '--exclusive', path, 'true']).status === 0;

async function until(ok: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

let dir: string | undefined;
let run: RunProcess | undefined;
afterEach(async () => {
  if (run && run.child.exitCode === null && run.child.signalCode === null) await run.stop();
  run = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe.skipIf(!haveFlock)(
  "the original's OS lock on daemon.lock, held by this worker too (skipped without flock(1))",
  () => {
    it('an original daemon cannot lock the config folder while this worker holds it; it can once released', async () => {
      dir = await mkdtemp(join(tmpdir(), 'sw-oslock-'));
      const lock = await acquireDaemonLock(dir);
      const path = join(dir, LOCK_FILE);
      expect(await until(() => !originalCouldLock(path))).toBe(true);
      await lock.release();
      expect(await until(() => originalCouldLock(path))).toBe(true);
    });

    it('a worker killed with -9 lets go of it at once, as the kernel lets go of the original’s', async () => {
      dir = await mkdtemp(join(tmpdir(), 'sw-oslock-'));
      await writeFile(join(dir, 'config.toml'), 'api_base_url = "http://127.0.0.1:1/"\n');
      run = startRun(dir, ['--no-dashboard']);
      const path = join(dir, LOCK_FILE);
      expect(await until(() => existsSync(path) && !originalCouldLock(path), 20_000), run.stderr()).toBe(
        true,
      );
      run.child.kill('SIGKILL');
      expect(await until(() => originalCouldLock(path))).toBe(true);
    });
  },
);

describe.skipIf(!haveFlock || !havePerl)(
  'the OS lock where flock(1) is missing: perl’s flock() holds it (macOS, slim containers; skipped without flock(1) and perl)',
  () => {
    it('perl holds the lock the original asks for, and lets go on release', async () => {
      dir = await mkdtemp(join(tmpdir(), 'sw-oslock-'));
      const path = join(dir, LOCK_FILE);
      await writeFile(path, '');
      const held = holdOsLock(path, undefined, 'perl');
      expect(await until(() => !originalCouldLock(path))).toBe(true);
      held.release();
      expect(await until(() => originalCouldLock(path))).toBe(true);
    });

    it('with no flock on PATH, the lock is still held (through perl), and nothing is reported missing', async () => {
      dir = await mkdtemp(join(tmpdir(), 'sw-oslock-'));
      const path = join(dir, LOCK_FILE);
      await writeFile(path, '');
      const bin = join(dir, 'bin');
      await mkdir(bin);
      const perl = spawnSync('sh', ['-c', 'command -v perl'], { encoding: 'utf8' }).stdout.trim();
      await symlink(perl, join(bin, 'perl'));
      const saved = process.env['PATH'];
      const unavailable: string[] = [];
      process.env['PATH'] = bin;
      let held;
      try {
        held = holdOsLock(path, (why) => unavailable.push(why));
        // The fallback spawns once flock's ENOENT arrives; keep PATH narrow until then.
        await new Promise((r) => setTimeout(r, 300));
      } finally {
        process.env['PATH'] = saved;
      }
      expect(await until(() => !originalCouldLock(path))).toBe(true);
      expect(unavailable).toEqual([]);
      held.release();
      expect(await until(() => originalCouldLock(path))).toBe(true);
    });
  },
);
