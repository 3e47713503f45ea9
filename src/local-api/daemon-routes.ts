import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { JobGate } from '../runner/index.js';
import { VERSION } from '../version.js';
import { objectBody } from './body.js';
import { parseEditableConfig, type DaemonControl, type GpuRuntime } from './daemon-control.js';
import { ApiError } from './errors.js';

/** Where the daemon routes get the worker from: undefined where nothing keeps its jobs and logs. */
export type DaemonSource = () => DaemonControl | undefined;

const UNAVAILABLE =
  'daemon control is unavailable: this process runs no studio worker whose jobs and log it could answer from ' +
  '(`studio-worker serve`); `studio-worker run` and `ui` serve these routes';

/**
 * The original's daemon-control routes (`/daemon/*`, `/jobs`, `/jobs/:id/log`,
 * `/jobs/:id/thumbnail`): the tray UI's view of the worker and its actions. They pass the same
 * Host/Origin/token checks as every route; without a DaemonControl they answer 503.
 */
export function registerDaemonRoutes(app: FastifyInstance, daemon: DaemonSource, busy: () => boolean): void {
  const control = (): DaemonControl => {
    const found = daemon();
    if (!found) throw new ApiError(503, 'daemon_control_unavailable', UNAVAILABLE);
    return found;
  };
  app.get('/daemon/status', () => control().status({ busy: busy() }));
  app.get<{ Querystring: { after?: string } }>('/daemon/logs', (req) => {
    const after = req.query.after;
    return control().logs(after !== undefined && /^\d+$/.test(after) ? Number(after) : 0);
  });
  app.post('/daemon/pause', () => ({ paused: control().pause() }));
  app.post('/daemon/resume', () => ({ paused: control().resume() }));
  app.get('/daemon/config', () => control().getConfig());
  app.put('/daemon/config', async (req) => {
    const dc = control();
    const config = parseEditableConfig(objectBody(req.body));
    try {
      return await dc.putConfig(config);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      throw new ApiError(500, 'config_not_saved', `config could not be saved: ${message}`);
    }
  });
  app.post('/daemon/registration/reset', async (_req, reply) => {
    if (!control().resetRegistration()) {
      throw new ApiError(409, 'not_rejected', 'registration is not rejected; nothing to reset');
    }
    return reply.code(202).send({ ok: true });
  });
  app.post('/daemon/shutdown', async (_req, reply) => {
    const dc = control();
    // Once the answer is out: the stop closes this server.
    reply.raw.once('finish', () => dc.shutdown());
    return reply.code(202).send({ ok: true });
  });
  app.all('/daemon/*', () => {
    control();
    throw new ApiError(404, 'not_found', 'no such daemon route');
  });

  app.get('/jobs', () => control().jobs());
  app.get<{ Params: { id: string } }>('/jobs/:id/log', (req) => {
    const log = control().jobLog(req.params.id);
    if (!log) throw new ApiError(404, 'unknown_job', 'no log captured for that job');
    return log;
  });
  app.get<{ Params: { id: string } }>('/jobs/:id/thumbnail', async (req, reply) => {
    const png = await control().thumbnail(req.params.id);
    if (!png) throw new ApiError(404, 'no_thumbnail', 'no thumbnail for that job');
    return reply.header('content-type', 'image/png').send(png);
  });
}

/**
 * `GET /healthz`, open without a token: liveness and a read-only snapshot (no secret, no prompt),
 * with the free space where models are downloaded, so a stuck first download can be told apart.
 */
export async function healthz(opts: {
  gate: JobGate;
  modelsRoot?: string | undefined;
  daemon?: DaemonSource | undefined;
}): Promise<{
  ok: true;
  version: string;
  busy: boolean;
  engine: 'multi';
  modelsRoot: string | null;
  modelsRootFreeBytes: number | null;
  gpuRuntime: GpuRuntime | null;
}> {
  return {
    ok: true,
    version: VERSION,
    busy: opts.gate.holder !== undefined,
    engine: 'multi',
    modelsRoot: opts.modelsRoot ?? null,
    modelsRootFreeBytes: opts.modelsRoot === undefined ? null : await freeBytes(opts.modelsRoot),
    gpuRuntime: opts.daemon?.()?.gpuRuntime() ?? null,
  };
}

/** Free bytes on the disk of `dir`, or of its nearest existing parent (the folder is made on first use). */
async function freeBytes(dir: string): Promise<number | null> {
  for (let at = dir; ; at = dirname(at)) {
    try {
      const s = await statfs(at);
      return Number(s.bavail) * Number(s.bsize);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(at) === at) return null;
    }
  }
}
