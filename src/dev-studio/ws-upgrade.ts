import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { WebSocketServer } from 'ws';
import { API_PREFIX } from '../protocol/index.js';
import { bearerOf } from './contract-routes.js';
import type { Hub } from './hub.js';
import type { Registry } from './registry.js';

const CONNECT_PATH = new RegExp(`^${API_PREFIX}/workers/([^/]+)/connect$`);

function refuse(socket: Duplex, status: 401 | 404, text: string): void {
  const body = `${text}\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Not Found'}\r\n` +
      'Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * Serves `GET /workers/:workerId/connect` upgrades: the upgrade's Bearer must be that worker's live
 * token (else 401, and a deleted worker has none); any other upgrade path is a 404.
 */
export function serveUpgrades(
  server: Server,
  wss: WebSocketServer,
  registry: Registry,
  hub: Hub,
  log: Logger,
): void {
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(request.url ?? '/', 'http://studio.invalid').pathname;
    const match = CONNECT_PATH.exec(path);
    if (!match?.[1]) return refuse(socket, 404, `no WebSocket route at ${path}`);
    let workerId: string;
    try {
      workerId = decodeURIComponent(match[1]);
    } catch {
      return refuse(socket, 404, `bad worker id in ${path}`);
    }
    if (!registry.authorize(workerId, bearerOf(request.headers.authorization))) {
      log.warn({ workerId }, 'upgrade refused: bad or missing bearer');
      return refuse(socket, 401, `the bearer is not the auth token of worker ${workerId}`);
    }
    const asked = request.headers['sec-websocket-protocol'];
    const subprotocols = (asked ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    wss.handleUpgrade(request, socket, head, (ws) => hub.attach(ws, workerId, subprotocols, socket));
  });
}
