import { createServer, STATUS_CODES } from 'node:http';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Response } from 'undici';
import { expect } from 'vitest';
import { WebSocketServer } from 'ws';
import { createLogger } from '../../src/logs/index.js';
import type { LocalLogEntry } from '../../src/logs/records.js';
import { Outbox, deliverWithRetry } from '../../src/outbox/index.js';
import type { RegisterRequest } from '../../src/protocol/index.js';
import { StudioHttp } from '../../src/studio/index.js';
import { USER_AGENT } from '../../src/version.js';
import { onCleanup } from './support.js';

// The loopback studio and client plumbing of original-http.test.ts.

export interface Part {
  name: string;
  value?: string;
  filename?: string;
  contentType?: string;
  bytes?: number[];
}
export interface HttpCase {
  source: string;
  surface: string;
  request: {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: RegisterRequest;
    multipart?: Part[];
    mimeByExt?: Record<string, string>;
  };
  response?: { status: number; body?: unknown; headers?: Record<string, string> };
  expect: 'parses' | 'fails';
  note: string;
}

export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export function answer(res: ServerResponse, r: HttpCase['response']): void {
  const status = r?.status ?? 200;
  if (r?.body === undefined) res.writeHead(status).end();
  else if (typeof r.body === 'string') res.writeHead(status, { 'content-type': 'text/plain' }).end(r.body);
  else res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(r.body));
}

/** A loopback studio answering every request (and WebSocket upgrade) with the case's `response`. */
export async function studio(c: HttpCase) {
  const seen: Seen[] = [];
  const frames: string[] = [];
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: () => c.response?.headers?.['sec-websocket-protocol'] ?? false,
  });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (b: Buffer) => chunks.push(b));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      });
      answer(res, c.response);
    });
  });
  server.on('upgrade', (req, socket, head) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.alloc(0) });
    const status = c.response?.status ?? 500;
    if (status === 101) {
      wss.handleUpgrade(req, socket, head, (ws) =>
        ws.on('message', (d) => frames.push((d as Buffer).toString('utf8'))),
      );
      return;
    }
    const body = typeof c.response?.body === 'string' ? c.response.body : '';
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, frames };
}

export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sw-contract-http-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export function logger() {
  const records: LocalLogEntry[] = [];
  const log = createLogger({
    level: 'debug',
    pretty: false,
    destination: new PassThrough(),
    listeners: [(e) => records.push(e)],
  });
  return { log, records };
}

export function client(apiBaseUrl: string, log = logger().log): StudioHttp {
  const http = new StudioHttp({ apiBaseUrl, userAgent: USER_AGENT, log, timeoutMs: 5000 });
  onCleanup(() => http.close());
  return http;
}

export const pathOf = (c: HttpCase) => c.request.path ?? c.surface.split(' ')[1] ?? '';
export const bearerOf = (c: HttpCase) => c.request.headers?.authorization?.replace(/^Bearer /, '');

/** The request line and headers the fixture gives (the ones it leaves out are ours to choose). */
export function expectRequest(c: HttpCase, seen: Seen | undefined, bearer: string | undefined): void {
  expect(seen?.method).toBe(c.request.method ?? c.surface.split(' ')[0]);
  expect(seen?.url).toBe(pathOf(c));
  for (const [name, value] of Object.entries(c.request.headers ?? {}))
    expect(seen?.headers[name]).toBe(value);
  // Where the fixture names no Authorization, the route's own: unauthenticated, or the bearer we passed.
  expect(seen?.headers.authorization).toBe(bearer === undefined ? undefined : `Bearer ${bearer}`);
  expect(seen?.headers['user-agent']).toBe(USER_AGENT);
}

/** Stores a result in the outbox and delivers it as the worker does: StudioHttp's multipart upload. */
export async function deliver(
  api: string,
  o: { jobId: string; workerId: string; token: string; ext: string; prompt: string; bytes: number[] },
) {
  const outbox = new Outbox(join(await tempDir(), 'outbox'));
  const entry = await outbox.put(
    { jobId: o.jobId, workerId: o.workerId, apiBaseUrl: api, ext: o.ext, prompt: o.prompt },
    { data: Uint8Array.from(o.bytes) },
  );
  const http = client(api);
  return deliverWithRetry({
    entry,
    outbox,
    log: logger().log,
    backoff: { baseMs: 10, capMs: 20 },
    giveUpAfterMs: 400,
    upload: (e) =>
      http
        .uploadResult({
          workerId: e.workerId,
          jobId: e.jobId,
          authToken: o.token,
          filePath: e.filePath,
          ext: e.ext,
          prompt: e.prompt,
        })
        .then(() => undefined),
  });
}

export async function partsOf(seen: Seen | undefined): Promise<Part[]> {
  const form = await new Response(seen?.body, {
    headers: { 'content-type': String(seen?.headers['content-type']) },
  }).formData();
  const parts: Part[] = [];
  for (const [name, value] of form) {
    if (typeof value === 'string') parts.push({ name, value });
    else
      parts.push({
        name,
        filename: value.name,
        contentType: value.type,
        bytes: [...new Uint8Array(await value.arrayBuffer())],
      });
  }
  return parts;
}
