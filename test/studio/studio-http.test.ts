import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import multipart from '@fastify/multipart';
import fastify from 'fastify';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Capabilities } from '../../src/protocol/index.js';
import { StudioHttp, StudioHttpError } from '../../src/studio/index.js';
import { json, refusedUrl, startServer } from './servers.js';
import type { TestServer } from './servers.js';

const log = pino({ level: 'silent' });
const capabilities: Capabilities = {
  machineName: 'box',
  username: 'op',
  agentVersion: '0.1.0',
  engine: 'multi',
  vramTotalGb: 0,
  vramThresholdGb: 12,
  autoEnabled: true,
  autoStart: true,
  supportedModels: ['synthetic-image'],
  taskKinds: ['image'],
  supportedModelsPerKind: { image: ['synthetic-image'] },
};
const registerBody = {
  installId: '6f1c1f0e-2a4b-4c1d-9e3f-0a1b2c3d4e5f',
  registrationSecretHash: 'a'.repeat(64),
  capabilities,
  userAgent: 'studio-worker/0.1.0',
};

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function client(apiBaseUrl: string): StudioHttp {
  const http = new StudioHttp({ apiBaseUrl, userAgent: 'studio-worker/0.1.0', log, timeoutMs: 5000 });
  cleanups.push(() => http.close());
  return http;
}

async function server(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const s = await startServer(...args);
  cleanups.push(() => s.close());
  return s;
}

describe('StudioHttp registration routes', () => {
  it('posts the register request as JSON under /graphics/api and returns the request id', async () => {
    const s = await server((_req, res) => json(res, 200, { requestId: 'rr-1', status: 'pending' }));
    const answer = await client(s.url).postRegisterRequest(registerBody);
    expect(answer).toEqual({ requestId: 'rr-1', status: 'pending' });
    const [req] = s.seen;
    expect(req?.method).toBe('POST');
    expect(req?.url).toBe('/graphics/api/workers/register-request');
    expect(req?.headers['user-agent']).toBe('studio-worker/0.1.0');
    expect(req?.headers['content-type']).toBe('application/json');
    expect(req?.headers.authorization).toBeUndefined();
    expect(JSON.parse(req?.body ?? '')).toEqual(registerBody);
  });

  it('polls the request status with the secret as Bearer and reads every answer of the union', async () => {
    const answers: [number, unknown][] = [
      [200, { status: 'pending' }],
      [200, { status: 'approved', workerId: 'w-1', authToken: 'tok' }],
      [200, { status: 'rejected', reason: 'unknown machine' }],
      [404, { error: 'not found' }],
    ];
    const s = await server((_req, res) => {
      const [status, body] = answers[s.seen.length - 1] ?? [500, 'no more'];
      json(res, status, body);
    });
    const http = client(s.url);
    expect(await http.getRegisterStatus('rr/1', 'sekret')).toEqual({ status: 'pending' });
    expect(await http.getRegisterStatus('rr/1', 'sekret')).toEqual({
      status: 'approved',
      workerId: 'w-1',
      authToken: 'tok',
    });
    expect(await http.getRegisterStatus('rr/1', 'sekret')).toEqual({
      status: 'rejected',
      reason: 'unknown machine',
    });
    expect(await http.getRegisterStatus('rr/1', 'sekret')).toEqual({ status: 'gone' });
    for (const req of s.seen) {
      expect(req.method).toBe('GET');
      expect(req.url).toBe('/graphics/api/workers/register-requests/rr%2F1');
      expect(req.headers.authorization).toBe('Bearer sekret');
      expect(req.headers['user-agent']).toBe('studio-worker/0.1.0');
    }
  });

  it('refuses a malformed answer without retrying, naming the field that was wrong', async () => {
    const s = await server((_req, res) => json(res, 200, { requestId: 7, status: 'pending' }));
    const err = await client(s.url)
      .postRegisterRequest(registerBody)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StudioHttpError);
    expect((err as StudioHttpError).retryable).toBe(false);
    expect((err as StudioHttpError).message).toMatch(
      /^post register request: HTTP 200: malformed answer \(requestId: /,
    );
  });

  it('treats an answer that is not JSON as malformed', async () => {
    const s = await server((_req, res) => res.writeHead(200).end('<html>proxy</html>'));
    const err = (await client(s.url)
      .getRegisterStatus('rr-1', 'x')
      .catch((e: unknown) => e)) as StudioHttpError;
    expect(err.retryable).toBe(false);
    expect(err.message).toBe('poll register request rr-1: HTTP 200: answer is not JSON: <html>proxy</html>');
  });
});

