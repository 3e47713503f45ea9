import type { IncomingMessage, ServerResponse } from 'node:http';
import { platform } from 'node:os';
import { ConfigError, expandHome } from '../config/index.js';
import type { ConfigStore } from '../config/index.js';
import { ApiError, type CatalogModelView } from '../local-api/index.js';
import type { WorkerLogger } from '../logs/index.js';
import { toError } from '../util/index.js';
import { VERSION } from '../version.js';
import type { Worker } from '../worker/index.js';
import type {
  AboutResponse,
  ActionErrorResponse,
  CatalogEntryView,
  CatalogResponse,
  ConfigErrorsResponse,
  ModelActionResponse,
  ModelsResponse,
  StatusResponse,
  UpdateCheckResponse,
} from './api-types.js';
import { configView, saveConfig } from './config-form.js';
import type { DownloadTracker, LogRing } from './feeds.js';
import type { JobHistory } from './job-history.js';
import type { EventStreams } from './sse.js';

const MAX_BODY_BYTES = 64 * 1024;

export interface ApiContext {
  worker: Worker;
  store: ConfigStore;
  log: WorkerLogger;
  history: JobHistory;
  logs: LogRing;
  downloads: DownloadTracker;
  streams: EventStreams;
  logPath: string | undefined;
  checkForUpdate: (() => Promise<UpdateCheckResponse>) | undefined;
}

export function statusResponse(ctx: ApiContext): StatusResponse {
  const status = ctx.worker.getStatus();
  return {
    status: { ...status, currentJob: ctx.history.current(status.currentJob) },
    now: Date.now(),
    configPath: ctx.store.path,
  };
}

/** The JSON API under /api/; answers false when no route matches. */
export async function handleApi(
  ctx: ApiContext,
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
): Promise<boolean> {
  const method = req.method ?? 'GET';
  const route = `${method} ${pathname}`;
  switch (route) {
    case 'GET /api/status':
      return json(res, 200, statusResponse(ctx));
    case 'POST /api/pause':
      ctx.worker.pause();
      return json(res, 200, statusResponse(ctx));
    case 'POST /api/resume':
      ctx.worker.resume();
      return json(res, 200, statusResponse(ctx));
    case 'GET /api/jobs':
      return json(res, 200, ctx.history.snapshot());
    case 'GET /api/logs':
      return json(res, 200, { records: ctx.logs.list() });
    case 'GET /api/config':
      return json(res, 200, configView(await ctx.store.load(), ctx.store.path));
    case 'PUT /api/config':
      return putConfig(ctx, req, res);
    case 'GET /api/models':
      return json(res, 200, await models(ctx));
    case 'GET /api/catalog':
      return json(res, 200, await catalog(ctx));
    case 'POST /api/registration/reset':
      return resetRegistration(ctx, res);
    case 'GET /api/about':
      return json(res, 200, about(ctx));
    case 'POST /api/check-update':
      return checkUpdate(ctx, res);
    case 'GET /api/events':
      ctx.streams.open(res, {
        status: statusResponse(ctx),
        jobs: ctx.history.snapshot(),
        logs: { records: ctx.logs.list(), reset: true },
        downloads: ctx.downloads.list(),
      });
      return true;
  }
  const action = /^\/api\/models\/([^/]+)\/(load|unload)$/.exec(pathname);
  if (action?.[1] !== undefined && method === 'POST') {
    return modelAction(ctx, res, decodeURIComponent(action[1]), action[2] === 'load' ? 'load' : 'unload');
  }
  const preview = /^\/api\/jobs\/([^/]+)\/preview$/.exec(pathname);
  if (preview?.[1] !== undefined && method === 'GET') {
    const found = ctx.history.preview(decodeURIComponent(preview[1]));
    if (!found) return json(res, 404, { error: 'no preview kept for this job' });
    res.writeHead(200, { 'content-type': found.contentType, 'content-length': found.data.byteLength });
    res.end(found.data);
    return true;
  }
  return false;
}

async function putConfig(ctx: ApiContext, req: IncomingMessage, res: ServerResponse): Promise<true> {
  let body: unknown;
  try {
    body = JSON.parse(await readBody(req));
  } catch (e) {
    return json(res, 400, {
      errors: { '': `not JSON: ${toError(e).message}` },
    } satisfies ConfigErrorsResponse);
  }
  try {
    const outcome = await saveConfig(ctx.store, body);
    if (!outcome.ok) return json(res, 400, { errors: outcome.errors } satisfies ConfigErrorsResponse);
    ctx.log.child({ category: 'dashboard' }).info(`config saved from the dashboard (${ctx.store.path})`);
    return json(res, 200, outcome.view);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const errors: Record<string, string> = {};
    for (const p of e.problems) errors[p.key ?? ''] = p.message;
    // The file on disk is broken (a hand edit): it is never overwritten, so say so.
    errors[''] ??= `${e.path} has problems; fix them there first`;
    return json(res, 409, { errors } satisfies ConfigErrorsResponse);
  }
}

