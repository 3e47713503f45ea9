import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { listenOn, toError } from '../util/index.js';
import { ApiError } from './errors.js';
import type { LocalApiOptions } from './server.js';

export interface LocalApi {
  url: string;
  port: number;
  close: () => Promise<void>;
}

/** As fastify's own server would be: connections kept 72 s, no limit on receiving a request. */
const KEEP_ALIVE_MS = 72_000;

/**
 * The local API on 127.0.0.1 (see server.ts): its socket listens from the start, so a taken port
 * is known at once and programs find it, but its routes — fastify and every handler, ~4 MB of an
 * idle worker's memory — are loaded by the first request; many workers never get one.
 */
export async function startLocalApi(opts: LocalApiOptions): Promise<LocalApi> {
  let app: Promise<FastifyInstance> | undefined;
  const routes = (): Promise<FastifyInstance> =>
    (app ??= import('./server.js').then((m) => m.buildLocalApiApp(opts)));
  const server = createServer((req, res) => {
    routes().then(
      (built) => built.routing(req, res),
      (e: unknown) => {
        opts.log.error({ err: toError(e) }, 'the local API could not load its routes');
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ error: { code: 'internal', message: 'the local API could not load its routes' } }),
        );
      },
    );
  });
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.requestTimeout = 0;
  await listen(server, opts.port);
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: async () => {
      // Idle keep-alive connections close now; a request being answered is waited for.
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await app?.then(
        (built) => built.close(),
        () => undefined,
      );
    },
  };
}

async function listen(server: Server, port: number): Promise<void> {
  try {
    await listenOn(server, port, '127.0.0.1');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new ApiError(
        0,
        'port_in_use',
        `the local API cannot listen on 127.0.0.1:${port}: another program (or another worker) uses that port; set local_api_port in config.toml or STUDIO_WORKER_LOCAL_API_PORT`,
      );
    }
    throw e;
  }
}
