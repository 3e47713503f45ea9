import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigStore, ResidencyStore } from '../../src/config/index.js';
import { EngineDispatcher, SyntheticEngine } from '../../src/engines/index.js';
import { WorkerEventBus, type WorkerEvents } from '../../src/events/index.js';
import { LocalFirstModels } from '../../src/generate/index.js';
import { CatalogStore, serveLocalApi, type ServedLocalApi } from '../../src/local-api/index.js';
import { ModelCache } from '../../src/models/index.js';
import { JobGate } from '../../src/runner/index.js';
import { Client, Refused, until } from '../stt-stream/client.js';
import { pcm } from '../stt-stream/scripted.js';
import { ScriptedStreamEngine } from '../support/scripted-stream-engine.js';
import { localApiCaller } from '../support/local-api.js';

// POST /stream-tokens and the LAN stream listener beside the local API, over real HTTP and real
// WebSockets (the `ws` package). The speech model is the SCRIPTED STAND-IN of
// test/support/scripted-stream-engine.ts; the lifecycle, the routes and the listener are real.

const log = pino({ enabled: false });
const cli = { cfgScale: 1, steps: 1, width: 64, height: 64 };

let dir: string;
let api: ServedLocalApi;
let token: string;
let cache: ModelCache;
let dispatcher: EngineDispatcher;
let engine: ScriptedStreamEngine;
let store: ConfigStore;
let catalog: CatalogStore;
const events = new WorkerEventBus();
const seen: { name: keyof WorkerEvents; payload: unknown }[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stream-tokens-'));
  store = new ConfigStore(dir);
  await store.update((c) => Object.assign(c, { modelsRoot: join(dir, 'models') }));
  cache = new ModelCache({ root: join(dir, 'models'), log });
  engine = new ScriptedStreamEngine();
  dispatcher = new EngineDispatcher([new SyntheticEngine(), engine]);
  catalog = new CatalogStore(dir);
  const stt = {
    kind: 'audio_stt' as const,
    source: { engine: 'parakeet' as const, files: [], cliDefaults: cli },
  };
  await catalog.upsert({ id: 'stt-a', ...stt });
  await catalog.upsert({ id: 'stt-b', ...stt });
  await catalog.upsert({
    id: 'chat-llm',
    kind: 'llm',
    source: { engine: 'synthetic', files: [], cliDefaults: cli },
  });
  for (const name of ['job:offered', 'job:accepted', 'job:result', 'job:completed', 'job:failed'] as const) {
    events.on(name, (payload) => seen.push({ name, payload }));
  }
  api = await serveLocalApi({
    store,
    dispatcher,
    models: new LocalFirstModels(cache, false),
    gate: new JobGate(),
    catalog,
    residency: new ResidencyStore(dir),
    events,
    log,
    port: 0,
    streamHost: '127.0.0.1',
  });
  token = (JSON.parse(await readFile(join(dir, 'local-api.json'), 'utf8')) as { token: string }).token;
});

afterAll(async () => {
  await api.close();
  await dispatcher.close();
  await cache.close();
  await rm(dir, { recursive: true, force: true });
});

const call = localApiCaller(
  () => api.url,
  () => token,
);
const mint = (body: unknown) => call('/stream-tokens', { method: 'POST', body: JSON.stringify(body) });
const listenerPort = () => {
  const s = api.stream();
  if (!s.on) throw new Error(`the stream listener is off: ${s.problem}`);
  return s.port;
};
const wsUrl = (t: string) => `ws://127.0.0.1:${listenerPort()}/transcribe?token=${t}`;

async function load(id: string): Promise<void> {
  expect([200, 202]).toContain((await call(`/models/${id}/load`, { method: 'POST' })).status);
  await until(() => engine.warmModels().some((w) => w.model === id));
}

