import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { ConfigStore } from '../config/index.js';
import type { WorkerEvents } from '../events/index.js';
import type { WorkerLogger } from '../logs/index.js';
import { listenOn, toError } from '../util/index.js';
import type { Worker } from '../worker/index.js';
import type { LogRecord, UpdateCheckResponse } from './api-types.js';
import { createDaemonControl } from './daemon-control.js';
import { DownloadTracker, LogRing } from './feeds.js';
import { checkRequest, sessionCookie } from './guard.js';
import { JobHistory } from './job-history.js';
import { handleApi, statusResponse, type ApiContext } from './routes.js';
import { EventStreams } from './sse.js';
import { serveAsset } from './static.js';
import { serveMetricsRoute, WorkerMetrics } from '../metrics/index.js';

export interface DashboardOptions {
  worker: Worker;
  store: ConfigStore;
  log: WorkerLogger;
  /** 0 picks a free port. */
  port: number;
  token: string;
  checkForUpdate?: () => Promise<UpdateCheckResponse>;
  logPath?: string;
  /** The built front end (app.js, index.html, style.css); default: `web/` beside this module in dist. */
  assetsDir?: string;
  /** The worker's metrics, when its host already keeps them (one set per worker); else the dashboard's own. */
  metrics?: WorkerMetrics;
}

export interface Dashboard {
  /** The address to open, token included. */
  url: string;
  port: number;
  /** Idempotent; ends the live streams and stops listening. */
  close: () => Promise<void>;
}

/** Status is pushed on every worker event and this often besides, so heartbeat ages stay fresh. */
const STATUS_TICK_MS = 2000;
const COALESCE_MS = 150;

const STATUS_EVENTS: (keyof WorkerEvents)[] = [
  'worker:state',
  'worker:paused',
  'registration:state',
  'session:connecting',
  'session:welcomed',
  'session:closed',
  'session:reconnecting',
  'job:accepted',
  'job:progress',
  'job:completed',
  'job:failed',
  'job:rejected',
  // The engines list names the crash (see SupervisedEngine.availability).
  'engine:crashed',
];

/**
 * The local dashboard: a JSON API, a live event stream and the built front end, on 127.0.0.1 only.
 * Every request must pass `checkRequest` (loopback Host, own Origin, the install's token).
 */
export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const log = opts.log.child({ category: 'dashboard' });
  const assetsDir = opts.assetsDir ?? fileURLToPath(new URL('./web/', import.meta.url));
  const streams = new EventStreams();
  const timers = new Set<NodeJS.Timeout>();
  const later = coalescer(timers);
  const pendingLogs: LogRecord[] = [];

  const ctx: ApiContext = {
    worker: opts.worker,
    store: opts.store,
    log: opts.log,
    history: new JobHistory(
      opts.worker,
      () => {
        if (streams.size > 0) later('jobs', () => streams.send('jobs', ctx.history.snapshot()));
      },
      join(opts.store.dir, 'job-history.json'),
    ),
    logs: new LogRing(),
    downloads: new DownloadTracker(),
    streams,
    logPath: opts.logPath,
    checkForUpdate: opts.checkForUpdate,
  };
  // The local API's /daemon/* routes (the original's tray UI) answer from what the dashboard keeps.
  const daemon = createDaemonControl(ctx);
  opts.worker.attachDaemonControl(daemon);
  const pushStatus = () => streams.send('status', statusResponse(ctx));
  // Nothing is computed for pages that are not open: a service's dashboard mostly has none, and a
  // page that opens gets everything at once (GET /api/events).
  const watched = () => streams.size > 0;
  const offs = [
    ...STATUS_EVENTS.map((name) =>
      opts.worker.events.on(name, () => {
        if (watched()) later('status', pushStatus);
      }),
    ),
    opts.worker.events.on('model:download', (p) => {
      ctx.downloads.update(p);
      if (watched()) later('downloads', () => streams.send('downloads', ctx.downloads.list()));
    }),
    opts.log.onRecord((entry) => {
      const record = ctx.logs.push(entry);
      if (!watched()) return;
      pendingLogs.push(record);
      later('logs', () => streams.send('logs', { records: pendingLogs.splice(0), reset: false }));
    }),
  ];
  const tick = setInterval(() => {
    if (streams.size > 0) pushStatus();
  }, STATUS_TICK_MS);
  tick.unref();

  let port = opts.port;
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const err = toError(e);
      log.error({ err }, `dashboard request ${req.method} ${req.url?.split('?')[0]} failed`);
      if (!res.headersSent) text(res, 500, `Internal error: ${err.message}`);
      else res.end();
    });
  });

  const metrics = opts.metrics ?? new WorkerMetrics(opts.worker);
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    setSecurityHeaders(res);
    // Read-only, for Prometheus and health checks on this machine: no token needed.
    if (await serveMetricsRoute(req, res, metrics)) return;
    const verdict = checkRequest(req, port, opts.token);
    if (!verdict.ok) {
      log.warn(`refused ${req.method} ${req.url?.split('?')[0]}: ${verdict.message}`);
      return text(res, verdict.status, verdict.message);
    }
    const { pathname } = new URL(req.url ?? '/', 'http://localhost');
    if (verdict.viaQuery && pathname === '/' && req.method === 'GET') {
      // Trade the token in the address bar for a cookie, so it leaves the visible URL and history.
      res.writeHead(303, { location: '/', 'set-cookie': sessionCookie(port, opts.token) });
      res.end();
      return;
    }
    if (pathname.startsWith('/api/')) {
      if (!(await handleApi(ctx, req, res, pathname)))
        text(res, 404, `No such API route: ${req.method} ${pathname}`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(res, 405, 'Method not allowed');
    await serveAsset(res, assetsDir, pathname);
  };

  await listenOn(server, opts.port, '127.0.0.1');
  port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/?token=${opts.token}`;
  log.info(`dashboard listening on http://127.0.0.1:${port}/`);

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        for (const off of offs) off();
        opts.worker.attachDaemonControl(undefined);
        daemon.stop();
        if (!opts.metrics) metrics.stop(); // the host stops the metrics it keeps
        ctx.history.stop();
        clearInterval(tick);
        for (const t of timers) clearTimeout(t);
        timers.clear();
        streams.close();
        server.close(() => void ctx.history.flush().then(resolve));
        server.closeAllConnections();
      })),
  };
}

/** Runs `fn` once per burst of calls with the same key, at most every COALESCE_MS. */
function coalescer(timers: Set<NodeJS.Timeout>): (key: string, fn: () => void) => void {
  const scheduled = new Map<string, NodeJS.Timeout>();
  return (key, fn) => {
    if (scheduled.has(key)) return;
    const timer = setTimeout(() => {
      scheduled.delete(key);
      timers.delete(timer);
      fn();
    }, COALESCE_MS);
    scheduled.set(key, timer);
    timers.add(timer);
  };
}

function setSecurityHeaders(res: ServerResponse): void {
  res.setHeader(
    'content-security-policy',
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  );
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('cache-control', 'no-store');
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`${body}\n`);
}
