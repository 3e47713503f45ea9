import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { ResidencyStore } from '../config/index.js';
import { ThinkSplitter, type StreamDelta } from '../engines/index.js';
import type { TaskInput, TaskKind } from '../protocol/index.js';
import { toError } from '../util/index.js';
import type { CatalogModel, CatalogStore } from './catalog.js';
import { int, num, objectBody, opt, str, type Body } from './body.js';
import { ApiError } from './errors.js';
import { checkLocalRequest } from './guard.js';
import { healthz, registerDaemonRoutes, type DaemonSource } from './daemon-routes.js';
import { ModelLifecycle } from './lifecycle.js';
import { chatTask, completionChunk, openAiError } from './openai.js';
import { runLocalJob, type LocalJobDeps, type LocalResult } from './run-job.js';
import { registerStreamRoutes, type StreamTokenSource } from './stream-routes.js';

import { MAX_BODY_BYTES, MAX_MEDIA_BODY_BYTES } from './limits.js';

const CONTENT_TYPES: Record<string, string> = {
  webp: 'image/webp',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
  opus: 'audio/ogg',
  flac: 'audio/flac',
  mp4: 'video/mp4',
  webm: 'video/webm',
};

export interface LocalApiOptions extends LocalJobDeps {
  /** 127.0.0.1 port (0 = any free one). */
  port: number;
  token: string;
  catalog: CatalogStore;
  residency: ResidencyStore;
  log: Logger;
  /** Expanded `models_root`, for `/healthz`. */
  modelsRoot?: string | undefined;
  /** The worker behind the `/daemon/*` routes (the dashboard's job history and logs); 503 without. */
  daemon?: DaemonSource | undefined;
  /** The worker's model lifecycle, which its dashboard acts through too; without it, one of the API's own. */
  lifecycle?: ModelLifecycle | undefined;
  /** The LAN stream listener `POST /stream-tokens` mints for; without it, that route answers 503. */
  stream?: (() => StreamTokenSource | undefined) | undefined;
}

/**
 * The worker as a local generation server (see docs/local-api.md): the original's routes, every
 * one behind the bearer token and the Host/Origin checks, one job at a time through the gate the
 * studio's jobs take too. Ready to answer through `app.routing` on a server of the caller's (see
 * listener.ts: loaded on the first request).
 */
export async function buildLocalApiApp(opts: LocalApiOptions): Promise<FastifyInstance> {
  const app = Fastify({ bodyLimit: MAX_BODY_BYTES, logger: false });
  // JSON bodies, where an empty one (a DELETE or a load sent with the header anyway) is no body.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => {
    const body = String(text);
    if (body.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(body));
    } catch (e) {
      done(new ApiError(400, 'bad_json', `bad json: ${toError(e).message}`), undefined);
    }
  });
  app.addHook('onRequest', async (req, reply) => {
    if (req.url === '/healthz') return;
    const verdict = checkLocalRequest(req.headers, opts.token);
    if (!verdict.ok) await sendError(req, reply, new ApiError(verdict.status, verdict.code, verdict.message));
  });
  app.setErrorHandler(async (error, req, reply) => {
    await sendError(req, reply, toApiError(error, req.routeOptions.bodyLimit ?? MAX_BODY_BYTES));
  });
  app.setNotFoundHandler(async (req, reply) => {
    await sendError(
      req,
      reply,
      new ApiError(404, 'not_found', `not found: ${req.method} ${req.url.split('?')[0]}`),
    );
  });

  app.get('/healthz', () => healthz(opts));

  registerJobRoutes(app, opts);
  registerModelRoutes(app, opts);
  registerOpenAiRoutes(app, opts);
  registerStreamRoutes(app, opts.catalog, opts.stream ?? (() => undefined), opts.log);
  registerDaemonRoutes(app, opts.daemon ?? (() => undefined), () => opts.gate.holder !== undefined);

  await app.ready();
  return app;
}

