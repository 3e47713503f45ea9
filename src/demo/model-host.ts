import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';

/**
 * Serves files from disk over HTTP on 127.0.0.1, streamed with a Content-Length, as a model host
 * does for the studio: the dev studio's own `/files` are in memory, too small a place for a
 * 2 GB model. `add` publishes a path under a name; its URL is `${host.url}/${name}`.
 */
export class ModelHost {
  private readonly files = new Map<string, string>();
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const path = this.files.get(decodeURIComponent((req.url ?? '').slice(1)));
      if (!path || (req.method !== 'GET' && req.method !== 'HEAD')) {
        res.writeHead(404).end();
        return;
      }
      stat(path)
        .then(async (st) => {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': st.size });
          if (req.method === 'HEAD') res.end();
          else await pipeline(createReadStream(path, { highWaterMark: 256 * 1024 }), res);
        })
        .catch(() => res.destroy());
    });
    this.server = server;
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  add(name: string, path: string): string {
    this.files.set(name, path);
    return `${this.url}/${encodeURIComponent(name)}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((ok, fail) => server.close((e) => (e ? fail(e) : ok())));
  }
}