async function models(ctx: ApiContext): Promise<ModelsResponse> {
  const cache = ctx.worker.modelCache;
  const config = ctx.worker.currentConfig;
  return {
    root: cache?.root ?? (config ? expandHome(config.modelsRoot) : undefined),
    files: cache ? await cache.list() : undefined,
    downloads: ctx.downloads.list(),
  };
}

/** The catalogue (models.json) with each model's state, in catalogue order. */
async function catalog(ctx: ApiContext): Promise<CatalogResponse> {
  const lifecycle = ctx.worker.modelLifecycle;
  return { models: lifecycle ? (await lifecycle.list()).map(catalogEntry) : undefined };
}

function catalogEntry(m: CatalogModelView): CatalogEntryView {
  return {
    id: m.id,
    ...(m.displayName !== undefined ? { displayName: m.displayName } : {}),
    kind: m.kind,
    engine: m.source.engine,
    vramGbEstimate: m.vramGbEstimate,
    ...(m.description !== undefined ? { description: m.description } : {}),
    enabled: m.enabled,
    origin: m.origin,
    ...(m.exclusiveGroup !== undefined ? { exclusiveGroup: m.exclusiveGroup } : {}),
    state: m.state,
    resident: m.resident,
    ...(m.since !== undefined ? { since: m.since } : {}),
    ...(m.error !== undefined ? { error: m.error } : {}),
    loadable: m.loadable,
  };
}

/** Load (kept resident) or unload a catalogue model, as the local API's routes of the same name. */
async function modelAction(
  ctx: ApiContext,
  res: ServerResponse,
  id: string,
  action: 'load' | 'unload',
): Promise<true> {
  const lifecycle = ctx.worker.modelLifecycle;
  if (!lifecycle) {
    return json(res, 503, {
      error: 'not_started',
      message: 'the worker has not started its engines yet; try again in a moment',
    } satisfies ActionErrorResponse);
  }
  const log = ctx.log.child({ category: 'dashboard' });
  try {
    const { status, body } =
      action === 'load'
        ? await lifecycle.load(id)
        : await lifecycle.unload(id, 'unloaded from the dashboard');
    log.info(`${action} of model ${id} asked from the dashboard: ${body.state}`);
    return json(res, status, body satisfies ModelActionResponse);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    log.warn(`${action} of model ${id} refused: ${e.message}`);
    for (const [name, value] of Object.entries(e.headers)) res.setHeader(name, value);
    return json(res, e.status, {
      error: e.code,
      message: e.message,
      ...e.extra(),
    } satisfies ActionErrorResponse);
  }
}

/** Clears a rejected registration and asks the studio again (`register --reset` while running). */
function resetRegistration(ctx: ApiContext, res: ServerResponse): true {
  if (!ctx.worker.resetRegistration()) {
    const state = ctx.worker.getStatus().registration.state;
    return json(res, 409, {
      error: 'not_rejected',
      message: `the registration is ${state}, not rejected: there is nothing to reset`,
    } satisfies ActionErrorResponse);
  }
  ctx.log.child({ category: 'dashboard' }).info('registration reset from the dashboard');
  return json(res, 200, statusResponse(ctx));
}

function about(ctx: ApiContext): AboutResponse {
  return {
    version: VERSION,
    configPath: ctx.store.path,
    logPath: ctx.logPath,
    node: process.version,
    platform: `${platform()} ${process.arch}`,
    updateCheck: ctx.checkForUpdate !== undefined,
  };
}

async function checkUpdate(ctx: ApiContext, res: ServerResponse): Promise<true> {
  if (!ctx.checkForUpdate) {
    return json(res, 501, { error: 'this build cannot check for updates' });
  }
  try {
    return json(res, 200, await ctx.checkForUpdate());
  } catch (e) {
    const message = `update check failed: ${toError(e).message}`;
    return json(res, 502, {
      current: VERSION,
      updateAvailable: false,
      message,
    } satisfies UpdateCheckResponse);
  }
}

export function json(res: ServerResponse, status: number, body: unknown): true {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
  return true;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`body larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
