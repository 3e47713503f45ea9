import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ownRecord } from '../../src/util/lock-record.js';
import type { LockRecord } from '../../src/util/index.js';
import type { Harness } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

import { CLI } from '../support/cli.js';
const UTIL = join(import.meta.dirname, '../../dist/util/index.js');
let h: Harness | undefined;
let dir: string | undefined;
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await h?.close();
  h = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

const exited = (c: ChildProcess) =>
  new Promise<number | null>((resolve) =>
    c.exitCode !== null || c.signalCode !== null
      ? resolve(c.exitCode)
      : c.once('exit', (code) => resolve(code)),
  );

/**
 * A process that takes the lock at `path` (no waiting) when it reads a line: it prints "got" and
 * holds it until killed, or the error's name and exits.
 */
function taker(path: string): { child: ChildProcess; said: () => string; ready: Promise<void> } {
  const script = `
    const { acquireFileLock } = await import(${JSON.stringify(UTIL)});
    process.stdin.once('data', () => acquireFileLock(${JSON.stringify(path)}).then(
      () => { process.stdout.write('got\\n'); setInterval(() => {}, 1000); },
      (e) => { process.stdout.write(e.name + '\\n'); process.exit(0); },
    ));
    process.stdout.write('ready\\n');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(child);
  let out = '';
  const ready = new Promise<void>((resolve) =>
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('ready\n')) resolve();
    }),
  );
  return { child, said: () => out.replace('ready\n', '').trim(), ready };
}

function deadPid(): number {
  return Number(
    spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
      .stdout,
  );
}

describe('two workers started at once on one config: exactly one runs', () => {
  const leftovers: [string, () => LockRecord, number][] = [
    ['none', () => ownRecord(), -1],
    ['one whose holder here no longer runs', () => ({ ...ownRecord(), pid: deadPid() }), 0],
    [
      'a pod’s on another host, not refreshed for a minute',
      () => ({ ...ownRecord(), hostname: 'pod-gone' }),
      60_000,
    ],
  ];
  it.each(leftovers)(
    'four processes race for the lock (left over: %s), five times over: one gets it',
    async (_, record, ageMs) => {
      dir = await mkdtemp(join(tmpdir(), 'sw-race-'));
      const path = join(dir, 'daemon.lock');
      for (let round = 0; round < 5; round++) {
        await rm(path, { force: true });
        if (ageMs >= 0) {
          await writeFile(path, JSON.stringify(record()));
          const at = new Date(Date.now() - ageMs);
          await utimes(path, at, at);
        }
        const takers = Array.from({ length: 4 }, () => taker(path));
        await Promise.all(takers.map((t) => t.ready));
        for (const t of takers) t.child.stdin?.write('go\n');
        await expect
          .poll(() => takers.map((t) => t.said()).filter((s) => s !== '').length, { timeout: 10_000 })
          .toBe(4);
        const said = takers.map((t) => t.said());
        expect(said.filter((s) => s === 'got')).toHaveLength(1);
        expect(said.filter((s) => s === 'FileLockHeldError')).toHaveLength(3);
        const winner = takers.find((t) => t.said() === 'got')!.child;
        expect((JSON.parse(await readFile(path, 'utf8')) as LockRecord).pid).toBe(winner.pid);
        for (const t of takers) t.child.kill('SIGKILL');
        await Promise.all(takers.map((t) => exited(t.child)));
      }
    },
    60_000,
  );

  it('two `run`s started together, three times over: one runs, the other exits 7 naming it', async () => {
    h = await startHarness();
    await h.register();
    const env = {
      ...process.env,
      LOG_LEVEL: 'warn',
      STUDIO_WORKER_LOCAL_API_PORT: '0',
      STUDIO_WORKER_STREAM_PORT: '0',
    };
    for (let round = 0; round < 3; round++) {
      const runs = [0, 1].map(() => {
        const child = spawn(process.execPath, [CLI, '--config-dir', h!.configDir, 'run'], {
          env,
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        children.push(child);
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        return { child, stderr: () => stderr };
      });
      const loser = await Promise.race(runs.map((r) => exited(r.child).then((code) => ({ ...r, code }))));
      const winner = runs.find((r) => r.child !== loser.child)!;
      expect(loser.code).toBe(7);
      expect(loser.stderr()).toContain(`another studio-worker (pid ${winner.child.pid}`);
      await expect
        .poll(
          async () =>
            (JSON.parse(await readFile(join(h!.configDir, 'daemon.lock'), 'utf8')) as LockRecord).pid,
        )
        .toBe(winner.child.pid);
      expect(winner.child.exitCode).toBeNull();
      winner.child.kill('SIGTERM');
      expect(await exited(winner.child)).toBe(0);
    }
  }, 60_000);
});
