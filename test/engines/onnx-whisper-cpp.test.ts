import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import { OnnxEngine } from '../../src/engines/onnx/index.js';
import { TaskSchema, type ModelFile, type TaskInput } from '../../src/protocol/index.js';
import { verifyResult } from '../../src/results/index.js';
import { writeTinyWhisperModel } from '../fixtures/onnx/ggml-whisper.js';
import { LocalModels, withModelFiles } from '../fixtures/onnx/provider.js';
import { claimFor, engineContract } from './contract.js';
import { sineWav, startInputServer, type InputServer } from './wav-server.js';

/*
 * whisper.cpp for real, with a model generated here: the ggml format with tiny dimensions and
 * random weights (no trained whisper weights can be obtained on this machine). The transcripts
 * are nonsense words like " w22484"; what is real is everything around them — the child process,
 * whisper.cpp loading and decoding, timestamps, the whisper-shaped JSON.
 */
const log = pino({ enabled: false });
const MODEL: ModelFile = {
  role: 'model',
  url: 'http://models.invalid/ggml-tiny-random.bin',
  filename: 'ggml-tiny-random.bin',
};

let modelDir: string;
let server: InputServer;
let models: LocalModels;

beforeAll(async () => {
  modelDir = await mkdtemp(join(tmpdir(), 'onnx-whisper-'));
  await writeTinyWhisperModel(join(modelDir, MODEL.filename));
  server = await startInputServer({ '/tone.wav': sineWav(1, 440), '/tone-44k.wav': sineWav(1, 330, 44100) });
  models = new LocalModels(modelDir);
});
afterAll(async () => {
  await server?.close();
  await rm(modelDir, { recursive: true, force: true });
});

const engine = new OnnxEngine({ threads: 2, useGpu: false, models: { audio_stt: ['whisper-tiny-random'] } });

describe('onnx engine with a real whisper.cpp model (tiny random weights generated here; nonsense text)', () => {
  let workDir: string;
  beforeEach(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'onnx-whisper-job-'));
  });
  afterEach(async () => {
    await rm(workDir, { recursive: true, force: true });
  });
  const run = (input: TaskInput, signal = new AbortController().signal, onProgress?: () => void) => {
    const claim = claimFor('onnx', 'whisper-tiny-random', input);
    return engine.run(
      claim.task,
      { ...claim.modelSource, files: [MODEL] },
      { signal, log, workDir, claim, models, onProgress },
    );
  };

  it('transcribes a 44.1 kHz input to whisper JSON with word timestamps, translate and the requested language', async () => {
    const input: TaskInput = {
      kind: 'audio_stt',
      inputUrl: server.url('/tone-44k.wav'),
      language: 'en',
      translate: true,
      timestamps: 'word',
    };
    const result = await run(input);
    if (result.type !== 'json') throw new Error('expected JSON');
    const verdict = await verifyResult('audio_stt', { json: result.value }, TaskSchema.parse(input));
    expect(verdict, verdict.summary).toMatchObject({ ok: true });
    expect(result.value).toMatchObject({ task: 'translate', language: 'en', duration: 1 });
    const { segments } = result.value as { segments: { words?: unknown[]; end: number }[] };
    expect(segments.length).toBeGreaterThan(0);
    for (const s of segments) {
      expect(s.words?.length).toBeGreaterThan(0);
      expect(s.end).toBeLessThanOrEqual(1);
    }
  });

  it('kills whisper.cpp and rejects with an AbortError when cancelled mid-transcription', async () => {
    const controller = new AbortController();
    const running = run({ kind: 'audio_stt', inputUrl: server.url('/tone.wav') }, controller.signal, () =>
      controller.abort(),
    );
    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
  });
});

engineContract(
  withModelFiles(engine, [MODEL], {
    provision: (files) => models.provision(files),
    fetchInput: (url, dir, signal) => models.fetchInput(url, dir, signal),
  }),
  [
    {
      kind: 'audio_stt',
      model: 'whisper-tiny-random',
      // The prompt becomes whisper's initial prompt, which steers even a random model's decoding.
      task: (prompt) => ({ kind: 'audio_stt', inputUrl: server.url('/tone.wav'), prompt }),
      fingerprint: (result) => Promise.resolve(JSON.stringify(result.type === 'json' ? result.value : null)),
      badTask: () => ({ kind: 'audio_stt', inputUrl: server.url('/status/404') }),
      slowTask: () => ({ kind: 'audio_stt', inputUrl: server.url('/tone.wav') }),
    },
  ],
);
