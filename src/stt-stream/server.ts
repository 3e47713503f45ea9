import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { listenOn, toError } from '../util/index.js';
import {
  StreamConnection,
  sendAndClose,
  type OpenTranscriber,
  type StreamSessionEvent,
} from './connection.js';
import { admit, refuseHandshake } from './handshake.js';
import {
  CLOSE_GRACE_MS,
  DEFAULT_STREAM_PORT,
  HANDSHAKE_TIMEOUT_MS,
  IDLE_TIMEOUT_MS,
  MAX_FRAME_BYTES,
  MAX_STREAM_SESSIONS,
  SHUTDOWN_CLOSE_CODE,
  SHUTDOWN_MESSAGE,
  STREAM_PATH,
  TOO_MANY_SESSIONS_CLOSE_CODE,
  UNLOADED_MESSAGE,
  busyMessage,
  tooManySessionsMessage,
} from './limits.js';
import type { StreamTokens } from './tokens.js';

export interface StreamListenerOptions {
  /** The store whose tokens open sessions (the local API mints into the same one). */
  tokens: StreamTokens;
  /** A fresh transcriber for a loaded model, or the error text the client gets instead. */
  open: OpenTranscriber;
  /** Bind address; the LAN by default, on purpose: a phone streams to it, and the token is the guard. */
  host?: string;
  /** 4798 by default; 0 = any free port. */
  port?: number;
  /** Every session's start and end, for the local job history. Refusals are not sessions. */
  onSession?: (event: StreamSessionEvent) => void;
  log?: Logger;
  /** Largest message in bytes; a larger one closes the socket with 1009. */
  maxFrameBytes?: number;
  /** Sessions at once over all models. */
  maxSessions?: number;
  /** A session with no frame for this long is closed with 1008. */
  idleTimeoutMs?: number;
  /** A connection without a finished upgrade by then is dropped. */
  handshakeTimeoutMs?: number;
  /** How long a closing socket waits for the client's close frame. */
  closeGraceMs?: number;
}

export interface StreamListener {
  /** The address bound. */
  readonly host: string;
  /** The port bound (the real one when 0 was asked). */
  readonly port: number;
  /** The path served (`/transcribe`). */
  readonly path: string;
  /** Sessions holding a model now, opening ones included. */
  activeSessions(): number;
  /**
   * Ends the session on `model`, if any (an unload): the client gets `{"error": message}`, and the
   * promise resolves once its transcriber is closed and the model is free.
   */
  endModel(model: string, message?: string): Promise<void>;
  /** Ends every session (the clients are told), then stops listening. */
  close(): Promise<void>;
}

/**
 * The LAN streaming speech listener: `ws://<host>:<port>/transcribe?token=<stream token>`. The token
 * is checked at the handshake (401, and 404 for any other path); after the upgrade one session runs
 * per model at a time (a second is told the model is busy), and at most `maxSessions` over all.
 */
export async function startStreamListener(opts: StreamListenerOptions): Promise<StreamListener> {
  const { tokens, open, onSession, log } = opts;
  const host = opts.host ?? '0.0.0.0';
  const maxSessions = opts.maxSessions ?? MAX_STREAM_SESSIONS;
  const idleTimeoutMs = opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  const handshakeTimeoutMs = opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
  const closeGraceMs = opts.closeGraceMs ?? CLOSE_GRACE_MS;

  const sessions = new Map<StreamConnection, Promise<void>>();
  const byModel = new Map<string, StreamConnection>();
  const handshakes = new Map<Socket, NodeJS.Timeout>();
  let closing = false;

  // Plain HTTP is no stream: the path's own 404, or 426 on the stream path.
  const server = createServer((req, res) => {
    const stream = (req.url ?? '/').split('?')[0] === STREAM_PATH;
    const body = stream ? 'expected a WebSocket upgrade' : `not found; stream to ${STREAM_PATH}`;
    res.writeHead(stream ? 426 : 404, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
    res.end(body);
  });
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxFrameBytes ?? MAX_FRAME_BYTES,
    perMessageDeflate: false,
  });

  server.on('connection', (socket: Socket) => {
    const timer = setTimeout(() => {
      log?.info({ op: 'handshake', peer: socket.remoteAddress }, 'stream refused: handshake timed out');
      socket.destroy();
    }, handshakeTimeoutMs);
    handshakes.set(socket, timer);
    socket.once('close', () => {
      clearTimeout(timer);
      handshakes.delete(socket);
    });
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    clearTimeout(handshakes.get(req.socket));
    handshakes.delete(req.socket);
    const peer = req.socket.remoteAddress ?? 'unknown';
    const verdict = closing
      ? ({ ok: false, status: 503, body: SHUTDOWN_MESSAGE } as const)
      : admit(req.url, tokens);
    if (!verdict.ok) {
      log?.info({ op: 'handshake', peer, status: verdict.status, reason: verdict.body }, 'stream refused');
      refuseHandshake(socket, verdict.status, verdict.body);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, verdict.model, peer));
  });

  function refuse(ws: WebSocket, model: string, peer: string, message: string, code?: number): void {
    log?.info({ op: 'stream', model, peer, reason: message }, 'stream refused');
    sendAndClose(ws, [{ kind: 'error', message }], closeGraceMs, code);
  }

  function accept(ws: WebSocket, model: string, peer: string): void {
    // A refused socket has no session to hear its errors; an unheard 'error' would throw.
    ws.on('error', (e) => log?.debug({ op: 'stream', peer, err: toError(e) }, 'stream socket error'));
    if (closing) return refuse(ws, model, peer, SHUTDOWN_MESSAGE, SHUTDOWN_CLOSE_CODE);
    if (byModel.has(model)) return refuse(ws, model, peer, busyMessage(model));
    if (sessions.size >= maxSessions) {
      return refuse(ws, model, peer, tooManySessionsMessage(maxSessions), TOO_MANY_SESSIONS_CLOSE_CODE);
    }
    const connection = new StreamConnection({
      ws,
      model,
      peer,
      open,
      onSession,
      log,
      idleTimeoutMs,
      closeGraceMs,
    });
    byModel.set(model, connection);
    const done = connection
      .run()
      .catch((e: unknown) => log?.error({ op: 'stream', model, err: toError(e) }, 'stream session crashed'))
      .finally(() => {
        sessions.delete(connection);
        if (byModel.get(model) === connection) byModel.delete(model);
      });
    sessions.set(connection, done);
  }

  await listenOn(server, opts.port ?? DEFAULT_STREAM_PORT, host);
  const port = (server.address() as AddressInfo).port;
  log?.info({ op: 'stream', addr: `${host}:${port}` }, 'stream listener listening');

  return {
    host,
    port,
    path: STREAM_PATH,
    activeSessions: () => sessions.size,
    async endModel(model, message = UNLOADED_MESSAGE) {
      const connection = byModel.get(model);
      if (!connection) return;
      connection.halt(message, { tell: true });
      await sessions.get(connection);
    },
    async close() {
      closing = true;
      for (const connection of sessions.keys()) {
        connection.halt(SHUTDOWN_MESSAGE, { tell: true, code: SHUTDOWN_CLOSE_CODE });
      }
      await Promise.all(sessions.values());
      // Each closing socket ends by itself within the grace (the client's close, or terminate).
      const closings = [...wss.clients]
        .filter((ws) => ws.readyState !== WebSocket.CLOSED)
        .map((ws) => once(ws, 'close'));
      await Promise.all(closings);
      wss.close();
      for (const [socket, timer] of handshakes) {
        clearTimeout(timer);
        socket.destroy();
      }
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
