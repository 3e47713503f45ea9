import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineError } from '../../src/engines/types.js';
import { SIZE, never, startRig } from './helpers.js';
import type { Rig } from './helpers.js';

let rig: Rig;
beforeEach(async () => {
  rig = await startRig();
});
afterEach(async () => {
  await rig.close();
});

const HALF = SIZE / 2;

describe('resuming an interrupted download', () => {
  it('keeps the partial after a cut at 50 % and, after a restart, fetches only the rest with Range + If-Range', async () => {
    const { file, body } = rig.model('resume.gguf');
    rig.server.cutNextAfter('/resume.gguf', HALF);

    const first = await rig
      .cache({ maxAttempts: 1 })
      .provision([file], never())
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(first).toBeInstanceOf(EngineError);
    expect((first as EngineError).retryable).toBe(true);
    const part = join(rig.root, '.partial', 'resume.gguf.part');
    const kept = (await stat(part)).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(HALF);
    const meta = JSON.parse(await readFile(`${part}.json`, 'utf8')) as {
      url: string;
      etag: string;
      bytes: number;
    };
    expect(meta).toMatchObject({ url: file.url, bytes: kept });

    // A fresh cache on the same folder, as after a worker restart.
    const model = await rig.cache().provision([file], never());
    expect((await readFile(model.path('model') ?? '')).equals(body)).toBe(true);
    expect(rig.server.requests).toHaveLength(2);
    // Only the rest crossed the wire: the second answer carried exactly the bytes the partial lacked.
    expect(rig.server.requests[1]).toMatchObject({
      range: `bytes=${kept}-`,
      ifRange: meta.etag,
      bytesSent: SIZE - kept,
    });
  });

  it('resumes within one provision call when its retry follows the cut', async () => {
    const { file, body } = rig.model('retry.gguf');
    rig.server.cutNextAfter('/retry.gguf', HALF);
    const model = await rig.cache().provision([file], never());
    expect((await readFile(model.path('model') ?? '')).equals(body)).toBe(true);
    const [first, second] = rig.server.requests;
    expect(first).toMatchObject({ range: undefined, bytesSent: HALF });
    expect(second?.range).toMatch(/^bytes=\d+-$/);
    const resumedAt = Number(/\d+/.exec(second?.range ?? '')?.[0]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(second?.bytesSent).toBe(SIZE - resumedAt);
  });

  it('starts over when the file changed on the server (If-Range no longer matches)', async () => {
    const { file } = rig.model('changed.gguf', { withSha: false });
    rig.server.cutNextAfter('/changed.gguf', HALF);
    await rig
      .cache({ maxAttempts: 1 })
      .provision([file], never())
      .catch(() => undefined);

    const replacement = rig.model('changed.gguf', { withSha: false });
    const model = await rig.cache().provision([file], never());
    expect((await readFile(model.path('model') ?? '')).equals(replacement.body)).toBe(true);
    expect(rig.server.requests[1]?.range).toMatch(/^bytes=\d+-$/);
    expect(rig.server.requests[1]?.bytesSent).toBe(SIZE);
    expect(rig.logText()).toContain('changed.gguf changed on the server or cannot be resumed');
  });

  it('keeps the partial when the job is cancelled mid-body, and the next job resumes it', async () => {
    const { file, body } = rig.model('cancel.gguf');
    const controller = new AbortController();
    const cache = rig.cache({
      onProgress: (p) => {
        if (p.receivedBytes > 0 && !p.done) controller.abort();
      },
    });
    await expect(cache.provision([file], controller.signal)).rejects.toThrow(/abort/i);

    // The same cache: the next job waits for the cancelled download to save its partial, then resumes it.
    const model = await cache.provision([file], never());
    expect((await readFile(model.path('model') ?? '')).equals(body)).toBe(true);
    const second = rig.server.requests[1];
    const resumedAt = Number(/\d+/.exec(second?.range ?? '')?.[0]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThan(SIZE);
    expect(second?.bytesSent).toBe(SIZE - resumedAt);
  });

  it('resumes a signed link whose query changed between jobs, and never writes the query to disk', async () => {
    const { file, body } = rig.model('signed.gguf');
    rig.server.cutNextAfter('/signed.gguf', HALF);
    await rig
      .cache({ maxAttempts: 1 })
      .provision([{ ...file, url: `${file.url}?sig=first-secret` }], never())
      .catch(() => undefined);
    const meta = await readFile(join(rig.root, '.partial', 'signed.gguf.part.json'), 'utf8');
    expect(meta).not.toContain('first-secret');

    const model = await rig.cache().provision([{ ...file, url: `${file.url}?sig=second-secret` }], never());
    expect((await readFile(model.path('model') ?? '')).equals(body)).toBe(true);
    expect(rig.server.requests[1]?.range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(await readFile(join(rig.root, '.studio-worker-index.json'), 'utf8')).not.toContain('secret');
  });

  it('never resumes a partial left by another URL', async () => {
    const { file, body } = rig.model('moved.gguf');
    rig.server.cutNextAfter('/moved.gguf', HALF);
    await rig
      .cache({ maxAttempts: 1 })
      .provision([file], never())
      .catch(() => undefined);
    rig.server.serve('/elsewhere/moved.gguf', body);
    const model = await rig
      .cache()
      .provision([{ ...file, url: `${rig.server.url}/elsewhere/moved.gguf` }], never());
    expect((await readFile(model.path('model') ?? '')).equals(body)).toBe(true);
    expect(rig.server.requests[1]?.range).toBeUndefined();
  });
});
