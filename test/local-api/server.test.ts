import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import OpenAI from 'openai';
import pino from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigStore, ResidencyStore } from '../../src/config/index.js';
import { EngineDispatcher, SyntheticEngine } from '../../src/engines/index.js';
import { LlamaCppEngine } from '../../src/engines/llama-cpp/index.js';
import { LocalFirstModels } from '../../src/generate/index.js';
import { CatalogStore, serveLocalApi, type ServedLocalApi } from '../../src/local-api/index.js';
import { ModelCache } from '../../src/models/index.js';
import { JobGate } from '../../src/runner/index.js';
import { encodeWavPcm16 } from '../../src/results/index.js';
import { localApiCaller } from '../support/local-api.js';

const MODEL = join(import.meta.dirname, '../../../shared/models/stories260K.gguf');
const HAS_MODEL = existsSync(MODEL);
const log = pino({ enabled: false });

let dir: string;
let api: ServedLocalApi;
let token: string;
let gate: JobGate;
let cache: ModelCache;
let dispatcher: EngineDispatcher;
let catalog: CatalogStore;
// Scratch folders of local API jobs a killed worker left (its pid gone), and a live worker's.
const orphanScratch = join(tmpdir(), 'studio-worker-local-999999999-abc123');
const liveScratch = join(tmpdir(), `studio-worker-local-${process.pid}-live12`);

const cli = { cfgScale: 1, steps: 4, width: 64, height: 48 };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'local-api-'));
  const store = new ConfigStore(dir);
  await store.update((c) => Object.assign(c, { modelsRoot: join(dir, 'models') }));
  cache = new ModelCache({ root: join(dir, 'models'), log });
  dispatcher = new EngineDispatcher([
    new SyntheticEngine(),
    new LlamaCppEngine({ gpu: false, threads: 2, idleUnloadMs: 0, log }),
  ]);
  await dispatcher.init();
  catalog = new CatalogStore(dir);
  await catalog.upsert({
    id: 'synthetic-image',
    kind: 'image',
    source: { engine: 'synthetic', files: [], cliDefaults: cli },
  });
  await catalog.upsert({
    id: 'synthetic-tts',
    kind: 'audio_tts',
    source: { engine: 'synthetic', files: [], cliDefaults: cli },
  });
  await catalog.upsert({
    id: 'synthetic-stt',
    kind: 'audio_stt',
    source: { engine: 'synthetic', files: [], cliDefaults: cli },
  });
  await catalog.upsert({
    id: 'synthetic-video',
    kind: 'video',
    source: { engine: 'synthetic', files: [], cliDefaults: cli },
  });
  await catalog.upsert({
    id: 'stories',
    kind: 'llm',
    source: {
      engine: 'llama-cpp',
      files: [{ role: 'model', url: pathToFileURL(MODEL).href, filename: 'stories260K.gguf' }],
      cliDefaults: { ...cli, contextSize: 512 },
    },
  });
  gate = new JobGate();
  await mkdir(orphanScratch, { recursive: true });
  await mkdir(liveScratch, { recursive: true });
  api = await serveLocalApi({
    store,
    dispatcher,
    models: new LocalFirstModels(cache, false),
    gate,
    catalog,
    residency: new ResidencyStore(dir),
    log,
    port: 0,
  });
  token = (JSON.parse(await readFile(join(dir, 'local-api.json'), 'utf8')) as { token: string }).token;
});

afterAll(async () => {
  await rm(liveScratch, { recursive: true, force: true });
  await api.close();
  await dispatcher.close();
  await cache.close();
  await rm(dir, { recursive: true, force: true });
});

const call = localApiCaller(
  () => api.url,
  () => token,
);

