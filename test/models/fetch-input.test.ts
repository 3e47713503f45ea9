import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineError } from '../../src/engines/types.js';
import { inputFilename } from '../../src/models/index.js';
import { never, startRig } from './helpers.js';
import type { Rig } from './helpers.js';

let rig: Rig;
let dest: string;
beforeEach(async () => {
  rig = await startRig();
  dest = await mkdtemp(join(tmpdir(), 'sw-input-'));
});
afterEach(async () => {
  await rig.close();
  await rm(dest, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<EngineError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(EngineError);
  return e as EngineError;
}

describe('ModelCache.fetchInput', () => {
  it('saves a job input under its URL basename, outside the cache', async () => {
    const body = randomBytes(5000);
    rig.server.serve('/inputs/init%20image.png', body);
    const path = await rig
      .cache()
      .fetchInput(`${rig.server.url}/inputs/init%20image.png?sig=secret`, dest, never());
    expect(path).toBe(join(dest, 'init image.png'));
    expect((await readFile(path)).equals(body)).toBe(true);
    expect(await readdir(dest)).toEqual(['init image.png']);
  });

  it('derives a safe name from a hostile URL basename', () => {
    expect(inputFilename(new URL('http://h/a/..%2F..%2Fetc%2Fpasswd'))).toBe('input');
    expect(inputFilename(new URL('http://h/a/%2e%2e'))).toBe('input');
    expect(inputFilename(new URL('http://h/'))).toBe('input');
    expect(inputFilename(new URL('http://h/CON'))).toBe('input');
    expect(inputFilename(new URL('http://h/x/clip%00.wav'))).toBe('clip_.wav');
    expect(inputFilename(new URL('http://h/x/voice.wav'))).toBe('voice.wav');
  });

  it('fails a 4xx at once, naming the URL (without its query) and the status (not retryable)', async () => {
    const e = await rejection(rig.cache().fetchInput(`${rig.server.url}/gone.png?token=abc`, dest, never()));
    expect(e.retryable).toBe(false);
    expect(e.message).toBe(`GET ${rig.server.url}/gone.png?… answered HTTP 404`);
    expect(rig.server.requests).toHaveLength(1);
  });

  it('retries a 5xx and reports a retryable error once its attempts are spent', async () => {
    rig.server.serve('/busy.png', randomBytes(10));
    rig.server.failNext('/busy.png', 503, 503, 503);
    const e = await rejection(
      rig.cache({ maxAttempts: 3 }).fetchInput(`${rig.server.url}/busy.png`, dest, never()),
    );
    expect(e.retryable).toBe(true);
    expect(e.message).toMatch(/failed after 3 attempts: GET .*\/busy.png answered HTTP 503/);
    expect(rig.server.requests).toHaveLength(3);
  });

  it('refuses an input larger than maxBytes, keeping nothing', async () => {
    rig.server.serve('/big.wav', randomBytes(10_000));
    const e = await rejection(
      rig.cache().fetchInput(`${rig.server.url}/big.wav`, dest, never(), { maxBytes: 1000 }),
    );
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/larger than the 1000 bytes/);
    expect(await readdir(dest)).toEqual([]);
  });

  it('refuses URLs that are not http or https', async () => {
    const e = await rejection(rig.cache().fetchInput('file:///etc/passwd', dest, never()));
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/only http and https/);
  });
});
