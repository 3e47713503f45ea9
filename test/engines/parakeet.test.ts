import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  EngineCrashError,
  EngineDispatcher,
  SupervisedEngine,
  SyntheticEngine,
  type EngineCrash,
} from '../../src/engines/index.js';
import {
  EOU_CHUNK_SAMPLES,
  NEMOTRON_CHUNK_SAMPLES,
  ParakeetEngine,
  SHERPA_MISSING_MESSAGE,
  STREAM_ONLY_MESSAGE,
  SherpaTranscriber,
  addedText,
  chunkSamplesFor,
  streamLayout,
  type SherpaRecognizer,
  type SherpaStream,
} from '../../src/engines/parakeet/index.js';
import { openRemoteStream } from '../../src/engines/supervise/stream-proxy.js';
import { LocalFirstModels } from '../../src/generate/index.js';
import { ModelCache } from '../../src/models/index.js';
import type { ModelSource } from '../../src/protocol/index.js';
import { claimFor } from './contract.js';
import { standInStreamModel } from '../support/stand-in-stream-model.js';

// The parakeet engine: streaming speech-to-text on sherpa-onnx in a supervised engine process.
// No streaming model's weights can be had here, so the real sherpa-onnx is exercised up to the
// model load with STAND-IN files (sherpa-onnx refuses them with ONNX Runtime's own error), and the
// stream path over IPC with a TEST STREAM ENGINE in a real child (test/fixtures/engine-child).

const STREAM_ENGINE = join(import.meta.dirname, '../fixtures/engine-child/stream-engine.js');
const HAS_SHERPA = (() => {
  try {
    createRequire(import.meta.url).resolve('sherpa-onnx-node');
    return true;
  } catch {
    return false;
  }
})();
const log = pino({ enabled: false });
const cli = { cfgScale: 1, steps: 1, width: 64, height: 64 };

let dir: string;
const engines: { close(): Promise<void> }[] = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parakeet-'));
});
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A supervised engine process running the TEST STREAM ENGINE. */
function streamEngine(crashes: EngineCrash[] = []): SupervisedEngine {
  const engine = new SupervisedEngine({
    name: 'parakeet',
    module: STREAM_ENGINE,
    capabilities: { taskKinds: [], modelsPerKind: {} },
    describe: () => 'test stream engine',
    log,
    onCrash: (c) => crashes.push(c),
  });
  engines.push(engine);
  return engine;
}

const streamSource: ModelSource = { engine: 'parakeet', files: [], cliDefaults: cli };
const preload = (e: SupervisedEngine, id: string) =>
  e.preload(
    id,
    streamSource,
    new LocalFirstModels(new ModelCache({ root: dir, log })),
    new AbortController().signal,
  );

const files = (...names: string[]) => names.map((filename) => ({ filename, path: `/m/${filename}` }));

describe('the streaming model files', () => {
  it("finds sherpa-onnx's transducer parts by name, int8 exports included", () => {
    expect(
      streamLayout('m', files('encoder.int8.onnx', 'decoder.onnx', 'joiner.int8.onnx', 'tokens.txt')),
    ).toEqual({
      encoder: '/m/encoder.int8.onnx',
      decoder: '/m/decoder.onnx',
      joiner: '/m/joiner.int8.onnx',
      tokens: '/m/tokens.txt',
    });
  });

  it("says what is missing for the original's parakeet-rs export, which sherpa-onnx does not load", () => {
    expect(streamLayout('eou', files('encoder.onnx', 'decoder_joint.onnx', 'tokenizer.json'))).toBe(
      "eou: a streaming speech model needs sherpa-onnx's transducer export (*encoder*.onnx, *decoder*.onnx, *joiner*.onnx, tokens.txt); it has encoder.onnx, decoder_joint.onnx, tokenizer.json",
    );
  });

  it("steps as the original's families do: Nemotron 560 ms, otherwise 160 ms", () => {
    const layout = { encoder: '/m/encoder.onnx', decoder: '', joiner: '', tokens: '' };
    expect(chunkSamplesFor('nemotron-3.5-stream', layout)).toBe(NEMOTRON_CHUNK_SAMPLES);
    expect(NEMOTRON_CHUNK_SAMPLES).toBe(8960);
    expect(chunkSamplesFor('parakeet-eou-120m', layout)).toBe(EOU_CHUNK_SAMPLES);
    expect(EOU_CHUNK_SAMPLES).toBe(2560);
  });
});

