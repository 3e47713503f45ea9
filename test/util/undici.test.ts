import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { undici, undiciCore } from '../../src/util/index.js';

let server: Server;
let base: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/slow') return void setTimeout(() => res.end('late'), 2000);
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          method: req.method,
          url: req.url,
          length: req.headers['content-length'],
          agent: req.headers['user-agent'],
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe("undici's Agent and request without its index", () => {
  it('sends GET and POST (a buffer, a stream of known length) with the path and query, as undici.request does', async () => {
    const { Agent, request } = undiciCore();
    const agent = new Agent();
    try {
      const get = await request(agent, `${base}/a/b?c=1`, { headers: { 'user-agent': 'sw-test' } });
      expect(get.statusCode).toBe(200);
      expect(await get.body.json()).toMatchObject({ method: 'GET', url: '/a/b?c=1', agent: 'sw-test' });

      const post = await request(agent, `${base}/up`, { method: 'POST', body: Buffer.from('hello') });
      expect(await post.body.json()).toMatchObject({
        method: 'POST',
        url: '/up',
        length: '5',
        body: 'hello',
      });

      const stream = Readable.from([Buffer.from('ab'), Buffer.from('cd')]);
      const streamed = await request(agent, `${base}/s`, {
        method: 'POST',
        headers: { 'content-length': '4' },
        body: stream,
      });
      expect(await streamed.body.json()).toMatchObject({ length: '4', body: 'abcd' });
    } finally {
      await agent.close();
    }
  });

  it('stops on its signal with the AbortError undici gives', async () => {
    const { Agent, request } = undiciCore();
    const agent = new Agent();
    try {
      const ac = new AbortController();
      const pending = request(agent, `${base}/slow`, { signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    } finally {
      await agent.destroy();
    }
  });

  it('is the same Agent as the whole of undici’s, once that is loaded too', () => {
    expect(undiciCore().Agent).toBe(undici().Agent);
  });
});
