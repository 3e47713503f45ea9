import type { Logger } from 'pino';
import type { EngineDispatcher } from '../engines/index.js';
import type { WorkerEventBus } from '../events/index.js';
import {
  StreamTokens,
  startStreamListener,
  type StreamListener,
  type StreamListenerOptions,
  type Transcriber,
} from '../stt-stream/index.js';
import { toError } from '../util/index.js';
import type { CatalogStore } from './catalog.js';
import type { ModelLifecycle } from './lifecycle.js';
import { recordStreamSessions } from './stream-jobs.js';
import { STREAM_ENGINE, type StreamTokenSource } from './stream-routes.js';

/**
 * How long an unload waits for the session on its model to end before it frees the model anyway
 * (the original's drain timeout): a step is well under a second, so only a wedged one waits it out.
 */
export const STREAM_DRAIN_MS = 10_000;

/** The listener as the status shows it: where it listens, or why it does not. */
export type StreamListenerStatus =
  { on: true; host: string; port: number; path: string; sessions: number } | { on: false; problem: string };

export interface StreamServiceDeps {
  catalog: CatalogStore;
  lifecycle: ModelLifecycle;
  dispatcher: EngineDispatcher;
  log: Logger;
  /** Where finished sessions are recorded as local jobs; none, none recorded (`serve`). */
  events?: WorkerEventBus | undefined;
  /** 0.0.0.0 (the LAN) unless told otherwise. */
  host?: string;
  port: number;
  /** The listener's limits and timers (tests shorten them). */
  listener?: Partial<Pick<StreamListenerOptions, 'closeGraceMs' | 'idleTimeoutMs' | 'maxSessions'>>;
}

export interface StreamService extends StreamTokenSource {
  status(): StreamListenerStatus;
  /** Ends every session (clients are told), then stops listening. */
  close(): Promise<void>;
}

/**
 * The LAN streaming speech listener beside the local API (the original's `spawn_stream_listener`):
 * a session opens on a catalogue model whose engine streams and which is loaded, through the
 * model lifecycle; unloading the model, whoever unloads it, ends its session first with
 * `model unloaded`. A port that cannot be bound is a warning: the worker works on, and
 * `/stream-tokens` answers 503 `stream_listener_down` with why.
 */
export async function startStreamService(deps: StreamServiceDeps): Promise<StreamService> {
  const { catalog, lifecycle, dispatcher, events } = deps;
  const log = deps.log.child({ category: 'stt-stream' });
  const host = deps.host ?? '0.0.0.0';
  const tokens = new StreamTokens();

  const open = async (id: string): Promise<Transcriber | string> => {
    const model = await catalog.get(id);
    // Removed from the catalogue since its token was minted: as good as never loaded.
    if (!model) return `model ${id} is not loaded (unloaded)`;
    if (model.source.engine !== STREAM_ENGINE) return `model ${id} is not a streaming speech model`;
    const { state } = lifecycle.view(model);
    if (state !== 'loaded') return `model ${id} is not loaded (${state})`;
    return dispatcher.openStream(model.id, model.source);
  };

  let listener: StreamListener | undefined;
  let problem: string | undefined;
  try {
    listener = await startStreamListener({
      ...deps.listener,
      tokens,
      open,
      host,
      port: deps.port,
      log,
      ...(events ? { onSession: recordStreamSessions(events) } : {}),
    });
    log.info(`stream listener on ws://${host}:${listener.port}${listener.path} (streaming speech)`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    problem =
      code === 'EADDRINUSE'
        ? `${host}:${deps.port} is taken by another program (or another worker); set stream_port in config.toml or STUDIO_WORKER_STREAM_PORT`
        : `${host}:${deps.port}: ${toError(e).message}`;
    log.warn(`stream listener could not bind; streaming speech is unavailable: ${problem}`);
  }

  const offUnload = listener
    ? dispatcher.beforeUnload(async (model) => {
        let timer: NodeJS.Timeout | undefined;
        const drained = new Promise<void>((resolve) => (timer = setTimeout(resolve, STREAM_DRAIN_MS)));
        await Promise.race([listener.endModel(model), drained]);
        clearTimeout(timer);
      })
    : undefined;

  return {
    tokens,
    listening: () =>
      listener ? { port: listener.port, path: listener.path } : { problem: problem ?? 'not started' },
    status: () =>
      listener
        ? {
            on: true,
            host,
            port: listener.port,
            path: listener.path,
            sessions: listener.activeSessions(),
          }
        : { on: false, problem: problem ?? 'not started' },
    async close() {
      offUnload?.();
      await listener?.close();
    },
  };
}
