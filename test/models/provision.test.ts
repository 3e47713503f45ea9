import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineError } from '../../src/engines/types.js';
import { INDEX_FILENAME } from '../../src/models/index.js';
import { SIZE, never, startRig } from './helpers.js';
import type { Rig } from './helpers.js';

let rig: Rig;
beforeEach(async () => {
  rig = await startRig();
});
afterEach(async () => {
  await rig.close();
});

async function engineError(p: Promise<unknown>): Promise<EngineError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(EngineError);
  return e as EngineError;
}

describe('ModelCache.provision', () => {
  it('downloads a file, verifies it, indexes it and reports progress to the listener and the log', async () => {
    const { file, body, sha256 } = rig.model('tiny.gguf');
    const cache = rig.cache();
    const model = await cache.provision([file], never());

    expect(model.path('model')).toBe(join(rig.root, 'tiny.gguf'));
    expect(model.byRole('model')).toEqual([join(rig.root, 'tiny.gguf')]);
    expect(model.path('vae')).toBeUndefined();
    expect((await readFile(join(rig.root, 'tiny.gguf'))).equals(body)).toBe(true);
    const index = JSON.parse(await readFile(join(rig.root, INDEX_FILENAME), 'utf8')) as {
      files: Record<string, { bytes: number; sha256: string }>;
    };
    expect(index.files['tiny.gguf']).toMatchObject({ bytes: SIZE, sha256 });
    expect(await readdir(join(rig.root, '.partial'))).toEqual([]);

    const last = rig.progress.at(-1);
    expect(last).toMatchObject({ filename: 'tiny.gguf', receivedBytes: SIZE, totalBytes: SIZE, done: true });
    expect(rig.progress.some((p) => !p.done)).toBe(true);
    expect(rig.logText()).toContain('downloading tiny.gguf: 100 %');
    model.release();
  });

  it('draws a progress bar when a person watches a terminal, and nothing on a pipe', async () => {
    const drawn: string[] = [];
    const tty = Object.assign(new PassThrough(), { isTTY: true, columns: 100 });
    tty.on('data', (chunk: Buffer) => drawn.push(chunk.toString()));
    const { file } = rig.model('bar.gguf');
    await rig.cache({ terminal: tty as unknown as NodeJS.WriteStream }).provision([file], never());
    expect(drawn.join('')).toContain('\r\x1b[K');
    expect(drawn.join('').endsWith(`bar.gguf [${'#'.repeat(24)}] 100% 262.1 kB/262.1 kB done\n`)).toBe(true);

    const piped: string[] = [];
    const pipe = new PassThrough();
    pipe.on('data', (chunk: Buffer) => piped.push(chunk.toString()));
    const other = rig.model('piped.gguf');
    await rig.cache({ terminal: pipe as unknown as NodeJS.WriteStream }).provision([other.file], never());
    expect(piped).toEqual([]);
  });

  it('fails at once, without retrying, when the server redirects to a file: URL', async () => {
    const { file } = rig.model('evil.gguf');
    rig.server.redirect('/resolve/evil.gguf', 'file:///etc/passwd');
    const e = await engineError(
      rig.cache().provision([{ ...file, url: `${rig.server.url}/resolve/evil.gguf` }], never()),
    );
    expect(e.message).toContain('redirected to a URL that is not http or https');
    expect(e.retryable).toBe(false);
    // One request: no retry can change where the server points.
    expect(rig.server.requests).toHaveLength(1);
  });

  it('refuses plain http to another host at once, and a redirect that leads there, unless allowed', async () => {
    const { file } = rig.model('plain.gguf');
    const direct = await engineError(
      rig.cache().provision([{ ...file, url: 'http://models.example.invalid/plain.gguf' }], never()),
    );
    expect(direct.message).toContain('refusing plain http to models.example.invalid');
    expect(direct.message).toContain('allow_insecure_downloads');
    rig.server.redirect('/resolve/plain.gguf', 'http://cdn.example.invalid/plain.gguf');
    const hop = await engineError(
      rig.cache().provision([{ ...file, url: `${rig.server.url}/resolve/plain.gguf` }], never()),
    );
    expect(hop.message).toContain('refusing plain http to cdn.example.invalid');
    expect(rig.server.requests).toHaveLength(1);
    // Allowed by the operator: the URL is fetched (and here fails as a network error instead).
    const allowed = await rig
      .cache({ allowInsecure: true, maxAttempts: 1 })
      .provision([{ ...file, url: 'http://models.example.invalid/plain.gguf' }], never())
      .catch((e: unknown) => e as Error);
    expect((allowed as Error).message).not.toContain('refusing plain http');
  });

  it('follows a redirect to where the file really is', async () => {
    const { file, body } = rig.model('cdn.gguf');
    rig.server.redirect('/resolve/cdn.gguf', '/cdn.gguf');
    const model = await rig
      .cache()
      .provision([{ ...file, url: `${rig.server.url}/resolve/cdn.gguf` }], never());
    expect((await readFile(model.path('model') ?? '')).equals(body)).toBe(true);
    expect(rig.server.requests.map((r) => r.path)).toEqual(['/resolve/cdn.gguf', '/cdn.gguf']);
  });

  it('serves a cached file again without any request', async () => {
    const { file } = rig.model('tiny.gguf');
    const cache = rig.cache();
    (await cache.provision([file], never())).release();
    (await cache.provision([file], never())).release();
    expect(rig.server.requests).toHaveLength(1);
  });

  it('returns every role in the order the modelSource lists the files', async () => {
    const a = rig.model('a.safetensors', { role: 'lora' });
    const b = rig.model('b.safetensors', { role: 'lora' });
    const vae = rig.model('vae.safetensors', { role: 'vae' });
    const model = await rig.cache().provision([b.file, vae.file, a.file], never());
    expect(model.byRole('lora')).toEqual([join(rig.root, 'b.safetensors'), join(rig.root, 'a.safetensors')]);
    expect(model.path('vae')).toBe(join(rig.root, 'vae.safetensors'));
  });

  it('refuses a file whose size is far from approxBytes, keeping nothing (not retryable)', async () => {
    const { file } = rig.model('big.gguf', { approxBytes: SIZE * 2 });
    const e = await engineError(rig.cache().provision([file], never()));
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/wrong size/);
    expect(existsSync(join(rig.root, 'big.gguf'))).toBe(false);
    expect(await readdir(join(rig.root, '.partial'))).toEqual([]);
    expect(rig.server.requests).toHaveLength(1);
  });

  it('stops a body without Content-Length once it outgrows approxBytes', async () => {
    const { file } = rig.model('chunked.gguf', { approxBytes: SIZE / 2, contentLength: false });
    const e = await engineError(rig.cache().provision([file], never()));
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/wrong size: chunked.gguf is longer than/);
    expect(existsSync(join(rig.root, 'chunked.gguf'))).toBe(false);
    expect(await readdir(join(rig.root, '.partial'))).toEqual([]);
  });

  it('refuses a file whose sha256 differs, deleting the download (not retryable)', async () => {
    const { file } = rig.model('tampered.gguf');
    const e = await engineError(rig.cache().provision([{ ...file, sha256: 'ab'.repeat(32) }], never()));
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/wrong hash: sha256 of tampered.gguf is [0-9a-f]{64}, expected (ab){32}/);
    expect(existsSync(join(rig.root, 'tampered.gguf'))).toBe(false);
    expect(await readdir(join(rig.root, '.partial'))).toEqual([]);
    expect(rig.server.requests).toHaveLength(1);
    expect(rig.progress.at(-1)).toMatchObject({ done: true, error: e.message });
  });

  it.each([
    ['a parent path', '../escape.gguf'],
    ['an absolute path', '/etc/passwd'],
    ['a Windows separator', 'dir\\model.gguf'],
    ['a drive letter', 'C:model.gguf'],
    ['a NUL byte', 'model\0.gguf'],
    ['a reserved Windows name', 'CON.gguf'],
    ['another reserved Windows name', 'lpt1'],
    ['the cache index name', INDEX_FILENAME],
    ['a trailing dot', 'model.'],
    ['a bare ..', '..'],
    ['an empty name', ''],
  ])('refuses %s as a file name before any I/O (not retryable)', async (_what, filename) => {
    const { file } = rig.model('fine.gguf');
    const e = await engineError(rig.cache().provision([file, { ...file, filename }], never()));
    expect(e.retryable).toBe(false);
    expect(e.message).toContain(`refusing model file name ${JSON.stringify(filename)}`);
    expect(rig.server.requests).toHaveLength(0);
    expect(existsSync(rig.root)).toBe(false);
  });

  it('refuses a non-web URL before any I/O', async () => {
    const { file } = rig.model('fine.gguf');
    const e = await engineError(rig.cache().provision([{ ...file, url: 'file:///etc/passwd' }], never()));
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/only http and https/);
    expect(existsSync(rig.root)).toBe(false);
  });

  it('fails a 404 at once, naming the URL and the status (not retryable)', async () => {
    const { file } = rig.model('there.gguf');
    const e = await engineError(
      rig.cache().provision([{ ...file, url: `${rig.server.url}/missing.gguf` }], never()),
    );
    expect(e.retryable).toBe(false);
    expect(e.message).toBe(`GET ${rig.server.url}/missing.gguf answered HTTP 404`);
    expect(rig.server.requests).toHaveLength(1);
  });

  it('retries a 503 with backoff and then succeeds', async () => {
    const { file } = rig.model('flaky.gguf');
    rig.server.failNext('/flaky.gguf', 503, 502);
    const model = await rig.cache().provision([file], never());
    expect(existsSync(model.path('model') ?? '')).toBe(true);
    expect(rig.server.requests).toHaveLength(3);
    expect(rig.logText()).toMatch(/download of flaky.gguf failed \(GET .* answered HTTP 503\); retrying/);
  });

  it('gives up after maxAttempts network errors with a retryable error', async () => {
    const { file } = rig.model('down.gguf');
    rig.server.failNext('/down.gguf', 500, 500, 500);
    const e = await engineError(rig.cache({ maxAttempts: 3 }).provision([file], never()));
    expect(e.retryable).toBe(true);
    expect(e.message).toMatch(/download of down.gguf failed after 3 attempts: .*HTTP 500/);
    expect(rig.server.requests).toHaveLength(3);
  });

  it('refuses when the disk is too small, naming the folder, the need and what is free (free space from an injected probe)', async () => {
    const { file } = rig.model('huge.gguf', { approxBytes: 5_000_000_000 });
    const seen: string[] = [];
    const cache = rig.cache({
      freeBytes: (dir) => {
        seen.push(dir);
        return Promise.resolve(1_250_000_000);
      },
    });
    const e = await engineError(cache.provision([file], never()));
    expect(e.retryable).toBe(false);
    expect(e.message).toBe(`not enough free disk space in ${rig.root}: need 5.00 GB, 1.25 GB free`);
    expect(seen).toEqual([rig.root]);
    expect(rig.server.requests).toHaveLength(0);
  });

  it('checks free space against Content-Length when approxBytes is absent (free space from an injected probe)', async () => {
    const { file } = rig.model('unsized.gguf');
    delete file.approxBytes;
    const cache = rig.cache({ freeBytes: () => Promise.resolve(1000) });
    const e = await engineError(cache.provision([file], never()));
    expect(e.message).toMatch(/^not enough free disk space in .*: need 0.000262 GB, 0.00000100 GB free$/);
    expect(existsSync(join(rig.root, 'unsized.gguf'))).toBe(false);
  });
});