function registerJobRoutes(app: FastifyInstance, opts: LocalApiOptions): void {
  const job = async (
    req: FastifyRequest,
    reply: FastifyReply,
    kind: TaskKind,
    task: (m: CatalogModel, b: Body) => TaskInput,
  ) => {
    const body = objectBody(req.body);
    const model = await resolveModel(opts.catalog, kind, body['model']);
    const result = await runLocalJob(opts, model, task(model, body), { signal: requestSignal(reply) });
    return sendResult(reply, result);
  };
  const media = { bodyLimit: MAX_MEDIA_BODY_BYTES };
  app.post('/image', media, (req, reply) =>
    job(req, reply, 'image', (m, b) => ({
      kind: 'image',
      prompt: str(b, 'prompt', true),
      ...opt('negativePrompt', str(b, 'negativePrompt')),
      width: int(b, 'width') ?? m.source.cliDefaults.width,
      height: int(b, 'height') ?? m.source.cliDefaults.height,
      steps: int(b, 'steps') ?? m.source.cliDefaults.steps,
      ...opt('seed', int(b, 'seed')),
      ...opt('cfgScale', num(b, 'cfgScale')),
      ...opt('samplingMethod', str(b, 'samplingMethod')),
      ...opt('initImageUrl', str(b, 'initImageUrl')),
      ...opt('maskUrl', str(b, 'maskUrl')),
      ...opt('refImageUrl', str(b, 'refImageUrl')),
      ...opt('denoise', num(b, 'denoise')),
      ext: str(b, 'ext') ?? 'webp',
    })),
  );
  app.post('/tts', (req, reply) =>
    job(req, reply, 'audio_tts', (_m, b) => ({
      kind: 'audio_tts',
      text: str(b, 'text', true),
      voice: str(b, 'voice') ?? 'default',
      ...opt('speed', num(b, 'speed')),
      ...opt('language', str(b, 'language')),
      ext: str(b, 'ext') ?? 'wav',
    })),
  );
  app.post('/stt', media, (req, reply) =>
    job(req, reply, 'audio_stt', (_m, b) => ({
      kind: 'audio_stt',
      inputUrl: str(b, 'inputUrl', true),
      ...opt('language', str(b, 'language')),
      ...opt('timestamps', str(b, 'timestamps')),
      ...opt('translate', typeof b['translate'] === 'boolean' ? b['translate'] : undefined),
    })),
  );
  app.post('/video', (req, reply) =>
    job(req, reply, 'video', (_m, b) => ({
      kind: 'video',
      prompt: str(b, 'prompt', true),
      ...opt('negativePrompt', str(b, 'negativePrompt')),
      seconds: num(b, 'seconds') ?? 2,
      width: int(b, 'width') ?? 256,
      height: int(b, 'height') ?? 256,
      ...opt('fps', int(b, 'fps')),
      ext: str(b, 'ext') ?? 'mp4',
    })),
  );
  app.post('/tokenize', async (req) => {
    const body = objectBody(req.body);
    const model = await resolveModel(opts.catalog, 'llm', body['model']);
    const tokens = await opts.dispatcher.tokenize(model.id, model.source, str(body, 'content', true), {
      addSpecial: body['add_special'] === true,
    });
    if (tokens === undefined) {
      throw new ApiError(
        409,
        'model_not_loaded',
        `model '${model.id}' is not loaded: POST /models/${model.id}/load first`,
      );
    }
    return { tokens };
  });
}

function registerModelRoutes(app: FastifyInstance, opts: LocalApiOptions): void {
  const lifecycle = opts.lifecycle ?? new ModelLifecycle(opts);
  app.get('/models', () => lifecycle.list());
  app.post('/models', async (req) => {
    try {
      await opts.catalog.upsert(objectBody(req.body) as Parameters<CatalogStore['upsert']>[0]);
    } catch (e) {
      if (e instanceof ApiError) throw e;
      const issues = (e as { issues?: { path: PropertyKey[]; message: string }[] }).issues;
      const first = issues?.[0];
      throw new ApiError(
        400,
        'bad_model',
        `bad model: ${first ? `${first.path.join('.') || '(model)'}: ${first.message}` : toError(e).message}`,
      );
    }
    return { ok: true };
  });
  app.delete<{ Params: { id: string } }>('/models/:id', async (req) => {
    await lifecycle.remove(req.params.id);
    return { ok: true };
  });
  app.get<{ Params: { id: string } }>('/models/:id/state', (req) => lifecycle.state(req.params.id));
  app.post<{ Params: { id: string } }>('/models/:id/load', async (req, reply) => {
    const { status, body } = await lifecycle.load(req.params.id);
    return reply.code(status).send(body);
  });
  app.post<{ Params: { id: string } }>('/models/:id/unload', async (req, reply) => {
    const { status, body } = await lifecycle.unload(req.params.id);
    return reply.code(status).send(body);
  });
}