describe('POST /stream-tokens (real HTTP)', () => {
  it('mints a token for a streaming speech model: the listener port and path, expiring in 10 minutes by default', async () => {
    const before = Date.now();
    const res = await mint({ model: 'stt-a' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['expiresAt', 'model', 'path', 'port', 'token']);
    expect(body).toMatchObject({ model: 'stt-a', port: listenerPort(), path: '/transcribe' });
    expect(body['token']).toMatch(/^[0-9a-f]{64}$/);
    const expires = Date.parse(String(body['expiresAt']));
    expect(expires - before).toBeGreaterThanOrEqual(600_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(600_000);
  });

  it('clamps ttlSecs to 30 s..1 h', async () => {
    const ttl = async (ttlSecs: number) => {
      const body = (await (await mint({ model: 'stt-a', ttlSecs })).json()) as { expiresAt: string };
      return Math.round((Date.parse(body.expiresAt) - Date.now()) / 1000);
    };
    expect(await ttl(5)).toBe(30);
    expect(await ttl(-5)).toBe(30);
    expect(await ttl(120)).toBe(120);
    expect(await ttl(3 * 86_400)).toBe(3600);
  });

  it('refuses other models: 404 unknown_model, 400 not_a_stream_model', async () => {
    const unknown = await mint({ model: 'nope' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: 'unknown_model' });
    const chat = await mint({ model: 'chat-llm' });
    expect(chat.status).toBe(400);
    expect(await chat.json()).toEqual({
      error: 'not_a_stream_model',
      message:
        "model 'chat-llm' runs on synthetic; stream tokens are for streaming speech models (engine parakeet)",
    });
  });

  it('answers 400 bad_request for bad fields', async () => {
    const cases: [unknown, string][] = [
      [{}, 'bad input: "model" is required'],
      [{ model: 7 }, 'bad input: "model" must be a string'],
      [{ model: 'stt-a', ttlSecs: '60' }, 'bad input: "ttlSecs" must be a number'],
      [{ model: 'stt-a', ttlSecs: 1.5 }, 'bad input: "ttlSecs" must be a whole number of seconds'],
      [['stt-a'], 'bad json: the body must be a JSON object'],
    ];
    for (const [body, message] of cases) {
      const res = await mint(body);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: 'bad_request', message });
    }
  });

  it('is behind the install token and the Host/Origin checks, as every route', async () => {
    const bare = await fetch(`${api.url}/stream-tokens`, { method: 'POST', body: '{"model":"stt-a"}' });
    expect(bare.status).toBe(401);
    const origin = await call('/stream-tokens', {
      method: 'POST',
      body: '{"model":"stt-a"}',
      headers: { origin: 'https://evil.example' },
    });
    expect(origin.status).toBe(403);
    const host = await request(`${api.url}/stream-tokens`, {
      method: 'POST',
      headers: { host: 'rebind.example:4787', authorization: `Bearer ${token}` },
      body: '{"model":"stt-a"}',
    });
    expect(host.statusCode).toBe(403);
    await host.body.dump();
  });

  it('answers 503 stream_listener_down, saying why, when the listener could not bind; the API works on', async () => {
    const otherDir = await mkdtemp(join(tmpdir(), 'stream-tokens-2-'));
    const second = await serveLocalApi({
      store: new ConfigStore(otherDir),
      dispatcher: new EngineDispatcher([new SyntheticEngine()]),
      models: new LocalFirstModels(cache, false),
      gate: new JobGate(),
      catalog,
      residency: new ResidencyStore(dir),
      log,
      port: 0,
      streamHost: '127.0.0.1',
      streamPort: listenerPort(),
    });
    try {
      expect(second.stream()).toEqual({
        on: false,
        problem: `127.0.0.1:${listenerPort()} is taken by another program (or another worker); set stream_port in config.toml or STUDIO_WORKER_STREAM_PORT`,
      });
      const discovery = await readFile(join(otherDir, 'local-api.json'), 'utf8');
      const otherToken = (JSON.parse(discovery) as { token: string }).token;
      const res = await fetch(`${second.url}/stream-tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${otherToken}`, 'content-type': 'application/json' },
        body: '{"model":"stt-a"}',
      });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({
        error: 'stream_listener_down',
        message: expect.stringContaining('the stream listener is not running: 127.0.0.1:') as unknown,
      });
      const models = await fetch(`${second.url}/models`, {
        headers: { authorization: `Bearer ${otherToken}` },
      });
      expect(models.status).toBe(200);
    } finally {
      await second.close();
      await rm(otherDir, { recursive: true, force: true });
    }
  });
});