describe('StudioHttp errors', () => {
  async function uploadAgainst(url: string): Promise<unknown> {
    const dir = await mkdtemp(join(tmpdir(), 'studio-http-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const filePath = join(dir, 'r.png');
    await writeFile(filePath, 'png bytes');
    const upload = { workerId: 'w-1', jobId: 'j1', authToken: 't', filePath, ext: 'png' };
    return client(url)
      .uploadResult(upload)
      .catch((e: unknown) => e);
  }

  it('turns a 500 into a retryable error naming the operation, status and body', async () => {
    const s = await server((_req, res) => res.writeHead(500).end('boom'));
    const err = (await uploadAgainst(s.url)) as StudioHttpError;
    expect(err).toBeInstanceOf(StudioHttpError);
    expect(err.message).toBe('upload result of job j1: HTTP 500: boom');
    expect(err).toMatchObject({
      operation: 'upload result of job j1',
      status: 500,
      body: 'boom',
      retryable: true,
    });
  });

  it('treats 429 as retryable and 400 as final', async () => {
    const statuses = [429, 400];
    const s = await server((_req, res) => res.writeHead(statuses[s.seen.length - 1] ?? 500).end('no'));
    expect(await uploadAgainst(s.url)).toMatchObject({ status: 429, retryable: true });
    expect(await uploadAgainst(s.url)).toMatchObject({ status: 400, retryable: false });
  });

  it('cuts a long error body to about 500 characters', async () => {
    const s = await server((_req, res) => res.writeHead(502).end('x'.repeat(5000)));
    const err = (await uploadAgainst(s.url)) as StudioHttpError;
    expect(err.body?.length).toBeLessThan(600);
    expect(err.message).toContain('(5000 chars)');
  });

  it('turns a refused connection into a retryable error without a status', async () => {
    const err = (await uploadAgainst(await refusedUrl())) as StudioHttpError;
    expect(err).toBeInstanceOf(StudioHttpError);
    expect(err.retryable).toBe(true);
    expect(err.status).toBeUndefined();
    expect(err.message).toMatch(/^upload result of job j1: .*ECONNREFUSED/);
  });

  it('turns a studio that never answers into a retryable timeout naming the operation', async () => {
    const s = await server(() => {
      /* never answers */
    });
    const http = new StudioHttp({ apiBaseUrl: s.url, userAgent: 'studio-worker/0.1.0', log, timeoutMs: 200 });
    cleanups.push(() => http.close());
    const err = (await http.getRegisterStatus('rr-1', 'x').catch((e: unknown) => e)) as StudioHttpError;
    expect(err).toBeInstanceOf(StudioHttpError);
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/^poll register request rr-1: no answer from 127\.0\.0\.1:\d+ for 200 ms$/);
  });

  it('lets a request in flight finish when closed, and refuses new ones after', async () => {
    const s = await server((_req, res) => setTimeout(() => json(res, 200, { status: 'pending' }), 100));
    const http = new StudioHttp({
      apiBaseUrl: s.url,
      userAgent: 'studio-worker/0.1.0',
      log,
      timeoutMs: 5000,
    });
    const pending = http.getRegisterStatus('rr-1', 'x');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const closed = http.close();
    expect(await pending).toEqual({ status: 'pending' });
    await closed;
    await expect(http.getRegisterStatus('rr-1', 'x')).rejects.toThrow(/the studio client is closed/);
  });

  it('rejects with the AbortError itself when the caller aborts', async () => {
    const s = await server(() => {
      /* never answers */
    });
    const ac = new AbortController();
    const pending = client(s.url).getRegisterStatus('rr-1', 'x', ac.signal);
    setTimeout(() => ac.abort(), 20);
    const err = await pending.catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(StudioHttpError);
    expect((err as Error).name).toBe('AbortError');
  });
});

describe('StudioHttp.uploadResult', () => {
  it('sends prompt, ext and the file as part "image" named <jobId>.<ext> with its bytes intact', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'studio-upload-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const filePath = join(dir, 'result.bin');
    await writeFile(filePath, bytes);

    const got: {
      params?: unknown;
      auth?: string | undefined;
      agent?: string | undefined;
      fields: Record<string, unknown>;
      files: { fieldname: string; filename: string; mimetype: string; data: Buffer }[];
    } = { fields: {}, files: [] };
    const app = fastify();
    await app.register(multipart, { limits: { fileSize: 64 * 1024 * 1024 } });
    app.post('/graphics/api/workers/:workerId/jobs/:jobId/complete', async (req, reply) => {
      got.params = req.params;
      got.auth = req.headers.authorization;
      got.agent = req.headers['user-agent'];
      for await (const part of req.parts()) {
        if (part.type === 'file') {
          got.files.push({ ...part, data: await part.toBuffer() });
        } else {
          got.fields[part.fieldname] = part.value;
        }
      }
      return reply.code(204).send();
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => app.close());
    const address = app.server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');

    const result = await client(`http://127.0.0.1:${address.port}/`).uploadResult({
      workerId: 'w-1',
      jobId: 'job-42',
      authToken: 'tok-9',
      filePath,
      ext: 'webp',
      prompt: 'a red fox',
    });

    expect(result).toEqual({ status: 204 });
    expect(got.params).toEqual({ workerId: 'w-1', jobId: 'job-42' });
    expect(got.auth).toBe('Bearer tok-9');
    expect(got.agent).toBe('studio-worker/0.1.0');
    expect(got.fields).toEqual({ prompt: 'a red fox', ext: 'webp' });
    expect(got.files).toHaveLength(1);
    const [file] = got.files;
    expect(file?.fieldname).toBe('image');
    expect(file?.filename).toBe('job-42.webp');
    expect(file?.mimetype).toBe('image/webp');
    expect(file?.data.equals(bytes)).toBe(true);
  });

  it('sends an empty prompt field when the job has no prompt', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'studio-upload-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const filePath = join(dir, 'x');
    await writeFile(filePath, 'RIFF');
    const s = await server((_req, res) => res.writeHead(200).end());
    await client(s.url).uploadResult({ workerId: 'w', jobId: 'j', authToken: 't', filePath, ext: 'xyz' });
    const body = s.seen[0]?.body ?? '';
    expect(body).toMatch(/name="prompt"\r\n\r\n\r\n/);
    expect(body).toMatch(
      /name="image"; filename="j\.xyz"\r\nContent-Type: application\/octet-stream\r\n\r\nRIFF\r\n/,
    );
  });
});
