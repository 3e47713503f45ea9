import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import { EngineError, type EngineResult } from '../../src/engines/index.js';
import { OnnxEngine } from '../../src/engines/onnx/index.js';
import type { ModelFile, TaskInput } from '../../src/protocol/index.js';
import { encodeWavPcm16, parseWav } from '../../src/results/index.js';
import { LocalModels } from '../fixtures/onnx/provider.js';
import { claimFor } from './contract.js';
import { startInputServer, type InputServer } from './wav-server.js';

const log = pino({ enabled: false });

/** A 44.1 kHz stereo WAV (left 440 Hz, right 660 Hz): what whisper cannot read without resampling. */
function stereoWav(seconds: number): Uint8Array {
  const rate = 44100;
  const frames = Math.round(seconds * rate);
  const samples = new Int16Array(frames * 2);
  for (let i = 0; i < frames; i++) {
    samples[2 * i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate));
    samples[2 * i + 1] = Math.round(8000 * Math.sin((2 * Math.PI * 660 * i) / rate));
  }
  return encodeWavPcm16(samples, rate, 2);
}

const file = (filename: string): ModelFile => ({
  role: 'model',
  url: `http://models.invalid/${filename}`,
  filename,
});
const WHISPER_BIN = [file('ggml-standin.bin')];
const WHISPER_ONNX = [file('tiny-encoder.onnx'), file('tiny-decoder.onnx'), file('tiny-tokens.txt')];
const VOICE = [file('voice.onnx'), file('tokens.txt')];

