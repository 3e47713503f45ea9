/**
 * Streaming speech models as they run inside their engine child process (see ../supervise/):
 * sherpa-onnx's native code, which aborts the process on a model it cannot load and may crash on
 * a bad one, with each loaded recognizer kept there between sessions, out of the worker's process.
 */
import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import type { Transcriber } from '../../stt-stream/index.js';
import type { ChildEngineHost } from '../supervise/protocol.js';
import { EngineError, type Engine, type ProvisionedModel, type WarmModel } from '../types.js';
import {
  chunkSamplesFor,
  provisionedFiles,
  recognizerConfig,
  streamLayout,
  type StreamLayout,
} from './files.js';
import { STREAM_ONLY_MESSAGE } from './messages.js';
import { SherpaTranscriber, type SherpaRecognizer } from './transcriber.js';

export interface ParakeetChildOptions {
  /** sherpa-onnx-node's resolved entry point. */
  sherpaPath: string;
  threads: number;
}

interface SherpaModule {
  OnlineRecognizer: new (config: Record<string, unknown>) => SherpaRecognizer;
}

interface Loaded {
  recognizer: SherpaRecognizer;
  chunkSamples: number;
  files: ProvisionedModel;
  since: string;
  bytes: number;
}

async function sizeOf(layout: StreamLayout): Promise<number> {
  const sizes = await Promise.all(
    Object.values(layout).map((path: string) =>
      stat(path).then(
        (s) => s.size,
        () => 0,
      ),
    ),
  );
  return sizes.reduce((a, b) => a + b, 0);
}

export function createEngine(options: Record<string, unknown>, host: ChildEngineHost, log: Logger): Engine {
  const opts = options as unknown as ParakeetChildOptions;
  const loaded = new Map<string, Loaded>();
  let sherpa: SherpaModule | undefined;
  return {
    name: 'parakeet',
    capabilities: () => ({ taskKinds: [], modelsPerKind: {} }),
    run: () => Promise.reject(EngineError.cannotServe(STREAM_ONLY_MESSAGE)),
    warmModels: (): WarmModel[] =>
      [...loaded].map(([model, l]) => ({
        engine: 'parakeet',
        model,
        state: 'loaded',
        since: l.since,
        bytes: l.bytes,
      })),
    async preload(modelId, modelSource, models, signal) {
      if (loaded.has(modelId)) return;
      const files = await models.provision(modelSource.files, signal, { model: modelId });
      try {
        const layout = streamLayout(modelId, provisionedFiles(modelSource, files));
        if (typeof layout === 'string') throw new EngineError(layout, false);
        sherpa ??= createRequire(import.meta.url)(opts.sherpaPath) as SherpaModule;
        host.reportBackend('cpu');
        const started = Date.now();
        // Synchronous and native: a file sherpa-onnx cannot load aborts this process, with
        // ONNX Runtime's own words on stderr, which the worker reports as the load's failure.
        const recognizer = new sherpa.OnlineRecognizer(recognizerConfig(layout, opts.threads));
        const chunkSamples = chunkSamplesFor(modelId, layout);
        const since = new Date().toISOString();
        loaded.set(modelId, { recognizer, chunkSamples, files, since, bytes: await sizeOf(layout) });
        log.info(
          { model: modelId, chunkSamples, elapsedMs: Date.now() - started },
          'streaming speech model loaded',
        );
      } catch (e) {
        files.release();
        throw e;
      }
    },
    unloadWarm(_reason, keep) {
      for (const [model, l] of loaded) {
        if (keep?.has(model)) continue;
        loaded.delete(model);
        l.files.release();
      }
      return Promise.resolve();
    },
    openStream(modelId): Promise<Transcriber> {
      const l = loaded.get(modelId);
      if (!l) return Promise.reject(new EngineError(`model ${modelId} is not loaded`, false));
      return Promise.resolve(new SherpaTranscriber(l.recognizer, l.chunkSamples));
    },
  };
}