describe('the local API (real HTTP)', () => {
  it('sweeps at start the scratch folders of local jobs whose worker is gone, and only those', () => {
    expect(existsSync(orphanScratch)).toBe(false);
    expect(existsSync(liveScratch)).toBe(true);
  });

  it('publishes its URL and a generated token in an owner-only local-api.json, and saves the token in config.toml', async () => {
    const path = join(dir, 'local-api.json');
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ url: api.url, token });
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    if (process.platform !== 'win32') expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir, 'config.toml'), 'utf8')).toContain(`local_api_token = "${token}"`);
  });

  it('generates an image, returned as the image bytes', async () => {
    const res = await call('/image', {
      method: 'POST',
      body: JSON.stringify({ prompt: 'a red fox', ext: 'png' }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 64, 48]);
  });

  it('speaks through /tts and makes a video through /video', async () => {
    const tts = await call('/tts', { method: 'POST', body: JSON.stringify({ text: 'hello' }) });
    expect(tts.status).toBe(200);
    expect(tts.headers.get('content-type')).toBe('audio/wav');
    expect(
      Buffer.from(await tts.arrayBuffer())
        .subarray(0, 4)
        .toString(),
    ).toBe('RIFF');
    const video = await call('/video', {
      method: 'POST',
      body: JSON.stringify({ prompt: 'waves', seconds: 1, width: 64, height: 64 }),
    });
    expect(video.status).toBe(200);
    expect(video.headers.get('content-type')).toBe('video/mp4');
  });

  it('transcribes audio given as a data: URL (as the original takes inputs), answering JSON', async () => {
    const wav = Buffer.from(
      await (await call('/tts', { method: 'POST', body: JSON.stringify({ text: 'hello' }) })).arrayBuffer(),
    );
    const res = await call('/stt', {
      method: 'POST',
      body: JSON.stringify({ inputUrl: `data:audio/wav;base64,${wav.toString('base64')}` }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toHaveProperty('segments');
    // A local path is not an input a program holding the token may name: no file of this machine is read.
    const file = await call('/stt', {
      method: 'POST',
      body: JSON.stringify({ inputUrl: pathToFileURL(MODEL).href }),
    });
    expect(file.status).toBe(500);
    expect(((await file.json()) as { message: string }).message).toMatch(/only http and https URLs/);
  });

  it('answers 401 without the token or with a wrong one, 403 for a foreign Host or Origin', async () => {
    expect((await fetch(`${api.url}/models`)).status).toBe(401);
    expect((await call('/models', { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    const origin = await call('/models', { headers: { origin: 'https://evil.example' } });
    expect(origin.status).toBe(403);
    expect(await origin.json()).toEqual({
      error: 'forbidden',
      message: 'forbidden: cross-site request from Origin "https://evil.example"',
    });
    const { request } = await import('undici');
    const host = await request(`${api.url}/models`, {
      headers: { host: 'rebind.example:4787', authorization: `Bearer ${token}` },
    });
    expect(host.statusCode).toBe(403);
    await host.body.dump();
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200); // the one open route
  });

  it('takes an inline data: input over 1 MiB on the media routes (up to 32 MiB), and refuses beyond', async () => {
    // 40 s of 16 kHz mono s16le: a 1.28 MB WAV, 1.7 MB as base64 in the body.
    const wav = encodeWavPcm16(new Int16Array(16_000 * 40), 16_000, 1);
    const body = JSON.stringify({ inputUrl: `data:audio/wav;base64,${Buffer.from(wav).toString('base64')}` });
    expect(body.length).toBeGreaterThan(1024 * 1024);
    const heard = await call('/stt', { method: 'POST', body });
    expect(heard.status).toBe(200);
    expect(((await heard.json()) as { duration: number }).duration).toBeCloseTo(40, 1);
    const edit = await call('/image', {
      method: 'POST',
      body: JSON.stringify({
        prompt: 'a red fox',
        initImageUrl: `data:image/png;base64,${'A'.repeat(2 * 1024 * 1024)}`,
        ext: 'png',
      }),
    });
    expect(edit.status).toBe(200);
    const huge = await call('/image', {
      method: 'POST',
      body: JSON.stringify({
        prompt: 'x',
        initImageUrl: `data:image/png;base64,${'A'.repeat(32 * 1024 * 1024)}`,
      }),
    });
    expect(huge.status).toBe(413);
    expect(await huge.json()).toEqual({
      error: 'body_too_large',
      message: 'request body exceeds 33554432 bytes',
    });
  });

  it('refuses a body over 1 MiB with 413, and names a bad field with 400', async () => {
    const big = await call('/tts', {
      method: 'POST',
      body: JSON.stringify({ text: 'x'.repeat(1024 * 1024 + 10) }),
    });
    expect(big.status).toBe(413);
    expect(await big.json()).toEqual({
      error: 'body_too_large',
      message: 'request body exceeds 1048576 bytes',
    });
    const bad = await call('/image', {
      method: 'POST',
      body: JSON.stringify({ prompt: 'x', width: 'wide' }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({
      error: 'bad_request',
      message: 'bad input: "width" must be a number',
    });
    const unknown = await call('/image', {
      method: 'POST',
      body: JSON.stringify({ prompt: 'x', model: 'nope' }),
    });
    expect(await unknown.json()).toEqual({
      error: 'unknown_model',
      message: "unknown model 'nope' (not in the local catalog)",
    });
  });

  it('answers 503 with Retry-After while another job holds the gate', async () => {
    const release = gate.tryAcquire('studio', 'studio-job-1');
    try {
      const res = await call('/image', { method: 'POST', body: JSON.stringify({ prompt: 'x' }) });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('2');
      expect(await res.json()).toEqual({
        error: 'busy',
        message: 'worker is busy with another job (studio or local); retry shortly',
      });
    } finally {
      release?.();
    }
  });

  it('adds, lists and removes catalogue models', async () => {
    const add = await call('/models', {
      method: 'POST',
      body: JSON.stringify({
        id: 'extra',
        kind: 'image',
        source: { engine: 'synthetic', files: [], cliDefaults: cli },
      }),
    });
    expect(add.status).toBe(200);
    expect(await add.json()).toEqual({ ok: true });
    const list = (await (await call('/models')).json()) as { id: string; state: string; loadable: boolean }[];
    expect(list.find((m) => m.id === 'extra')).toMatchObject({
      state: 'unloaded',
      loadable: false,
      origin: 'local',
    });
    expect((await call('/models', { method: 'POST', body: JSON.stringify({ id: 'x' }) })).status).toBe(400);
    expect((await call('/models/extra', { method: 'DELETE' })).status).toBe(200);
    expect((await call('/models/extra', { method: 'DELETE' })).status).toBe(404);
  });

  it('says clearly when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(
        serveLocalApi({
          store: new ConfigStore(dir),
          dispatcher,
          models: cache,
          gate,
          catalog,
          residency: new ResidencyStore(dir),
          log,
          port,
        }),
      ).rejects.toThrow(
        `the local API cannot listen on 127.0.0.1:${port}: another program (or another worker) uses that port`,
      );
    } finally {
      blocker.close();
    }
  });
});

describe.skipIf(!HAS_MODEL)(
  `OpenAI clients against the chat route (the official openai package, real llama-cpp with stories260K.gguf)${HAS_MODEL ? '' : ' — skipped: model absent'}`,
  () => {
    const client = () => new OpenAI({ baseURL: `${api.url}/v1`, apiKey: token, maxRetries: 0 });

    it('lists the llm models and gets a real completion', async () => {
      const models = await client().models.list();
      expect(models.data.map((m) => m.id)).toEqual(['stories']);
      const completion = await client().chat.completions.create({
        model: 'stories',
        messages: [{ role: 'user', content: 'Once upon a time' }],
        max_tokens: 16,
      });
      expect(completion.object).toBe('chat.completion');
      expect(completion.model).toBe('stories');
      expect(completion.choices[0]?.message.content?.length).toBeGreaterThan(0);
      expect(completion.usage?.completion_tokens).toBeGreaterThan(0);
      // The original's completion_json fields: the time it took, and real counts.
      const raw = completion as unknown as { elapsed_ms: number; usage: Record<string, number> };
      expect(Number.isInteger(raw.elapsed_ms) && raw.elapsed_ms >= 0).toBe(true);
      expect(raw.usage['total_tokens']).toBe(raw.usage['prompt_tokens']! + raw.usage['completion_tokens']!);
    });

    it('streams a completion as server-sent events', async () => {
      const stream = await client().chat.completions.create({
        model: 'stories',
        messages: [{ role: 'user', content: 'Once upon a time' }],
        max_tokens: 16,
        stream: true,
      });
      const pieces: string[] = [];
      let finish: string | null | undefined;
      for await (const chunk of stream) {
        pieces.push(chunk.choices[0]?.delta.content ?? '');
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      expect(pieces.filter((p) => p !== '').length).toBeGreaterThan(1);
      expect(finish).toMatch(/stop|length/);
      // A story has no thought: no reasoning delta.
      expect(pieces.join('')).not.toContain('<think>');
    });

    it('stops a chat at its deadline_ms with 504 deadline_exceeded, and answers within a deadline it meets', async () => {
      const chat = (extra: Record<string, unknown>) =>
        call('/v1/chat/completions', {
          method: 'POST',
          body: JSON.stringify({
            model: 'stories',
            messages: [{ role: 'user', content: 'Once upon a time' }],
            max_tokens: 400,
            ...extra,
          }),
        });
      const late = await chat({ deadline_ms: 1 });
      expect(late.status).toBe(504);
      expect(await late.json()).toEqual({
        error: {
          message: 'no answer within deadline_ms (1 ms): the generation was stopped',
          type: 'server_error',
          code: 'deadline_exceeded',
        },
      });
      // The gate is free again: a deadline that is met changes nothing.
      const met = await chat({ deadline_ms: 120_000, max_tokens: 8 });
      expect(met.status).toBe(200);
      expect(((await met.json()) as { object: string }).object).toBe('chat.completion');
      const bad = await chat({ deadline_ms: 'soon' });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { message: string } }).error.message).toBe(
        'bad input: "deadline_ms" must be a number',
      );
    });

    it('reports a wrong key as the OpenAI client’s authentication error', async () => {
      const bad = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
      await expect(bad.models.list()).rejects.toMatchObject({ status: 401 });
    });

    it('unloads and loads a model ahead, and tokenizes only with it loaded', async () => {
      // The chats above left it loaded; unloading it first shows the 409.
      await call('/models/stories/unload', { method: 'POST' });
      await expect
        .poll(async () => ((await (await call('/models/stories/state')).json()) as { state: string }).state)
        .toBe('unloaded');
      const notLoaded = await call('/tokenize', { method: 'POST', body: JSON.stringify({ content: 'hi' }) });
      expect(notLoaded.status).toBe(409);
      expect(((await notLoaded.json()) as { error: string }).error).toBe('model_not_loaded');
      expect((await call('/models/stories/load', { method: 'POST' })).status).toBe(202);
      await expect
        .poll(async () => ((await (await call('/models/stories/state')).json()) as { state: string }).state, {
          timeout: 20_000,
        })
        .toBe('loaded');
      const res = await call('/tokenize', {
        method: 'POST',
        body: JSON.stringify({ content: 'Once upon a time' }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { tokens: number[] }).tokens.length).toBeGreaterThan(2);
      expect((await call('/models/stories/unload', { method: 'POST' })).status).toBe(202);
      const bad = await call('/image', { method: 'POST', body: '{not json' });
      expect(await bad.json()).toMatchObject({ error: 'bad_json' });
    });
  },
);