describe('a sherpa-onnx stream as a transcriber (a scripted recognizer stands in for sherpa-onnx)', () => {
  class ScriptedRecognizer implements SherpaRecognizer {
    fed = 0;
    resets = 0;
    constructor(private readonly texts: string[]) {}
    createStream(): SherpaStream {
      return { acceptWaveform: () => void (this.fed += 1) };
    }
    isReady(): boolean {
      return false;
    }
    decode(): void {}
    getResult(): { text: string } {
      return { text: this.texts[this.fed - 1] ?? this.texts.at(-1) ?? '' };
    }
    reset(): void {
      this.resets += 1;
    }
  }

  it('answers what each step added to the transcript', async () => {
    const recognizer = new ScriptedRecognizer(['', ' HELLO', ' HELLO', ' HELLO WOR', ' HELLO WORLD']);
    const t = new SherpaTranscriber(recognizer, 2560);
    const steps = [];
    for (let i = 0; i < 5; i++) steps.push(await t.step(new Float32Array(2560)));
    expect(steps).toEqual(['', ' HELLO', '', ' WOR', 'LD']);
    t.reset();
    expect(recognizer.resets).toBe(1);
  });

  it('sends the tail after the common part when a transcript is revised', () => {
    expect(addedText('hello', 'hello there')).toBe(' there');
    expect(addedText('hello wurld', 'hello world')).toBe('orld');
    expect(addedText('', 'a')).toBe('a');
  });
});

describe('the parakeet engine', () => {
  it('advertises nothing and refuses every job, saying where it serves instead', () => {
    const engine = new ParakeetEngine({ sherpaPath: null, log });
    engines.push(engine);
    expect(engine.capabilities()).toEqual({ taskKinds: [], modelsPerKind: {} });
    const dispatcher = new EngineDispatcher([new SyntheticEngine(), engine]);
    const claim = claimFor('parakeet', 'parakeet-eou-120m', {
      kind: 'audio_stt',
      inputUrl: 'https://x/a.wav',
    });
    expect(dispatcher.refuse(claim)).toBe(STREAM_ONLY_MESSAGE);
    expect(dispatcher.capabilities().taskKinds).not.toContain('parakeet');
  });

  it('says what to install when sherpa-onnx-node is missing', () => {
    const engine = new ParakeetEngine({ sherpaPath: null, log });
    expect(engine.availability()).toEqual({ ready: false, detail: SHERPA_MISSING_MESSAGE });
  });

  it.skipIf(!HAS_SHERPA)(
    "stand-in, no weights here: a load of non-ONNX files fails with sherpa-onnx's own error, and the worker lives on",
    async () => {
      const crashes: EngineCrash[] = [];
      const engine = new ParakeetEngine({ log, onCrash: (c) => crashes.push(c) });
      engines.push(engine);
      const source = await standInStreamModel(join(dir, 'stand-in'));
      const cache = new ModelCache({ root: join(dir, 'models'), log });
      const models = new LocalFirstModels(cache, false);
      const load = engine.preload('stand-in-stt', source, models, new AbortController().signal);
      const error = await load.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(EngineCrashError);
      // ONNX Runtime's words, through sherpa-onnx, from the engine process's last lines.
      expect((error as Error).message).toMatch(/parakeet crashed \(SIGABRT\) while loading the model/);
      expect((error as Error).message).toMatch(/Load model from .*\.onnx failed:\s*Protobuf parsing failed/);
      expect(crashes).toHaveLength(1);
      expect(engine.warmModels()).toEqual([]);
      await cache.close();
    },
  );
});

