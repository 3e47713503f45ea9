import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpAgents, HttpTimeoutError, httpRequest, isAbortError } from '../../src/util/index.js';

const servers: Server[] = [];
const pools: HttpAgents[] = [];

afterEach(async () => {
  for (const p of pools.splice(0)) p.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

/** A loopback server; `connections` counts the TCP connections it accepted. */
async function serve(handler: Parameters<typeof createServer>[1]) {
  const server = createServer(handler);
  servers.push(server);
  const state = { connections: 0 };
  server.on('connection', () => state.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: (p = '/') => new URL(p, `http://127.0.0.1:${port}`), state };
}

/** Echoes method, headers and body back as JSON. */
const echo: Parameters<typeof createServer>[1] = (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({ method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString() }),
    );
  });
};

async function text(body: AsyncIterable<unknown>): Promise<string> {
  let out = '';
  for await (const c of body) out += String(c);
  return out;
}

describe('httpRequest (node:http against loopback servers)', () => {
  it('sends a string or byte body with its content-length and reads status, headers and body', async () => {
    const s = await serve(echo);
    for (const body of ['héllo', Buffer.from('bytes')]) {
      const res = await httpRequest(s.url('/x'), {
        method: 'POST',
        body,
        headers: { 'x-a': '1' },
        timeoutMs: 5000,
      });
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/json');
      const seen = JSON.parse(await text(res.body)) as {
        method: string;
        headers: Record<string, string>;
        body: string;
      };
      expect(seen.method).toBe('POST');
      expect(seen.headers['x-a']).toBe('1');
      expect(seen.headers['content-length']).toBe(String(Buffer.byteLength(String(body))));
      expect(seen.body).toBe(String(body));
    }
  });

  it('streams a Readable body with the length it is given', async () => {
    const s = await serve(echo);
    const res = await httpRequest(s.url(), {
      method: 'POST',
      body: Readable.from([Buffer.from('ab'), Buffer.from('cd')]),
      headers: { 'content-length': '4' },
      timeoutMs: 5000,
    });
    const seen = JSON.parse(await text(res.body)) as { headers: Record<string, string>; body: string };
    expect(seen.body).toBe('abcd');
    expect(seen.headers['content-length']).toBe('4');
    expect(seen.headers['transfer-encoding']).toBeUndefined();
  });

  it('answers a non-2xx status as an answer, not an error', async () => {
    const s = await serve((_req, res) => {
      res.statusCode = 503;
      res.end('busy');
    });
    const res = await httpRequest(s.url(), { timeoutMs: 5000 });
    expect(res.status).toBe(503);
    expect(await text(res.body)).toBe('busy');
  });

  it('reuses one kept-alive connection for requests in turn through the same agents', async () => {
    const s = await serve(echo);
    const agents = new HttpAgents({ idleMs: 5000 });
    pools.push(agents);
    for (let i = 0; i < 3; i++) {
      const res = await httpRequest(s.url(), { method: 'POST', body: 'x', timeoutMs: 5000, agents });
      await text(res.body);
    }
    expect(s.state.connections).toBe(1);
  });

  it('fails with ETIMEDOUT when no answer comes within the timeout', async () => {
    const s = await serve(() => undefined);
    const err = await httpRequest(s.url(), { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpTimeoutError);
    expect((err as HttpTimeoutError).code).toBe('ETIMEDOUT');
    expect((err as Error).message).toMatch(/^no answer from 127\.0\.0\.1:\d+ for 200 ms$/);
  });

  it('fails the body when it stalls between two chunks for longer than the timeout', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '10' });
      res.write('12345');
    });
    const res = await httpRequest(s.url(), { timeoutMs: 200 });
    expect(res.status).toBe(200);
    await expect(text(res.body)).rejects.toThrow();
  });

  it('rejects with an AbortError when the signal aborts while waiting for the answer', async () => {
    const s = await serve(() => undefined);
    const ac = new AbortController();
    const pending = httpRequest(s.url(), { timeoutMs: 5000, signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    const err = await pending.catch((e: unknown) => e);
    expect(isAbortError(err)).toBe(true);
  });

  it('rejects with ECONNREFUSED when nothing listens', async () => {
    const s = await serve(echo);
    const url = s.url();
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
    const err = await httpRequest(url, { timeoutMs: 5000 }).catch((e: unknown) => e);
    expect((err as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('rejects with the body stream’s own error when reading it fails', async () => {
    const s = await serve(echo);
    const failing = new Readable({
      read() {
        this.destroy(new Error('disk read failed'));
      },
    });
    const err = await httpRequest(s.url(), { method: 'POST', body: failing, timeoutMs: 5000 }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).toBe('disk read failed');
  });

  it('refuses a URL that is not http: or https:', async () => {
    await expect(httpRequest(new URL('ftp://127.0.0.1/x'), { timeoutMs: 1000 })).rejects.toThrow(
      /only http: and https: URLs/,
    );
  });
});
