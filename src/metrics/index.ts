/**
 * Prometheus metrics and a health answer for a running worker: `GET /metrics` and `GET /healthz` on
 * the dashboard's listener, or on `run --metrics-listen ADDR`, without the dashboard's token.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Worker, WorkerStatus } from '../worker/index.js';

export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly offs: (() => void)[] = [];
  private readonly received = new Map<string, number>();
  private defaultsStarted = false;

  constructor(private readonly worker: Worker) {
    const registers = [this.registry];
    const jobs = new Counter({
      name: 'studio_worker_jobs_total',
      help: 'Jobs that ended here, by task kind and outcome (completed, failed, rejected).',
      labelNames: ['kind', 'outcome'] as const,
      registers,
    });
    const duration = new Histogram({
      name: 'studio_worker_job_duration_seconds',
      help: 'Time from accepting a job to its result being handed over, by task kind.',
      labelNames: ['kind'] as const,
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800],
      registers,
    });
    const downloaded = new Counter({
      name: 'studio_worker_model_download_bytes_total',
      help: 'Bytes of model files downloaded into the model cache.',
      registers,
    });
    const crashes = new Counter({
      name: 'studio_worker_engine_crashes_total',
      help: 'Engine child processes that died while serving a job (each failed only that job), by engine and signal.',
      labelNames: ['engine', 'signal'] as const,
      registers,
    });
    // One status for all the gauges of a scrape: getStatus() asks every engine whether it can run.
    let scraped: WorkerStatus | undefined;
    const status = (): WorkerStatus => {
      if (!scraped) {
        scraped = this.worker.getStatus();
        setImmediate(() => (scraped = undefined));
      }
      return scraped;
    };
    new Gauge({
      name: 'studio_worker_session_connected',
      help: '1 while the studio session is welcomed, else 0.',
      registers,
      collect() {
        this.set(status().session.state === 'welcomed' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'studio_worker_outbox_pending',
      help: 'Finished results the studio has not taken yet (kept for a re-offer).',
      registers,
      collect() {
        this.set(status().pendingResults);
      },
    });
    new Gauge({
      name: 'studio_worker_gpu_memory_free_bytes',
      help: 'Free memory of the GPU the worker uses (NaN when it cannot be read).',
      registers,
      collect() {
        this.set(status().gpu?.freeBytes ?? Number.NaN);
      },
    });
    new Gauge({
      name: 'studio_worker_gpu_temperature_celsius',
      help: 'Temperature of the GPU the worker uses (NaN when it cannot be read).',
      registers,
      collect() {
        this.set(status().gpu?.temperatureC ?? Number.NaN);
      },
    });
    new Gauge({
      name: 'studio_worker_user_present',
      help: '1 while someone uses this machine, 0 while idle (no input for 2 minutes); NaN while presence cannot be read.',
      registers,
      collect() {
        const presence = status().presence?.presence;
        this.set(presence === 'active' ? 1 : presence === 'idle' ? 0 : Number.NaN);
      },
    });
    const on = this.worker.events.on.bind(this.worker.events);
    this.offs.push(
      on('job:completed', (e) => {
        jobs.inc({ kind: e.kind, outcome: 'completed' });
        duration.observe({ kind: e.kind }, e.ms / 1000);
      }),
      on('job:failed', (e) => jobs.inc({ kind: e.kind ?? 'unknown', outcome: 'failed' })),
      on('job:rejected', (e) => jobs.inc({ kind: e.kind ?? 'unknown', outcome: 'rejected' })),
      on('engine:crashed', (e) =>
        crashes.inc({ engine: e.engine, signal: e.signal ?? `exit ${e.code ?? 'unknown'}` }),
      ),
      on('model:download', (p) => {
        const before = this.received.get(p.filename) ?? 0;
        if (p.receivedBytes > before) downloaded.inc(p.receivedBytes - before);
        if (p.done) this.received.delete(p.filename);
        else this.received.set(p.filename, p.receivedBytes);
      }),
    );
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

  /**
   * The exposition text of every metric. Node's own (process, heap, event-loop lag, GC) start with
   * the first scrape: their collectors sample the event loop every 10 ms and watch every GC, work
   * an unscraped worker would do for nobody.
   */
  async text(): Promise<string> {
    if (!this.defaultsStarted) {
      this.defaultsStarted = true;
      collectDefaultMetrics({ register: this.registry });
    }
    return this.registry.metrics();
  }

  stop(): void {
    for (const off of this.offs.splice(0)) off();
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
    const text = await metrics.text();
    res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text);
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
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
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
