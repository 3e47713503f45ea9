import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { StreamTokens } from '../stt-stream/index.js';
import { num, objectBody, str } from './body.js';
import type { CatalogStore } from './catalog.js';
import { ApiError } from './errors.js';

/** The engine whose models the stream listener serves (the original's `ModelEngine::Parakeet`). */
export const STREAM_ENGINE = 'parakeet';

/** What `POST /stream-tokens` needs from the stream listener's owner. */
export interface StreamTokenSource {
  /** The store the listener checks tokens against. */
  readonly tokens: StreamTokens;
  /** Where the listener listens, or why it does not. */
  listening(): { port: number; path: string } | { problem: string };
}

/** `POST /stream-tokens`'s answer (the original's shape). */
export interface StreamGrantAnswer {
  token: string;
  model: string;
  expiresAt: string;
  port: number;
  path: string;
}

/**
 * `POST /stream-tokens {model, ttlSecs?}`: a short-lived token that opens streams on one streaming
 * speech model at the LAN listener, minted behind the install token, so that token never leaves
 * this host. Whether the model is loaded is the listener's question, at session time.
 */
export function registerStreamRoutes(
  app: FastifyInstance,
  catalog: CatalogStore,
  source: () => StreamTokenSource | undefined,
  log: Logger,
): void {
  app.post('/stream-tokens', async (req): Promise<StreamGrantAnswer> => {
    const body = objectBody(req.body);
    const id = str(body, 'model', true);
    const ttlSecs = num(body, 'ttlSecs');
    if (ttlSecs !== undefined && !Number.isInteger(ttlSecs)) {
      throw new ApiError(400, 'bad_request', 'bad input: "ttlSecs" must be a whole number of seconds');
    }
    const model = await catalog.get(id);
    if (!model) throw new ApiError(404, 'unknown_model', `unknown model '${id}' (not in the local catalog)`);
    if (model.source.engine !== STREAM_ENGINE) {
      throw new ApiError(
        400,
        'not_a_stream_model',
        `model '${id}' runs on ${model.source.engine}; stream tokens are for streaming speech models (engine ${STREAM_ENGINE})`,
      );
    }
    const stream = source();
    const where = stream?.listening() ?? { problem: 'this local API serves no stream listener' };
    if ('problem' in where) {
      throw new ApiError(503, 'stream_listener_down', `the stream listener is not running: ${where.problem}`);
    }
    const grant = stream!.tokens.mint(model.id, ttlSecs);
    log.info({ op: 'stream_token', model: model.id, ttlSecs: grant.ttlSecs }, 'stream token minted');
    return { token: grant.token, model: grant.model, expiresAt: grant.expiresAt, ...where };
  });
}
