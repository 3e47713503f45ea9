/**
 * Prometheus metrics and a health answer for a running worker: `GET /metrics` and `GET /healthz` on
 * the dashboard's listener, or on `run --metrics-listen ADDR`, without the dashboard's token.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Worker } from '../worker/index.js';
import { listenOn } from '../util/index.js';
import { MetricsTally } from './tally.js';

export class WorkerMetrics {
  private readonly tally: MetricsTally;
  private registry: Promise<Registry> | undefined;

  constructor(private readonly worker: Worker) {
    this.tally = new MetricsTally(worker);
  }

  /**
   * The exposition text and its content type. prom-client, and Node's own metrics with it (their
   * collectors sample the event loop every 10 ms and watch every GC), load with the first scrape;
   * the worker's own counts are kept from its start by the tally.
   */
  async scrape(): Promise<{ text: string; contentType: string }> {
    this.registry ??= import('./registry.js').then((m) => m.buildRegistry(this.worker, this.tally));
    const registry = await this.registry;
    return { text: await registry.metrics(), contentType: registry.contentType };
  }

  /** The exposition text alone. */
  async text(): Promise<string> {
    return (await this.scrape()).text;
  }

  /**
   * 200 while the session is welcomed or being restored within its reconnect budget, 503 otherwise
   * (not registered yet, stopped, failed), with the reason.
   */
  health(): { status: number; body: Record<string, unknown> } {
    const s = this.worker.getStatus();
    const session = s.session.state;
    if (s.state === 'failed' || s.state === 'stopped') {
      return { status: 503, body: { ok: false, state: s.state, reason: `the worker has ${s.state}` } };
    }
    if (session === 'welcomed') return { status: 200, body: { ok: true, state: s.state, session } };
    if (session === 'connecting' || session === 'waiting' || session === 'open') {
      return {
        status: 200,
        body: { ok: true, state: s.state, session, reason: 'reconnecting to the studio' },
      };
    }
    const reason =
      s.registration.state === 'pending'
        ? 'waiting for the studio operator to approve this worker'
        : s.state === 'draining'
          ? 'stopping'
          : `no studio session (${session})`;
    return { status: 503, body: { ok: false, state: s.state, session, reason } };
  }

  stop(): void {
    this.tally.stop();
  }
}

/** Answers `GET /metrics` and `GET /healthz`; false for any other request (left to the caller). */
export async function serveMetricsRoute(
  req: IncomingMessage,
  res: ServerResponse,
  metrics: WorkerMetrics,
): Promise<boolean> {
  const path = (req.url ?? '').split('?')[0];
  if (req.method !== 'GET' || (path !== '/metrics' && path !== '/healthz')) return false;
  if (path === '/metrics') {
    const { text, contentType } = await metrics.scrape();
    res.writeHead(200, { 'content-type': contentType }).end(text);
  } else {
    const { status, body } = metrics.health();
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }
  return true;
}

/** `run --metrics-listen HOST:PORT`: a listener for the two routes alone (loopback unless told otherwise). */
export async function startMetricsServer(
  listen: string,
  metrics: WorkerMetrics,
): Promise<{ url: string; close: () => Promise<void> }> {
  const { host, port } = parseListen(listen);
  const server = createServer((req, res) => {
    serveMetricsRoute(req, res, metrics)
      .then((served) => {
        if (!served)
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics or /healthz\n');
      })
      .catch(() => res.writeHead(500).end());
  });
  await listenOn(server, port, host);
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** `9464`, `127.0.0.1:9464`, `0.0.0.0:9464` or `[::1]:9464`; a bare port listens on loopback. */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value.trim()) ?? /^()()(\d+)$/.exec(value.trim());
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--metrics-listen expects [HOST:]PORT (e.g. 127.0.0.1:9464), got "${value}"`);
  }
  return { host: m[1] || m[2] || '127.0.0.1', port };
}
