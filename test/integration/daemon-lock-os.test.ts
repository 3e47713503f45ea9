import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireDaemonLock, LOCK_FILE } from '../../src/worker/index.js';
import { startRun, type RunProcess } from '../support/cli.js';

// The original (Rust) daemon takes daemon.lock with flock(LOCK_EX | LOCK_NB) and, finding it held,
// does not start (its tray does not spawn one either). `flock -n -x <file> true` asks the same.
const haveFlock = spawnSync('flock', ['--version']).status === 0;
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
