import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ownRecord } from '../../src/util/lock-record.js';
import { never, startRig } from './helpers.js';
import type { Rig } from './helpers.js';

const UTIL = join(import.meta.dirname, '../../dist/util/index.js');
let rig: Rig;
const children: ChildProcess[] = [];
beforeEach(async () => {
  rig = await startRig();
  await mkdir(join(rig.root, '.partial'), { recursive: true });
});
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await rig.close();
});

/**
 * Another worker process on this cache holding the download lock of `key`; with `writeForMs` it
 * appends to the partial file every 200 ms for that long and then lets go, else it writes nothing.
 */
async function otherWorker(key: string, writeForMs?: number): Promise<ChildProcess> {
  const lock = join(rig.root, '.partial', `${key}.lock`);
  const part = join(rig.root, '.partial', `${key}.part`);
  const script = `
    const { appendFileSync } = await import('node:fs');
    const { acquireFileLock } = await import(${JSON.stringify(UTIL)});
    const held = await acquireFileLock(${JSON.stringify(lock)});
    process.stdout.write('held\\n');
    const t = setInterval(() => appendFileSync(${JSON.stringify(part)}, 'x'), 200);
    ${writeForMs === undefined ? 'clearInterval(t);' : `setTimeout(() => { clearInterval(t); void held.release().then(() => process.exit(0)); }, ${writeForMs});`}
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  return child;
}

describe('the download lock of a shared model cache', () => {
  it('is taken over from a worker in a replaced container (pid 1, another hostname) once not refreshed', async () => {
    const { file, body } = rig.model('orphan.gguf');
    const lock = join(rig.root, '.partial', 'orphan.gguf.lock');
    await writeFile(lock, JSON.stringify({ ...ownRecord(), pid: 1, hostname: 'pod-gone' }));
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    const started = Date.now();
    const model = await rig.cache().provision([file], never());
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await readFile(model.path('model') ?? '')).equals(body)).toBe(true);
  });

  it('stops waiting, naming the holder, when another worker’s download writes nothing for the quiet limit', async () => {
    const { file } = rig.model('stuck.gguf');
    const other = await otherWorker('stuck.gguf');
    const started = Date.now();
    const failed = await rig
      .cache({ downloadWaitQuietMs: 800 })
      .provision([file], never())
      .catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
    expect(String(failed)).toMatch(
      new RegExp(
        `gave up waiting for pid ${other.pid} on .+ to download stuck\\.gguf: it still holds .*stuck\\.gguf\\.lock but wrote nothing to .*stuck\\.gguf\\.part for 1 s`,
      ),
    );
    expect(rig.server.requests).toHaveLength(0);
    expect(rig.logText()).toContain(`another worker (pid ${other.pid} on`);
  });

  it('keeps waiting past the quiet limit while the other worker’s download grows, and goes on once it lets go', async () => {
    const { file, body } = rig.model('slow.gguf');
    await otherWorker('slow.gguf', 2000);
    const started = Date.now();
    const model = await rig.cache({ downloadWaitQuietMs: 600 }).provision([file], never());
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect((await readFile(model.path('model') ?? '')).equals(body)).toBe(true);
  });
});