describe('a stream session end to end: model loaded through the lifecycle, token minted, ws session', () => {
  const grant = async (model = 'stt-a') =>
    ((await (await mint({ model })).json()) as { token: string }).token;

  it('answers a model that is not loaded with the original error, and records no job', async () => {
    seen.length = 0;
    const client = await Client.connect(wsUrl(await grant('stt-b')));
    expect((await client.drain()).frames).toEqual([{ error: 'model stt-b is not loaded (unloaded)' }]);
    expect(seen).toEqual([]);
  });

  it('streams partials then the final on a loaded model, and records the session as a local audio_stt job', async () => {
    await load('stt-a');
    seen.length = 0;
    const client = await Client.connect(wsUrl(await grant()));
    await client.send(pcm(200, 8000));
    await client.send('end');
    const { frames, code } = await client.drain();
    expect(frames).toEqual([
      { partial: true, text: 'w1' },
      { partial: true, text: 'w1 w2' },
      { final: true, text: 'w1 w2' },
    ]);
    expect(code).toBe(1005);
    await until(() => seen.some((e) => e.name === 'job:completed'));
    expect(seen.map((e) => e.name)).toEqual([
      'job:offered',
      'job:accepted',
      'job:offered',
      'job:result',
      'job:completed',
    ]);
    const last = seen[2]?.payload as WorkerEvents['job:offered'];
    expect(last.source).toBe('stream');
    expect(last.claim).toMatchObject({
      model: 'stt-a',
      assetName: 'stream',
      task: { kind: 'audio_stt', prompt: 'w1 w2', inputUrl: 'stream from 127.0.0.1' },
    });
    expect(seen[3]?.payload).toMatchObject({ kind: 'audio_stt', text: 'w1 w2' });
  });

  it('refuses a bad or expired token at the handshake with 401', async () => {
    await expect(Client.connect(wsUrl('nope'))).rejects.toEqual(new Refused(401, 'unknown stream token'));
  });

  it('unloading the model ends its session with `model unloaded` before the model goes, and fails the job with it', async () => {
    await load('stt-a');
    seen.length = 0;
    const client = await Client.connect(wsUrl(await grant()));
    await client.send(pcm(100, 8000));
    expect(await client.next()).toEqual({ partial: true, text: 'w1' });
    expect((await call('/models/stt-a/unload', { method: 'POST' })).status).toBe(202);
    const { frames } = await client.drain();
    expect(frames.slice(1)).toEqual([{ error: 'model unloaded' }]);
    await until(() => engine.unloads.some((u) => u.model === 'stt-a'));
    // The transcriber was closed (the session over) before the engine let the model go.
    expect(engine.transcribers.at(-1)?.closed).toBe(true);
    await until(() => seen.some((e) => e.name === 'job:failed'));
    expect(seen.find((e) => e.name === 'job:failed')?.payload).toMatchObject({
      kind: 'audio_stt',
      error: 'model unloaded',
      retryable: false,
    });
    const state = (await (await call('/models/stt-a/state')).json()) as { state: string };
    expect(state.state).toBe('unloaded');
  });

  it('reports the listener in its status: on, where, how many stream now', () => {
    expect(api.stream()).toEqual({
      on: true,
      host: '127.0.0.1',
      port: listenerPort(),
      path: '/transcribe',
      sessions: 0,
    });
  });
});
