import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { WorkerEventBus } from '../../src/events/index.js';
import { LogShipper } from '../../src/logs/index.js';
import type { Capabilities, Claim } from '../../src/protocol/index.js';
import { Session, SessionExhaustedError } from '../../src/session/index.js';

// Small fakes of the studio's side, for what the dev studio never does on purpose (never welcome,
// never echo the subprotocol, refuse connections): the session loop against real sockets.

const capabilities: Capabilities = {
  machineName: 'box',
  username: 'op',
  agentVersion: '0.5.0',
  engine: 'multi',
  vramTotalGb: 0,
  vramThresholdGb: 12,
  autoEnabled: true,
  autoStart: true,
  supportedModels: [],
  taskKinds: [],
  supportedModelsPerKind: {},
};

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface FakeStudio {
  url: string;
  connections: { request: IncomingMessage; ws: WebSocket }[];
}

/** A WebSocket server that answers every upgrade and then does what `onConnection` says. */
async function fakeStudio(
  opts: { echo?: boolean; onConnection?: (ws: WebSocket) => void } = {},
): Promise<FakeStudio> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => false });
  wss.on('headers', (headers) => {
    if (opts.echo !== false) headers.push('Sec-WebSocket-Protocol: studio-worker-v1');
  });
  const studio: FakeStudio = { url: '', connections: [] };
  wss.on('connection', (ws, request) => {
    studio.connections.push({ request, ws });
    opts.onConnection?.(ws);
  });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  studio.url = `http://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  );
  return studio;
}

function makeSession(url: string, extra: Partial<ConstructorParameters<typeof Session>[0]> = {}) {
  const events = new WorkerEventBus(pino({ level: 'silent' }));
  const offers: Claim[] = [];
  const session = new Session({
    apiBaseUrl: url,
    workerId: 'w-1',
    authToken: 'tok',
    userAgent: 'studio-worker/0.5.0',
    capabilities: () => capabilities,
    currentJobId: () => undefined,
    onOffer: (claim) => offers.push(claim),
    shipper: new LogShipper(),
    log: pino({ level: 'silent' }),
    events,
    reconnectAttempts: 0,
    backoff: { baseMs: 5, capMs: 5 },
    deadAfterMs: 300,
    ...extra,
  });
  const running = session.run().then(
    () => undefined,
    (e: unknown) => e,
  );
  cleanups.push(async () => {
    await session.stop();
    await running;
  });
  return { session, events, offers, running };
}

const welcome = JSON.stringify({ type: 'welcome', workerId: 'w-1', serverTime: '2026-12-04T00:00:00Z' });
const offer = JSON.stringify({
  type: 'offer',
  claim: {
    jobId: 'job-1',
    gameId: 'g',
    assetName: 'a',
    model: 'synthetic',
    vramGbEstimate: 1,
    task: { kind: 'llm', messages: [{ role: 'user', content: 'hi' }] },
    modelSource: {
      engine: 'synthetic',
      files: [],
      cliDefaults: { cfgScale: 1, steps: 8, width: 8, height: 8 },
    },
  },
});

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('Session against small fakes of the studio', () => {
  it('asks for the subprotocol studio-worker-v1 with a Bearer token, and gets welcomed when it is echoed', async () => {
    const studio = await fakeStudio({ onConnection: (ws) => ws.on('message', () => ws.send(welcome)) });
    const { session } = makeSession(studio.url);
    await until(() => session.isWelcomed);
    const { request } = studio.connections[0]!;
    expect(request.headers['sec-websocket-protocol']).toBe('studio-worker-v1');
    expect(request.headers.authorization).toBe('Bearer tok');
  });

  it('connects and is welcomed by a studio that does not echo the subprotocol', async () => {
    const studio = await fakeStudio({
      echo: false,
      onConnection: (ws) => ws.on('message', () => ws.send(welcome)),
    });
    const { session } = makeSession(studio.url);
    await until(() => session.isWelcomed);
    expect(studio.connections).toHaveLength(1);
  });

  it('drops a connection that upgrades but never welcomes, and connects again', async () => {
    const studio = await fakeStudio();
    const { events } = makeSession(studio.url, { deadAfterMs: 200 });
    const closes: number[] = [];
    events.on('session:closed', (e) => closes.push(e.code));
    await until(() => studio.connections.length >= 2);
    expect(closes.length).toBeGreaterThanOrEqual(1);
  });

  it('ignores an offer that comes before welcome, and takes one after it', async () => {
    const studio = await fakeStudio({
      onConnection: (ws) =>
        ws.once('message', () => {
          ws.send(offer);
          setTimeout(() => {
            ws.send(welcome);
            ws.send(offer.replace('job-1', 'job-2'));
          }, 50);
        }),
    });
    const { offers, session } = makeSession(studio.url);
    await until(() => offers.length === 1);
    expect(offers.map((c) => c.jobId)).toEqual(['job-2']);
    expect(session.isWelcomed).toBe(true);
  });

  it('sends a heartbeat at once when autoEnabled or vramThresholdGb changes, not only every 5 s', async () => {
    const frames: { type: string; capabilities?: Capabilities }[] = [];
    const studio = await fakeStudio({
      onConnection: (ws) =>
        ws.on('message', (data) => {
          const frame = JSON.parse((data as Buffer).toString()) as {
            type: string;
            capabilities?: Capabilities;
          };
          frames.push(frame);
          if (frame.type === 'hello') ws.send(welcome);
        }),
    });
    let caps = capabilities;
    makeSession(studio.url, { capabilities: () => caps, heartbeatMs: 60_000, logFlushMs: 20 });
    await until(() => frames.some((f) => f.type === 'heartbeat'));
    await new Promise((r) => setTimeout(r, 100));
    const beats = () => frames.filter((f) => f.type === 'heartbeat').map((f) => f.capabilities);
    expect(beats()).toHaveLength(1);
    caps = { ...capabilities, autoEnabled: false };
    await until(() => beats().length === 2);
    caps = { ...capabilities, autoEnabled: false, vramThresholdGb: 3 };
    await until(() => beats().length === 3);
    await new Promise((r) => setTimeout(r, 100));
    expect(beats().map((c) => [c?.autoEnabled, c?.vramThresholdGb])).toEqual([
      [true, 12],
      [false, 12],
      [false, 3],
    ]);
  });

  it('with ws_reconnect_attempts 0 keeps trying a studio that refuses connections', async () => {
    const port = await closedPort();
    const { events, running } = makeSession(`http://127.0.0.1:${port}/`, { reconnectAttempts: 0 });
    let attempts = 0;
    events.on('session:reconnecting', () => attempts++);
    await until(() => attempts >= 8);
    let settled = false;
    void running.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false);
  });

  it('with ws_reconnect_attempts N > 0 gives up after N failed attempts in a row', async () => {
    const port = await closedPort();
    const { running } = makeSession(`http://127.0.0.1:${port}/`, { reconnectAttempts: 2 });
    const outcome = await running;
    expect(outcome).toBeInstanceOf(SessionExhaustedError);
  });

  it('keeps the start of a refused upgrade’s body (the studio’s reason and reference id) in its error, on one line', async () => {
    const body =
      JSON.stringify({ error: 'maintenance window', requestId: 'req-42' }) + '\n' + 'x'.repeat(1000);
    const server = createHttpServer((_req, res) => res.writeHead(503).end(body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;
    const { running } = makeSession(`http://127.0.0.1:${port}/`, { reconnectAttempts: 1 });
    const outcome = await running;
    expect(outcome).toBeInstanceOf(SessionExhaustedError);
    const message = (outcome as Error).message;
    expect(message).toContain('HTTP 503 on connect: {"error":"maintenance window","requestId":"req-42"} xxx');
    expect(message).not.toContain('x'.repeat(300));
    expect(message).not.toContain('\n');
  });
});

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