describe('onnx engine', () => {
  let server: InputServer;
  let modelDir: string;
  let workDir: string;
  let models: LocalModels;
  const engine = new OnnxEngine({
    threads: 1,
    useGpu: false,
    models: { audio_stt: ['whisper-tiny'], audio_tts: ['voice'] },
  });

  beforeAll(async () => {
    server = await startInputServer({
      '/speech.wav': stereoWav(1.5),
      '/noise.mp3': new Uint8Array(4096).fill(7),
    });
    modelDir = await mkdtemp(join(tmpdir(), 'onnx-models-'));
    // Stand-ins: files with the right names and no weights in them.
    await writeFile(join(modelDir, 'ggml-standin.bin'), 'this is not a ggml whisper model');
    await writeFile(join(modelDir, 'tiny-encoder.onnx'), 'not onnx');
    await writeFile(join(modelDir, 'tiny-decoder.onnx'), 'not onnx');
    await writeFile(join(modelDir, 'tiny-tokens.txt'), 'a 0\nb 1\n');
    await writeFile(join(modelDir, 'voice.onnx'), 'not onnx');
    await writeFile(join(modelDir, 'tokens.txt'), 'not a token table');
  });
  afterAll(async () => {
    await server.close();
    await rm(modelDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'onnx-job-'));
    models = new LocalModels(modelDir);
  });
  afterEach(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  const run = (
    input: TaskInput,
    files: ModelFile[],
    signal = new AbortController().signal,
  ): Promise<EngineResult> => {
    const claim = claimFor('onnx', 'whisper-tiny', input);
    return engine.run(claim.task, { ...claim.modelSource, files }, { signal, log, workDir, claim, models });
  };
  const failure = (p: Promise<unknown>): Promise<unknown> =>
    p.then(
      () => undefined,
      (e: unknown) => e,
    );

  it('advertises audio_stt and audio_tts with the configured model names when both packages are installed', () => {
    expect(engine.capabilities()).toEqual({
      taskKinds: ['audio_stt', 'audio_tts', 'image'],
      modelsPerKind: { audio_stt: ['whisper-tiny'], audio_tts: ['voice'], image: [] },
    });
  });

  it('advertises nothing without its packages and refuses with what to install', () => {
    const bare = new OnnxEngine({ packages: { whisperCpp: null, sherpaOnnx: null, onnxRuntime: null } });
    expect(bare.capabilities().taskKinds).toEqual([]);
    const stt = claimFor('onnx', 'm', { kind: 'audio_stt', inputUrl: 'http://x/a.wav' });
    expect(bare.refuse({ ...stt, modelSource: { ...stt.modelSource, files: WHISPER_BIN } })).toMatch(
      /npm install @fugood\/whisper\.node/,
    );
    const tts = claimFor('onnx', 'm', { kind: 'audio_tts', text: 'hi' });
    expect(bare.refuse({ ...tts, modelSource: { ...tts.modelSource, files: VOICE } })).toMatch(
      /npm install sherpa-onnx-node/,
    );
    const onlyWhisper = new OnnxEngine({ packages: { sherpaOnnx: null, onnxRuntime: null } });
    expect(onlyWhisper.capabilities().taskKinds).toEqual(['audio_stt']);
  });

  it('refuses files it does not recognise, other kinds, and word timestamps from an ONNX whisper export', () => {
    const stt = claimFor('onnx', 'm', { kind: 'audio_stt', inputUrl: 'http://x/a.wav', timestamps: 'word' });
    expect(
      engine.refuse({ ...stt, modelSource: { ...stt.modelSource, files: [file('weights.safetensors')] } }),
    ).toMatch(/needs a whisper\.cpp model .* has weights\.safetensors/);
    expect(engine.refuse({ ...stt, modelSource: { ...stt.modelSource, files: WHISPER_ONNX } })).toMatch(
      /word timestamps need/,
    );
    expect(
      engine.refuse({ ...stt, modelSource: { ...stt.modelSource, files: WHISPER_BIN } }),
    ).toBeUndefined();
    expect(engine.refuse(claimFor('onnx', 'm', { kind: 'image', prompt: 'p' }))).toMatch(/not image/);
    const tts = claimFor('onnx', 'm', { kind: 'audio_tts', text: 'hi', ext: 'xyz' });
    expect(engine.refuse({ ...tts, modelSource: { ...tts.modelSource, files: VOICE } })).toMatch(
      /cannot write "xyz"/,
    );
  });

  it('STT with a stand-in (weightless) whisper.cpp model: downloads, resamples 44.1 kHz stereo to 16 kHz mono, fails non-retryable naming the model', async () => {
    const error = await failure(run({ kind: 'audio_stt', inputUrl: server.url('/speech.wav') }, WHISPER_BIN));
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ retryable: false });
    expect((error as Error).message).toMatch(/could not load the model .*ggml-standin\.bin/);
    const converted = parseWav(await readFile(join(workDir, 'input-16k.wav')));
    expect(converted).toMatchObject({ sampleRate: 16000, channels: 1, bitsPerSample: 16, audioFormat: 1 });
    expect(converted.durationSec).toBeCloseTo(1.5, 1);
    expect(models.released).toBe(1);
  });

  it('STT with stand-in ONNX whisper files: sherpa-onnx tries to load them and fails non-retryable', async () => {
    const error = await failure(
      run({ kind: 'audio_stt', inputUrl: server.url('/speech.wav') }, WHISPER_ONNX),
    );
    expect(error).toMatchObject({
      name: 'EngineError',
      retryable: false,
    });
    expect((error as Error).message).toMatch(/tiny-encoder\.onnx/);
  });

  it('TTS with a stand-in (invalid) voice model: fails non-retryable saying the voice did not load', async () => {
    const error = await failure(run({ kind: 'audio_tts', text: 'hello there' }, VOICE));
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ retryable: false });
    expect((error as Error).message).toMatch(/could not load the voice model .*voice\.onnx/);
  });

  it('survives sherpa-onnx calling exit() on an unreadable tokens table (stand-in files): the job fails non-retryable', async () => {
    const files = [file('tiny-encoder.onnx'), file('tiny-decoder.onnx'), file('tokens.txt')];
    const error = await failure(run({ kind: 'audio_stt', inputUrl: server.url('/speech.wav') }, files));
    expect(error).toMatchObject({ name: 'EngineError', retryable: false });
    expect((error as Error).message).toMatch(/exited with 255/);
  });

  it('fails non-retryable on input ffmpeg cannot decode, and on an input URL answering 404', async () => {
    const noise = await failure(run({ kind: 'audio_stt', inputUrl: server.url('/noise.mp3') }, WHISPER_BIN));
    expect(noise).toMatchObject({ name: 'EngineError', retryable: false });
    expect((noise as Error).message).toMatch(/not audio ffmpeg can decode/);
    const missing = await failure(
      run({ kind: 'audio_stt', inputUrl: server.url('/status/404') }, WHISPER_BIN),
    );
    expect(missing).toMatchObject({ name: 'EngineError', retryable: false });
  });

  it('rejects with an AbortError when cancelled before the run or while the input downloads', async () => {
    await expect(
      run({ kind: 'audio_stt', inputUrl: server.url('/speech.wav') }, WHISPER_BIN, AbortSignal.abort()),
    ).rejects.toMatchObject({
      name: 'AbortError',
    });
    const controller = new AbortController();
    const running = run({ kind: 'audio_stt', inputUrl: server.url('/hang') }, WHISPER_BIN, controller.signal);
    setImmediate(() => controller.abort());
    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
    expect(models.released).toBe(1);
  });
});
