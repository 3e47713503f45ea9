import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A file the test server serves, with a strong ETag so Range requests can be validated. */
export interface ServedFile {
  body: Buffer;
  etag: string;
  /** When false, the body is sent chunked (no Content-Length). */
  contentLength: boolean;
}

export interface SeenRequest {
  path: string;
  range: string | undefined;
  ifRange: string | undefined;
  /** Body bytes written in answer to this request. */
  bytesSent: number;
}

/**
 * A real HTTP server for provisioning tests: serves bytes with ETag + Range/If-Range support,
 * counts requests and body bytes sent, and can cut a connection after N bytes, answer an error
 * status, or hold an answer until the test releases it.
 */
export class FileServer {
  readonly requests: SeenRequest[] = [];
  /** Body bytes written to sockets, over every answer. */
  bytesSent = 0;
  url = '';
  private readonly files = new Map<string, ServedFile>();
  private readonly cuts = new Map<string, number>();
  private readonly statuses = new Map<string, number[]>();
  private readonly redirects = new Map<string, string>();
  private gate: Promise<void> | undefined;
  private readonly server = createServer((req, res) => this.handle(req, res));
  private readonly arrivals: (() => void)[] = [];

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Serves `body` at `path`; returns the file's sha256. */
  serve(path: string, body: Buffer, opts: { contentLength?: boolean } = {}): string {
    const sha256 = createHash('sha256').update(body).digest('hex');
    this.files.set(path, {
      body,
      etag: `"${sha256.slice(0, 16)}-${randomBytes(2).toString('hex')}"`,
      contentLength: opts.contentLength ?? true,
    });
    return sha256;
  }

  /** The next answer for `path` ends (socket destroyed) after `bytes` body bytes. */
  cutNextAfter(path: string, bytes: number): void {
    this.cuts.set(path, bytes);
  }

  /** `from` answers 302 to `to` (model hosts redirect to a CDN). */
  redirect(from: string, to: string): void {
    this.redirects.set(from, to);
  }

  /** The next answers for `path` are these statuses, one per request. */
  failNext(path: string, ...statuses: number[]): void {
    this.statuses.set(path, statuses);
  }

  /** Answers wait until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    this.gate = new Promise<void>((resolve) => (release = resolve));
    return () => {
      this.gate = undefined;
      release();
    };
  }

  /** Resolves when the server has received `count` requests in all. */
  async requestsReached(count: number): Promise<void> {
    while (this.requests.length < count) await new Promise<void>((resolve) => this.arrivals.push(resolve));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((e) => (e ? reject(e) : resolve())));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const seen: SeenRequest = {
      path,
      range: req.headers.range,
      ifRange: req.headers['if-range'] as string | undefined,
      bytesSent: 0,
    };
    this.requests.push(seen);
    for (const wake of this.arrivals.splice(0)) wake();
    const answer = () => this.answer(seen, req, res);
    if (this.gate) void this.gate.then(answer);
    else answer();
  }

  private answer(seen: SeenRequest, req: IncomingMessage, res: ServerResponse): void {
    const path = seen.path;
    const status = this.statuses.get(path)?.shift();
    if (status !== undefined) {
      res.writeHead(status, { 'content-type': 'text/plain' }).end(`status ${status}`);
      return;
    }
    const target = this.redirects.get(path);
    if (target !== undefined) {
      res.writeHead(302, { location: target }).end();
      return;
    }
    const file = this.files.get(path);
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const size = file.body.length;
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    if (m?.[1] && (ifRange === undefined || ifRange === file.etag)) {
      start = Number(m[1]);
      if (start >= size) {
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
    }
    const headers: Record<string, string | number> = { etag: file.etag, 'accept-ranges': 'bytes' };
    if (file.contentLength) headers['content-length'] = size - start;
    if (start > 0) headers['content-range'] = `bytes ${start}-${size - 1}/${size}`;
    res.writeHead(start > 0 ? 206 : 200, headers);
    const body = file.body.subarray(start);
    const cut = this.cuts.get(path);
    if (cut !== undefined) {
      this.cuts.delete(path);
      const sent = body.subarray(0, cut);
      this.bytesSent += sent.length;
      seen.bytesSent = sent.length;
      // Destroyed only once the bytes are handed to the kernel, so the client receives all of them.
      res.write(sent, () => res.socket?.destroy());
      return;
    }
    this.bytesSent += body.length;
    seen.bytesSent = body.length;
    res.end(body);
  }
}
