/**
 * A SCRIPTED STAND-IN for the parakeet engine, not a speech model: it "loads" any model at once and
 * streams with test/stt-stream/scripted.ts's WordPerChunk (the original's test_support.rs fake:
 * "▁w<n>" for each 100 ms chunk that is not silence). Everything around it is real: the model
 * lifecycle, the local API, the stream listener, the worker's job history. No streaming model's
 * weights can be had on the machines these tests run on.
 */
import type { Engine, EngineResult, WarmModel } from '../../src/engines/index.js';
import { EngineError } from '../../src/engines/index.js';
import type { Transcriber } from '../../src/stt-stream/index.js';
import { WordPerChunk } from '../stt-stream/scripted.js';

export class ScriptedStreamEngine implements Engine {
  readonly name = 'parakeet' as const;
  /** Every transcriber handed out, newest last. */
  readonly transcribers: WordPerChunk[] = [];
  /** Models unloaded, in order, and why. */
  readonly unloads: { model: string; reason: string }[] = [];
  private readonly loaded = new Map<string, WarmModel>();

  capabilities() {
    return { taskKinds: [], modelsPerKind: {} };
  }

  run(): Promise<EngineResult> {
    return Promise.reject(EngineError.cannotServe('the scripted stream engine runs no job'));
  }

  warmModels(): WarmModel[] {
    return [...this.loaded.values()];
  }

  preload(modelId: string): Promise<void> {
    const since = new Date().toISOString();
    this.loaded.set(modelId, { engine: 'parakeet', model: modelId, state: 'loaded', since, bytes: 1 });
    return Promise.resolve();
  }

  unloadWarm(reason: string, keep?: ReadonlySet<string>): Promise<void> {
    for (const model of [...this.loaded.keys()]) {
      if (keep?.has(model)) continue;
      this.loaded.delete(model);
      this.unloads.push({ model, reason });
    }
    return Promise.resolve();
  }

  openStream(modelId: string): Promise<Transcriber> {
    if (!this.loaded.has(modelId)) return Promise.reject(new Error(`model ${modelId} is not loaded`));
    const t = new WordPerChunk();
    this.transcribers.push(t);
    return Promise.resolve(t);
  }
}
