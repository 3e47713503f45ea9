import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineError } from '../../src/engines/types.js';
import { WORKER_MIN_BYTES, hashInWorker, ownCopy } from '../../src/models/hash-writer.js';
import type { ModelFile } from '../../src/protocol/index.js';
import { never, startRig } from './helpers.js';
import type { Rig } from './helpers.js';

// Downloads big enough to be hashed and written by a worker thread, from a real local server.
const BIG = 12 * 1024 * 1024;

let rig: Rig;
beforeEach(async () => {
  rig = await startRig();
});
afterEach(async () => {
  await rig.close();
});

/** Serves fresh random bytes at `/<filename>`, described with their sha256 and size. */
function bigModel(
  filename: string,
  opts: { contentLength?: boolean } = {},
): { file: ModelFile; body: Buffer } {
  const body = randomBytes(BIG);
  const sha256 = rig.server.serve(`/${filename}`, body, opts);
  return {
    file: { role: 'model', url: `${rig.server.url}/${filename}`, filename, approxBytes: BIG, sha256 },
    body,
  };
}

/** This process's thread count (Linux), to see the worker thread come and go. */
function threads(): number | undefined {
  if (!existsSync('/proc/self/status')) return undefined;
  const m = /^Threads:\s+(\d+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** Resolves once the thread count is back to `count` at most (a stopped thread takes a moment to go). */
async function threadsBackTo(count: number | undefined): Promise<void> {
  if (count === undefined) return;
  for (let i = 0; i < 100 && (threads() ?? 0) > count; i++) await new Promise((r) => setTimeout(r, 10));
  expect(threads()).toBeLessThanOrEqual(count);
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

describe('hashing and writing a big download in a worker thread', () => {
  it('is used from 8 MiB, or when the size is unknown', () => {
    expect(hashInWorker(BIG)).toBe(true);
    expect(hashInWorker(WORKER_MIN_BYTES)).toBe(true);
    expect(hashInWorker(undefined)).toBe(true);
    expect(hashInWorker(WORKER_MIN_BYTES - 1)).toBe(false);
  });

  it('hands the thread a copy of a batch, never the chunks’ own memory', () => {
    const whole = Buffer.from(new Uint8Array(64 * 1024).fill(1).buffer);
    const shared = Buffer.from(new Uint8Array(64 * 1024).fill(2).buffer, 1024, 32 * 1024);
    const small = Buffer.from([3, 4, 5]);
    const copy = ownCopy([shared, small, whole]);
    expect(copy).not.toBe(whole.buffer);
    expect(Buffer.from(copy).equals(Buffer.concat([shared, small, whole]))).toBe(true);
    structuredClone(copy, { transfer: [copy] });
    // The chunks are untouched by the transfer of the copy.
    expect(whole.length).toBe(64 * 1024);
    expect(whole[0]).toBe(1);
  });

  it('downloads a big file with the right sha256 and leaves no thread behind', async () => {
    // A first (small, in-thread) download starts the thread pools the big one would otherwise start.
    await rig.cache().provision([rig.model('warm.gguf').file], never());
    const before = threads();
    let during: number | undefined;
    const { file, body } = bigModel('big.gguf');
    const cache = rig.cache({
      onProgress: (p) => {
        if (p.receivedBytes > 0 && !p.done) during ??= threads();
      },
    });
    const model = await cache.provision([file], never());
    expect((await readFile(model.path('model') ?? '')).equals(body)).toBe(true);
    expect(await readdir(join(rig.root, '.partial'))).toEqual([]);
    if (before !== undefined) expect(during).toBeGreaterThan(before);
    await threadsBackTo(before);
    model.release();
  });

  it('refuses a big file whose sha256 differs and removes the partial (not retryable)', async () => {
    const { file } = bigModel('tampered.gguf');
    const e = await rejection(rig.cache().provision([{ ...file, sha256: 'ab'.repeat(32) }], never()));
    expect(e).toBeInstanceOf(EngineError);
    expect((e as EngineError).retryable).toBe(false);
    expect((e as EngineError).message).toMatch(/wrong hash: sha256 of tampered.gguf is [0-9a-f]{64}/);
    expect(existsSync(join(rig.root, 'tampered.gguf'))).toBe(false);
    expect(await readdir(join(rig.root, '.partial'))).toEqual([]);
  });

  it('resumes a big file after a cut, hashing the partial in the thread, with the right sha256', async () => {
    const { file, body } = bigModel('resume.gguf');
    rig.server.cutNextAfter('/resume.gguf', BIG / 2);
    const first = await rejection(rig.cache({ maxAttempts: 1 }).provision([file], never()));
    expect((first as EngineError).retryable).toBe(true);
    const kept = (await stat(join(rig.root, '.partial', 'resume.gguf.part'))).size;
    expect(kept).toBeGreaterThan(0);

    const model = await rig.cache().provision([file], never());
    expect((await readFile(model.path('model') ?? '')).equals(body)).toBe(true);
    expect(rig.server.requests[1]).toMatchObject({ range: `bytes=${kept}-`, bytesSent: BIG - kept });
    model.release();
  });

  it('starts a big file over, forgetting the partial’s hash, when the server answers a resume with 200', async () => {
    const { file } = bigModel('changed.gguf');
    rig.server.cutNextAfter('/changed.gguf', BIG / 2);
    await rejection(rig.cache({ maxAttempts: 1 }).provision([file], never()));

    const replacement = bigModel('changed.gguf');
    const model = await rig.cache().provision([replacement.file], never());
    expect((await readFile(model.path('model') ?? '')).equals(replacement.body)).toBe(true);
    expect(rig.server.requests[1]?.range).toMatch(/^bytes=\d+-$/);
    expect(rig.server.requests[1]?.bytesSent).toBe(BIG);
    model.release();
  });

  it('downloads a big file of unknown size (no approxBytes, no Content-Length)', async () => {
    const { file, body } = bigModel('unknown.gguf', { contentLength: false });
    const { approxBytes: _approx, ...unsized } = file;
    const model = await rig.cache().provision([unsized], never());
    expect((await readFile(model.path('model') ?? '')).equals(body)).toBe(true);
    model.release();
  });

  it('stops a big body without Content-Length once it outgrows approxBytes, keeping nothing', async () => {
    const { file } = bigModel('runaway.gguf', { contentLength: false });
    const e = await rejection(
      rig.cache().provision([{ ...file, approxBytes: BIG - 2 * 1024 * 1024 }], never()),
    );
    expect((e as EngineError).retryable).toBe(false);
    expect((e as EngineError).message).toMatch(/wrong size: runaway.gguf is longer than/);
    expect(await readdir(join(rig.root, '.partial'))).toEqual([]);
  });

  it('keeps every byte received when a big download is cancelled, and the next job resumes it', async () => {
    const { file, body } = bigModel('cancel.gguf');
    const controller = new AbortController();
    const cache = rig.cache({
      onProgress: (p) => {
        if (p.receivedBytes > BIG / 3 && !p.done) controller.abort();
      },
    });
    await expect(cache.provision([file], controller.signal)).rejects.toThrow(/abort/i);

    // The same cache: the next job waits for the cancelled download to save its partial.
    const model = await cache.provision([file], never());
    expect((await readFile(model.path('model') ?? '')).equals(body)).toBe(true);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(rig.server.requests[1]?.range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(BIG / 3);
    expect(rig.server.requests[1]?.bytesSent).toBe(BIG - resumedAt);
    model.release();
  });

  it.skipIf(!existsSync('/dev/full'))(
    'reports a write error in the thread naming the file and the system error, and keeps the meta',
    async () => {
      const { file } = bigModel('full.gguf');
      const part = join(rig.root, '.partial', 'full.gguf.part');
      await mkdir(join(rig.root, '.partial'), { recursive: true });
      // Every write to /dev/full fails with ENOSPC.
      await symlink('/dev/full', part);
      const before = threads();
      const e = await rejection(rig.cache({ maxAttempts: 1 }).provision([file], never()));
      expect(e).toBeInstanceOf(EngineError);
      expect((e as EngineError).retryable).toBe(false);
      expect((e as EngineError).message).toMatch(/disk is full/);
      const cause = (e as EngineError).cause as NodeJS.ErrnoException;
      expect(cause.code).toBe('ENOSPC');
      expect(cause.syscall).toBe('write');
      expect(cause.message).toContain('ENOSPC');
      expect(cause.message).toContain(part);
      // The failure path still ran: the partial's meta records what the "file" holds.
      const meta = JSON.parse(await readFile(`${part}.json`, 'utf8')) as { bytes: number };
      expect(meta.bytes).toBe(0);
      await threadsBackTo(before);
    },
  );
});

describe('hashing a small download on the main thread', () => {
  it('still checks the sha256 of a resumed file', async () => {
    const { file, body } = rig.model('small.gguf');
    rig.server.cutNextAfter('/small.gguf', 100 * 1024);
    await rejection(rig.cache({ maxAttempts: 1 }).provision([file], never()));
    const model = await rig.cache().provision([file], never());
    const got = await readFile(model.path('model') ?? '');
    expect(createHash('sha256').update(got).digest('hex')).toBe(file.sha256);
    expect(got.equals(body)).toBe(true);
    model.release();
  });
});
