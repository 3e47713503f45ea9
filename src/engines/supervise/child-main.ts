/**
 * The entry point of an engine child process (`node child-main.js`, started by EngineProcess).
 * It loads one engine module, runs the parent's requests on it and answers over IPC. Native code
 * that aborts, segfaults or runs out of memory in here takes only this process down: the worker
 * sees the exit and fails just the job that was running.
 */
import { pathToFileURL } from 'node:url';
import pino, { type Logger } from 'pino';
import type { Transcriber } from '../../stt-stream/index.js';
import { toError } from '../../util/index.js';
import { abortError } from '../abort.js';
import { EngineError, type Engine, type ModelProvider, type ProvisionedModel } from '../types.js';
import type {
  ChildEngineHost,
  ChildRequest,
  FromChild,
  ParentCall,
  ToChild,
  WireProvisioned,
} from './protocol.js';
import { fromWire, toWire } from './wire-error.js';

type CreateEngine = (options: Record<string, unknown>, host: ChildEngineHost, log: Logger) => Engine;

const send = (message: FromChild): void => {
  if (process.connected) process.send?.(message);
};

/** The parent went away (the worker was killed): nothing is left to serve. */
process.on('disconnect', () => process.exit(0));

let engine: Engine | undefined;
let log: Logger = pino({ enabled: false });
let settings: Record<string, unknown> = {};
const running = new Map<number, AbortController>();
const calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
let nextCall = 1;
/** Streaming transcriptions open in here (the LAN listener's sessions), by the handle the parent holds. */
const streams = new Map<number, Transcriber>();
let nextStream = 1;

function call(body: ParentCall): Promise<unknown> {
  const id = nextCall++;
  return new Promise((resolve, reject) => {
    calls.set(id, { resolve, reject });
    send({ type: 'call', call: id, ...body });
  });
}

/** The worker's model cache, reached over IPC: downloads happen (and are shared) in the worker. */
function modelsFor(request: number): ModelProvider {
  return {
    async provision(files, _signal, opts): Promise<ProvisionedModel> {
      const got = (await call({
        method: 'provision',
        request,
        files,
        ...(opts?.model === undefined ? {} : { model: opts.model }),
      })) as WireProvisioned;
      let released = false;
      return {
        byRole: (role) => [...(got.roles[role] ?? [])],
        path: (role) => got.roles[role]?.[0],
        release: () => {
          if (released) return;
          released = true;
          void call({ method: 'release', handle: got.handle }).catch(() => undefined);
        },
      };
    },
    async fetchInput(url, destDir, _signal, opts) {
      return (await call({
        method: 'fetchInput',
        request,
        url,
        destDir,
        ...(opts?.maxBytes === undefined ? {} : { maxBytes: opts.maxBytes }),
      })) as string;
    },
  };
}

/** Progress at most every PROGRESS_MS (a token stream would be a message per token), a new phase at once. */
const PROGRESS_MS = 100;
function progressSender(id: number): (p: { fraction?: number; message?: string }) => void {
  let last = 0;
  let phase: string | undefined;
  return (p) => {
    const now = Date.now();
    if (p.message === phase && now - last < PROGRESS_MS) return;
    last = now;
    phase = p.message;
    send({ type: 'progress', id, ...p });
  };
}

function sendWarm(): void {
  send({ type: 'warm', models: engine?.warmModels?.() ?? [] });
}