describe('streams over IPC to an engine process (a TEST STREAM ENGINE in a real child)', () => {
  const chunk = (value: number) => new Float32Array(1600).fill(value);

  it('opens a stream on a loaded model only, then steps, resets and closes it in the child', async () => {
    const engine = streamEngine();
    await expect(engine.openStream('stt-a')).rejects.toThrow('model stt-a is not loaded');
    await preload(engine, 'stt-a');
    expect(engine.warmModels()).toMatchObject([{ engine: 'parakeet', model: 'stt-a', state: 'loaded' }]);
    const t = await engine.openStream('stt-a');
    expect(t.chunkSamples).toBe(1600);
    await t.reset();
    expect([await t.step(chunk(0.1)), await t.step(chunk(0)), await t.step(chunk(0.1))]).toEqual([
      '\u2581w1',
      '',
      '\u2581w2',
    ]);
    await t.reset();
    expect(await t.step(chunk(0.1))).toBe('\u2581w1');
    await t.close?.();
    // Each open is its own utterance over the shared model.
    const again = await engine.openStream('stt-a');
    expect(await again.step(chunk(0.1))).toBe('\u2581w1');
  });

  it("a native crash mid-step fails that step as a crash, with the process's last words; the model is gone", async () => {
    const crashes: EngineCrash[] = [];
    const engine = streamEngine(crashes);
    await preload(engine, 'stt-a');
    const t = await engine.openStream('stt-a');
    const error = await t.step(chunk(0.5)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(EngineCrashError);
    expect((error as Error).message).toContain('parakeet crashed (SIGABRT) while transcribing');
    expect((error as Error).message).toContain('decoder state corrupted');
    expect(crashes).toHaveLength(1);
    expect(engine.warmModels()).toEqual([]);
    // Closing after the crash asks the dead process nothing (and counts no second crash).
    await t.close?.();
    expect(crashes).toHaveLength(1);
  });

  it('a step with no answer in time fails, saying so', async () => {
    let asked = 0;
    const t = await openRemoteStream(
      'stt-a',
      (request, _phase, signal) => {
        asked += 1;
        if (request.type === 'stream-open') return Promise.resolve({ stream: 1, chunkSamples: 1600 });
        return new Promise((_, reject) =>
          signal.addEventListener('abort', () => reject(new Error('aborted', { cause: signal.reason }))),
        );
      },
      () => true,
      50,
    );
    await expect(t.step(chunk(0.25))).rejects.toThrow('the speech model gave no answer within 0.05 s');
    expect(asked).toBe(2);
  });
});

describe('the dispatcher and streaming engines', () => {
  it('opens streams on the engine a model names, and refuses engines that do not stream', async () => {
    const dispatcher = new EngineDispatcher([new SyntheticEngine()]);
    await expect(
      dispatcher.openStream('m', { engine: 'synthetic', files: [], cliDefaults: cli }),
    ).rejects.toThrow('engine "synthetic" does not stream');
  });

  it('tells its unload hooks before any warm model is unloaded, until they are removed', async () => {
    const engine = streamEngine();
    const dispatcher = new EngineDispatcher([engine]);
    await preload(engine, 'stt-a');
    const told: string[] = [];
    const off = dispatcher.beforeUnload((model) => {
      told.push(`${model} still warm: ${engine.warmModels().length}`);
      return Promise.resolve();
    });
    await dispatcher.unloadModel('stt-a', 'test');
    expect(told).toEqual(['stt-a still warm: 1']);
    expect(engine.warmModels()).toEqual([]);
    off();
    await preload(engine, 'stt-b');
    await dispatcher.unloadModel('stt-b', 'test');
    expect(told).toHaveLength(1);
  });
});
