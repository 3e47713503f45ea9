import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  EngineError,
  SyntheticEngine,
  type EngineProgress,
  type EngineResult,
} from '../../src/engines/index.js';
import type { TaskInput } from '../../src/protocol/index.js';
import { parseWav, validateJsonSubset, verifyResult } from '../../src/results/index.js';
import { claimFor, toVerifiable } from './contract.js';
import { sineWav, startInputServer, type InputServer } from './wav-server.js';

const engine = new SyntheticEngine();
let workDir: string;
let inputs: InputServer;

beforeAll(async () => {
  inputs = await startInputServer({
    '/speech.wav': sineWav(5, 440),
    '/notes.txt': new TextEncoder().encode('these are not audio samples at all'),
  });
});
afterAll(async () => {
  await inputs.close();
});
beforeEach(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'synthetic-kinds-'));
});
afterEach(async () => {
  await rm(workDir, { recursive: true, force: true });
});

function run(
  task: TaskInput,
  model = 'synthetic',
  onProgress?: (p: EngineProgress) => void,
): Promise<EngineResult> {
  const claim = claimFor('synthetic', model, task);
  const signal = new AbortController().signal;
  return engine.run(claim.task, claim.modelSource, {
    signal,
    log: pino({ enabled: false }),
    workDir,
    claim,
    onProgress,
  });
}

async function failure(task: TaskInput): Promise<EngineError> {
  const error: unknown = await run(task).catch((e: unknown) => e);
  if (!(error instanceof EngineError)) throw new Error(`expected an EngineError, got ${String(error)}`);
  return error;
}

function json<T>(result: EngineResult): T {
  if (result.type !== 'json') throw new Error(`expected JSON, got ${result.type}`);
  return result.value as T;
}

function bytes(result: EngineResult): Uint8Array {
  if (result.type !== 'bytes') throw new Error(`expected bytes, got ${result.type}`);
  return result.data;
}

interface Completion {
  choices: { message: { content: string }; finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}
interface Transcript {
  task: string;
  language: string;
  duration: number;
  segments: {
    start: number;
    end: number;
    text: string;
    words?: { word: string; start: number; end: number }[];
  }[];
}

describe('the synthetic engine', () => {
  it('advertises only synthetic* models', () => {
    const models = Object.values(engine.capabilities().modelsPerKind).flat();
    expect(models.length).toBeGreaterThan(0);
    for (const model of models) expect(model).toMatch(/^synthetic/);
  });

  it('refuses a real model by name, and will not run it either', async () => {
    const claim = claimFor('synthetic', 'flux', { kind: 'image', prompt: 'x', width: 64, height: 64 });
    expect(engine.refuse(claim)).toBe('synthetic engine serves only synthetic* models, not "flux"');
    const error = await run({ kind: 'image', prompt: 'x', width: 64, height: 64 }, 'flux').catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ name: 'EngineError', retryable: false });
  });
});

describe('synthetic images', () => {
  it.each([
    ['png', 'png'],
    ['gif', 'gif'],
    ['jpeg', 'jpeg'],
    ['jpg', 'jpeg'],
  ])('encode to %s as a real %s file', async (ext, format) => {
    const data = bytes(await run({ kind: 'image', prompt: 'a tree', width: 64, height: 48, ext }));
    const meta = await sharp(data).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual([format, 64, 48]);
  });

  it('change with the seed', async () => {
    const one = bytes(await run({ kind: 'image', prompt: 'a tree', width: 64, height: 64, seed: 1 }));
    const two = bytes(await run({ kind: 'image', prompt: 'a tree', width: 64, height: 64, seed: 2 }));
    expect(Buffer.from(one).equals(Buffer.from(two))).toBe(false);
  });

  it('refuse sides over 4096 pixels as the job’s fault', async () => {
    const error = await failure({ kind: 'image', prompt: 'x', width: 4097, height: 64 });
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('4096');
  });
});

describe('synthetic completions', () => {
  const ask = (extra: Partial<Extract<TaskInput, { kind: 'llm' }>> = {}): TaskInput => ({
    kind: 'llm',
    messages: [{ role: 'user', content: 'tell me about the castle by the river' }],
    ...extra,
  });

  it('stop at maxTokens words with finish_reason "length"', async () => {
    const completion = json<Completion>(await run(ask({ maxTokens: 5 })));
    const choice = completion.choices[0];
    expect(choice?.finish_reason).toBe('length');
    expect(choice?.message.content.split(' ')).toHaveLength(5);
    expect(completion.usage).toEqual({ prompt_tokens: 8, completion_tokens: 5, total_tokens: 13 });
  });

  it('cut the content where a stop string first occurs', async () => {
    const full = json<Completion>(await run(ask())).choices[0]?.message.content ?? '';
    const stop = full.split(' ')[3] ?? '';
    const cut = json<Completion>(await run(ask({ stop: [stop, 'never-occurs'] }))).choices[0];
    expect(cut?.message.content).toBe(full.slice(0, full.indexOf(stop)));
    expect(cut?.finish_reason).toBe('stop');
  });

  it('answer a jsonSchema with JSON that conforms to it', async () => {
    const schema = {
      type: 'object',
      properties: {
        name: { type: 'string' },
        level: { type: 'integer', minimum: 1, maximum: 9 },
        speed: { type: 'number', minimum: 0.5, maximum: 2 },
        class: { enum: ['mage', 'rogue'] },
        flying: { type: 'boolean' },
        items: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 4 },
      },
      required: ['name', 'level', 'speed', 'class', 'items'],
    };
    for (const content of ['a hero', 'a villain', 'a shopkeeper']) {
      const task = ask({ messages: [{ role: 'user', content }], jsonSchema: schema });
      const completion = json<Completion>(await run(task));
      const value: unknown = JSON.parse(completion.choices[0]?.message.content ?? '');
      expect(validateJsonSubset(schema, value)).toEqual([]);
      expect(Object.keys(value as object)).toEqual(expect.arrayContaining(schema.required));
    }
  });
});

