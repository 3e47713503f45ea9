import { EventEmitter } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import multipart from '@fastify/multipart';
import Fastify from 'fastify';
import type { FastifyError, FastifyInstance } from 'fastify';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { SUBPROTOCOL } from '../protocol/index.js';
import { toError } from '../util/index.js';
import { createAdmin } from './admin.js';
import type { DevStudioAdmin } from './admin.js';
import { registerAdminRoutes } from './admin-routes.js';
import { registerContractRoutes } from './contract-routes.js';
import { DevStudioError } from './errors.js';
import { FileStore, toneWav } from './files.js';
import { Hub } from './hub.js';
import { JobBoard } from './job-board.js';
import { Registry } from './registry.js';
import type { DevStudioEvents, DevStudioOptions } from './types.js';
import { serveUpgrades } from './ws-upgrade.js';

export interface DevStudio {
  /** `http://127.0.0.1:PORT/`: the `api_base_url` a worker uses. */
  readonly url: string;
  readonly admin: DevStudioAdmin;
  readonly events: EventEmitter<DevStudioEvents>;
  /** Closes every socket (1001), the server, and removes the results folder if the studio made it. Idempotent. */
  close(): Promise<void>;
}

const MiB = 1024 * 1024;

function setErrorHandler(app: FastifyInstance, log: Logger): void {
  app.setErrorHandler((error: FastifyError | DevStudioError, _request, reply) => {
    if (error instanceof DevStudioError) return reply.code(error.status).send({ error: error.message });
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 500;
    if (status >= 500) log.error({ err: toError(error) }, 'request failed');
    return reply.code(status).send({ error: error.message });
  });
}

/**
 * Starts the reference studio on loopback: the contract's server side (registration, the worker
 * WebSocket, the multipart `complete` route), strictly validated, with in-memory state and an admin
 * API to drive it.
 */
export async function startDevStudio(opts: DevStudioOptions = {}): Promise<DevStudio> {
  const log = (opts.log ?? pino({ level: 'silent' })).child({ category: 'dev-studio' });
  const ownsResults = opts.resultsDir === undefined;
  const resultsDir = opts.resultsDir ?? (await mkdtemp(join(tmpdir(), 'dev-studio-results-')));
  await mkdir(resultsDir, { recursive: true });

  const events = new EventEmitter<DevStudioEvents>();
  // Tests and benchmarks wait on many jobs at once; each waiter is one listener.
  events.setMaxListeners(0);
  const registry = new Registry(opts.autoApprove ?? false);
  const board = new JobBoard(events, opts.maxAttempts ?? 3);
  const hub = new Hub(
    registry,
    board,
    events,
    log,
    opts.helloTimeoutMs ?? 10_000,
    opts.heartbeatTimeoutMs ?? 30_000,
  );
  hub.matchCapabilities = opts.matchCapabilities ?? true;
  let url = '';
  const files = new FileStore(() => url);
  files.put('sample.wav', toneWav(), 'audio/wav');
  const uploadFaults: number[] = [];
  const admin = createAdmin({ registry, board, hub, files, uploadFaults });

  const app = Fastify({ logger: false, forceCloseConnections: true });
  // Results can be many GB; they stream to disk, so no size limit is needed to protect memory.
  await app.register(multipart, {
    limits: { fileSize: Number.MAX_SAFE_INTEGER, files: 1, fields: 10, parts: 20, fieldSize: 16 * MiB },
  });
  setErrorHandler(app, log);
  registerContractRoutes(app, { registry, board, hub, resultsDir, uploadFaults });
  registerAdminRoutes(app, admin, files);
  const wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false });
  echoSubprotocol(wss, opts.echoSubprotocol !== false);
  serveUpgrades(app.server, wss, registry, hub, log);

  const host = opts.host ?? '127.0.0.1';
  try {
    await app.listen({ port: opts.port ?? 8787, host });
  } catch (e) {
    if (ownsResults) await rm(resultsDir, { recursive: true, force: true });
    throw toError(e);
  }
  const { port } = app.server.address() as AddressInfo;
  url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  log.info({ url, resultsDir }, 'dev studio listening');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      board.close();
      await hub.closeAll();
      wss.close();
      await app.close();
      if (ownsResults) await rm(resultsDir, { recursive: true, force: true });
      log.info('dev studio closed');
    })());

  return { url, admin, events, close };
}

/**
 * The production studio answers every upgrade with `Sec-WebSocket-Protocol: studio-worker-v1`,
 * whether or not the client asked for it (a client that did not ask fails such a handshake);
 * `echo: false` plays a studio that sends none.
 */
function echoSubprotocol(wss: WebSocketServer, echo: boolean): void {
  wss.on('headers', (headers) => {
    const at = headers.findIndex((h) => /^sec-websocket-protocol:/i.test(h));
    if (at >= 0) headers.splice(at, 1);
    if (echo) headers.push(`Sec-WebSocket-Protocol: ${SUBPROTOCOL}`);
  });
}