async function serve(id: number, request: ChildRequest, signal: AbortSignal): Promise<unknown> {
  if (!engine) throw new Error('the engine child got a request before its engine was made');
  switch (request.type) {
    case 'run': {
      settings = request.settings;
      const result = await engine.run(request.task, request.modelSource, {
        signal,
        log: log.child({ jobId: request.claim.jobId }),
        workDir: request.workDir,
        claim: request.claim,
        models: modelsFor(id),
        onProgress: progressSender(id),
        ...(request.streamText ? { onText: (chunk: string) => send({ type: 'text', id, chunk }) } : {}),
      });
      return result.type === 'bytes' ? { ...result, data: Buffer.from(result.data) } : result;
    }
    case 'preload': {
      settings = request.settings;
      if (!engine.preload) throw new EngineError(`engine "${engine.name}" loads its model per job`, false);
      await engine.preload(request.modelId, request.modelSource, modelsFor(id), signal, progressSender(id));
      return undefined;
    }
    case 'tokenize':
      return (
        (await engine.tokenize?.(request.modelId, request.text, { addSpecial: request.addSpecial })) ?? null
      );
    case 'unload':
      await engine.unloadWarm?.(request.reason, new Set(request.keep));
      return undefined;
    default:
      return serveStream(engine, request);
  }
}

/** The stream requests: one utterance's transcriber per handle, stepped one chunk at a time. */
async function serveStream(
  engine: Engine,
  request: Extract<ChildRequest, { type: `stream-${string}` }>,
): Promise<unknown> {
  if (request.type === 'stream-open') {
    if (!engine.openStream) throw new EngineError(`engine "${engine.name}" does not stream`, false);
    const transcriber = await engine.openStream(request.modelId);
    const stream = nextStream++;
    streams.set(stream, transcriber);
    return { stream, chunkSamples: transcriber.chunkSamples };
  }
  const transcriber = streams.get(request.stream);
  if (!transcriber) throw new Error(`stream ${request.stream} is not open in the engine process`);
  switch (request.type) {
    case 'stream-step':
      return transcriber.step(request.samples);
    case 'stream-reset':
      await transcriber.reset();
      return undefined;
    case 'stream-close':
      streams.delete(request.stream);
      await transcriber.close?.();
      return undefined;
  }
}

async function init(message: Extract<ToChild, { type: 'init' }>): Promise<void> {
  log = pino(
    { level: message.logLevel, base: undefined, timestamp: false },
    { write: (line: string) => send({ type: 'log', line }) },
  );
  const mod = (await import(pathToFileURL(message.module).href)) as { createEngine?: CreateEngine };
  if (typeof mod.createEngine !== 'function') {
    throw new Error(`${message.module} does not export createEngine()`);
  }
  const host: ChildEngineHost = {
    settings: () => settings,
    reportBackend: (backend) => send({ type: 'backend', backend }),
  };
  engine = mod.createEngine(message.options, host, log);
  await engine.init?.();
  send({ type: 'ready', capabilities: engine.capabilities() });
}

process.on('message', (message: ToChild) => {
  switch (message.type) {
    case 'init':
      init(message).catch((e: unknown) => {
        // On stderr, so the worker's report of this exit quotes it.
        process.stderr.write(`the engine could not be started: ${toError(e).message}\n`);
        process.exitCode = 3;
        process.disconnect();
      });
      return;
    case 'request': {
      const controller = new AbortController();
      running.set(message.id, controller);
      void serve(message.id, message.request, controller.signal)
        .then(
          (value) => ({ type: 'done', id: message.id, ok: true, value: value as never }) as const,
          (e: unknown) => {
            const error = controller.signal.aborted ? toWire(abortError(controller.signal)) : toWire(e);
            // An engine that found it cannot run here at all (its backend does not start).
            if (engine?.availability?.().ready === false) error.unavailable = true;
            return { type: 'done', id: message.id, ok: false, error } as const;
          },
        )
        .then((done) => {
          running.delete(message.id);
          // The warm models first: when the worker sees the answer, it knows what stays loaded.
          sendWarm();
          send(done);
        });
      return;
    }
    case 'cancel':
      running.get(message.id)?.abort(new Error('cancelled by the worker'));
      return;
    case 'reply': {
      const pending = calls.get(message.call);
      calls.delete(message.call);
      if (message.ok) pending?.resolve(message.value);
      else pending?.reject(fromWire(message.error));
      return;
    }
  }
});