describe('synthetic transcriptions', () => {
  it('time segments over the real length of the audio, with words when asked', async () => {
    const task: TaskInput = { kind: 'audio_stt', inputUrl: inputs.url('/speech.wav'), timestamps: 'word' };
    const transcript = json<Transcript>(await run({ ...task, language: 'de', translate: true }));
    expect(transcript).toMatchObject({ task: 'translate', language: 'de', duration: 5 });
    expect(transcript.segments.length).toBeGreaterThanOrEqual(2);
    expect(transcript.segments.at(-1)?.end).toBe(5);
    for (const segment of transcript.segments) {
      expect(segment.words?.length).toBeGreaterThan(0);
      for (const word of segment.words ?? []) {
        expect(word.start).toBeGreaterThanOrEqual(segment.start);
        expect(word.end).toBeLessThanOrEqual(segment.end);
      }
    }
  });

  it('leave words out unless word timestamps are asked for', async () => {
    const transcript = json<Transcript>(
      await run({ kind: 'audio_stt', inputUrl: inputs.url('/speech.wav') }),
    );
    expect(transcript.task).toBe('transcribe');
    expect(transcript.segments.every((s) => s.words === undefined)).toBe(true);
  });

  it('fail for good on a 404 input, naming the URL and the status', async () => {
    const error = await failure({ kind: 'audio_stt', inputUrl: inputs.url('/missing.wav') });
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(inputs.url('/missing.wav'));
    expect(error.message).toContain('404');
  });

  it('may be retried after a 5xx or a refused connection', async () => {
    expect((await failure({ kind: 'audio_stt', inputUrl: inputs.url('/status/503') })).retryable).toBe(true);
    expect((await failure({ kind: 'audio_stt', inputUrl: 'http://127.0.0.1:1/a.wav' })).retryable).toBe(true);
  });

  it('fail for good on input that is not a WAV or not http(s)', async () => {
    const notWav = await failure({ kind: 'audio_stt', inputUrl: inputs.url('/notes.txt') });
    expect([notWav.retryable, notWav.message]).toEqual([false, expect.stringContaining('not a usable WAV')]);
    const file = await failure({ kind: 'audio_stt', inputUrl: 'file:///etc/passwd' });
    expect([file.retryable, file.message]).toEqual([false, expect.stringContaining('http or https')]);
  });
});

describe('synthetic speech', () => {
  const text = 'The hero crosses the river at dawn.';

  it('is a 16-bit mono 22050 Hz WAV lasting about 0.07 s per character over the speed', async () => {
    const normal = parseWav(bytes(await run({ kind: 'audio_tts', text })));
    const fast = parseWav(bytes(await run({ kind: 'audio_tts', text, speed: 2 })));
    expect(normal).toMatchObject({ sampleRate: 22050, channels: 1, bitsPerSample: 16 });
    expect(normal.durationSec).toBeCloseTo(0.07 * text.length, 2);
    expect(fast.durationSec).toBeCloseTo((0.07 * text.length) / 2, 2);
  });

  it('lasts at least 0.3 s and differs by voice', async () => {
    expect(parseWav(bytes(await run({ kind: 'audio_tts', text: 'Hi' }))).durationSec).toBeCloseTo(0.3, 2);
    const a = bytes(await run({ kind: 'audio_tts', text, voice: 'alto' }));
    const b = bytes(await run({ kind: 'audio_tts', text, voice: 'bass' }));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });
});

describe('synthetic video', () => {
  it.each(['webm', 'gif', 'webp'])('writes a %s that decodes frame by frame', async (ext) => {
    const task: TaskInput = {
      kind: 'video',
      prompt: 'waves',
      seconds: 1,
      fps: 6,
      width: 64,
      height: 64,
      ext,
    };
    const verdict = await verifyResult('video', toVerifiable(await run(task)));
    expect(verdict).toMatchObject({ ok: true, details: { width: 64, height: 64, frames: 6 } });
  });

  it('rounds odd sides down to even for H.264 and reports progress to the last frame', async () => {
    const progress: EngineProgress[] = [];
    const task: TaskInput = { kind: 'video', prompt: 'waves', seconds: 0.5, fps: 8, width: 65, height: 47 };
    const result = await run(task, 'synthetic-video', (p) => progress.push(p));
    const verdict = await verifyResult('video', toVerifiable(result));
    expect(verdict).toMatchObject({ ok: true, details: { width: 64, height: 46, frames: 4 } });
    expect(progress.map((p) => p.fraction)).toEqual([0.25, 0.5, 0.75, 1]);
  });

  it('refuses sides over 4096 pixels as the job’s fault', async () => {
    const error = await failure({ kind: 'video', prompt: 'x', seconds: 1, width: 64, height: 5000 });
    expect(error.retryable).toBe(false);
  });
});