function registerOpenAiRoutes(app: FastifyInstance, opts: LocalApiOptions): void {
  app.get('/v1/models', async () => ({
    object: 'list',
    data: (await opts.catalog.list())
      .filter((m) => m.kind === 'llm' && m.enabled)
      .map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: 'studio-worker' })),
  }));
  app.post('/v1/chat/completions', async (req, reply) => {
    const body = objectBody(req.body);
    const model = await resolveModel(opts.catalog, 'llm', body['model']);
    const task = chatTask(body);
    const deadline = chatDeadline(body);
    const signal = deadline ? AbortSignal.any([requestSignal(reply), deadline.signal]) : requestSignal(reply);
    if (body['stream'] !== true) {
      try {
        const result = await runLocalJob(opts, model, task, { signal });
        return result.type === 'json' ? { ...(result.value as Body), model: model.id } : result;
      } catch (e) {
        throw deadline?.passed(e) ?? e;
      }
    }
    // Server-sent events, as OpenAI streams: one chat.completion.chunk per piece of text, a last
    // chunk with finish_reason and usage, then [DONE]. Headers go out only once the job is taken.
    const id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
    const created = Math.floor(Date.now() / 1000);
    let started = false;
    const write = (data: unknown) => {
      if (!started) {
        started = true;
        reply.hijack();
        reply.raw.writeHead(200, {
          'content-type': 'text/event-stream',
          'cache-control': 'no-cache',
          connection: 'keep-alive',
        });
        reply.raw.write(
          `data: ${JSON.stringify(completionChunk(id, created, model.id, { role: 'assistant', content: '' }, null))}\n\n`,
        );
      }
      reply.raw.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
    };
    // A reasoning model's thought goes out as one reasoning_content delta, as the original sends it.
    const think = new ThinkSplitter();
    const send = (deltas: StreamDelta[]) => {
      for (const delta of deltas) write(completionChunk(id, created, model.id, delta, null));
    };
    try {
      const result = await runLocalJob(opts, model, task, {
        signal,
        onText: (chunk) => send(think.push(chunk)),
      });
      send(think.finish());
      const completion = (result.type === 'json' ? result.value : {}) as {
        choices?: { finish_reason?: string }[];
        usage?: unknown;
      };
      write({
        ...completionChunk(id, created, model.id, {}, completion.choices?.[0]?.finish_reason ?? 'stop'),
        usage: completion.usage,
      });
      write('[DONE]');
      reply.raw.end();
    } catch (e) {
      const error = deadline?.passed(e) ?? e;
      if (!started) throw error;
      // The stream has begun: the error is its last event (the original's shape).
      reply.raw.write(`data: ${JSON.stringify({ error: { message: toError(error).message } })}\n\n`);
      reply.raw.end();
    }
    return reply;
  });
}

/**
 * A chat's `deadline_ms`: how many milliseconds from its arrival the caller waits for the answer
 * (queueing for the model included). Past it the generation is stopped and the answer is 504
 * `deadline_exceeded` (a stream that has begun ends with that error as its last event).
 */
function chatDeadline(
  body: Body,
): { signal: AbortSignal; passed: (e: unknown) => ApiError | undefined } | undefined {
  const ms = int(body, 'deadline_ms');
  if (ms === undefined) return undefined;
  if (ms === 0) throw new ApiError(400, 'bad_request', 'bad input: "deadline_ms" must be at least 1');
  const signal = AbortSignal.timeout(ms);
  return {
    signal,
    passed: () =>
      signal.aborted
        ? new ApiError(
            504,
            'deadline_exceeded',
            `no answer within deadline_ms (${ms} ms): the generation was stopped`,
          )
        : undefined,
  };
}

async function resolveModel(catalog: CatalogStore, kind: TaskKind, id: unknown): Promise<CatalogModel> {
  if (id !== undefined && typeof id !== 'string')
    throw new ApiError(400, 'bad_request', 'bad input: "model" must be a string');
  const resolved = await catalog.resolve(kind, id);
  if (typeof resolved === 'string') throw new ApiError(400, 'unknown_model', resolved);
  return resolved;
}

function sendResult(reply: FastifyReply, result: LocalResult): FastifyReply {
  if (result.type === 'json') return reply.send(result.value);
  return reply
    .header('content-type', CONTENT_TYPES[result.ext] ?? 'application/octet-stream')
    .send(result.data);
}

/** Aborted when the client goes away before its answer, so its job stops. */
function requestSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new Error('the client disconnected'));
  });
  return controller.signal;
}

async function sendError(req: FastifyRequest, reply: FastifyReply, e: ApiError): Promise<void> {
  const openAi = req.url.startsWith('/v1/');
  await reply
    .code(e.status)
    .headers(e.headers)
    .send(openAi ? openAiError(e) : { error: e.code, message: e.message, ...e.extra() });
}

/** `bodyLimit`: the limit of the route the request was for (the media routes' is larger). */
function toApiError(error: unknown, bodyLimit: number): ApiError {
  if (error instanceof ApiError) return error;
  const e = error as { statusCode?: number; code?: string; message?: string };
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new ApiError(413, 'body_too_large', `request body exceeds ${bodyLimit} bytes`);
  }
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
    return new ApiError(e.statusCode, 'bad_request', `bad request: ${e.message ?? 'unreadable body'}`);
  }
  return new ApiError(500, 'internal_error', `internal error: ${toError(error).message}`);
}
