import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachDaemonControlWithoutDashboard } from '../../src/dashboard/index.js';
import { SyntheticEngine } from '../../src/engines/index.js';
import { ParakeetEngine } from '../../src/engines/parakeet/index.js';
import { CatalogStore, type DaemonStatus, type LocalJobRow } from '../../src/local-api/index.js';
import { Client } from '../stt-stream/client.js';
import { pcm } from '../stt-stream/scripted.js';
import type { Harness, RunningWorker } from '../support/harness.js';
import { startHarness } from '../support/harness.js';
import { ScriptedStreamEngine } from '../support/scripted-stream-engine.js';
import { localApiCaller } from '../support/local-api.js';
import { standInStreamModel } from '../support/stand-in-stream-model.js';

// The stream listener as a real worker serves it beside its local API (connected to the dev
// studio): a session is a local job in `/jobs` and `/daemon/status`, the status says where the
// listener is, a taken port is a warning and not the worker's end. The speech model is the
// SCRIPTED STAND-IN of test/support/scripted-stream-engine.ts, except in the last case, where the
// real sherpa-onnx is handed STAND-IN files (no weights here) and refuses them.

const HAS_SHERPA = (() => {
  try {
    createRequire(import.meta.url).resolve('sherpa-onnx-node');
    return true;
  } catch {
    return false;
  }
})();
const cli = { cfgScale: 1, steps: 1, width: 64, height: 64 };
const stt = {
  kind: 'audio_stt' as const,
  source: { engine: 'parakeet' as const, files: [], cliDefaults: cli },
};

interface Api {
  url: string;
  call: (path: string, init?: RequestInit) => Promise<Response>;
}

async function apiOf(h: Harness, w: RunningWorker): Promise<Api> {
  const url = w.worker.getStatus().localApi.url ?? '';
  const { token } = JSON.parse(await readFile(join(h.configDir, 'local-api.json'), 'utf8')) as {
    token: string;
  };
  const call = localApiCaller(url, token);
  return { url, call };
}

/** Polls `read` every 50 ms until `done` holds of its answer (or 15 s pass); answers the last one. */
async function poll<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 15_000;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    value = await read();
  }
  return value;
}

const stateOf = (api: Api, model: string) => async () =>
  (await (await api.call(`/models/${model}/state`)).json()) as { state: string; error?: string };

describe('the stream listener in a real worker (scripted stand-in speech model)', () => {
  let h: Harness;
  let w: RunningWorker;
  let api: Api;
  let detach: () => void;

  beforeAll(async () => {
    h = await startHarness();
    await new CatalogStore(h.configDir).upsert({ id: 'stt-a', ...stt });
    w = h.startWorker({
      engines: [new SyntheticEngine(), new ScriptedStreamEngine()],
      localApi: { port: 0 },
    });
    await w.next('session:welcomed');
    detach = attachDaemonControlWithoutDashboard(w.worker, h.store, w.log);
    api = await apiOf(h, w);
  });
  afterAll(async () => {
    detach?.();
    await h?.close();
  });

  it('says in its status that it listens on the LAN, and where', () => {
    const stream = w.worker.getStatus().localApi.stream;
    expect(stream).toMatchObject({ on: true, path: '/transcribe', sessions: 0 });
    expect(stream?.on && stream.addr).toMatch(/^0\.0\.0\.0:\d+$/);
  });

  it('records a session as a local audio_stt job, its prompt the final text, listed by /jobs and /daemon/status', async () => {
    expect((await api.call('/models/stt-a/load', { method: 'POST' })).status).toBe(202);
    expect((await poll(stateOf(api, 'stt-a'), (s) => s.state === 'loaded')).state).toBe('loaded');
    const grant = (await (
      await api.call('/stream-tokens', { method: 'POST', body: '{"model":"stt-a"}' })
    ).json()) as { token: string; port: number; path: string };
    const stream = w.worker.getStatus().localApi.stream;
    expect(stream?.on && stream.addr).toBe(`0.0.0.0:${grant.port}`);
    // The listener binds the LAN: loopback reaches it too.
    const client = await Client.connect(`ws://127.0.0.1:${grant.port}${grant.path}?token=${grant.token}`);
    await client.send(pcm(200, 8000));
    await client.send('end');
    expect((await client.drain()).frames.at(-1)).toEqual({ final: true, text: 'w1 w2' });

    const jobs = await poll(
      async () => (await (await api.call('/jobs')).json()) as LocalJobRow[],
      (rows) => rows.length > 0,
    );
    expect(jobs).toEqual([
      expect.objectContaining({
        kind: 'audio_stt',
        model: 'stt-a',
        prompt: 'w1 w2',
        status: 'completed',
        reason: null,
      }),
    ]);
    expect(jobs[0]?.jobId).toMatch(/^stream-/);
    const status = (await (await api.call('/daemon/status')).json()) as DaemonStatus;
    // A local job of source stream, as the original's newer versions list it.
    expect(status.localJobs).toEqual([
      expect.objectContaining({ jobId: jobs[0]?.jobId, source: 'stream', prompt: 'w1 w2' }),
    ]);
    expect(status.recentJobs).toEqual([]);
  });
});

describe('a worker whose stream port is taken', () => {
  let h: Harness;
  let blocker: Server;

  beforeAll(async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '0.0.0.0', resolve));
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
  });

  it('works on with a warning; the status and /stream-tokens (503) say why', async () => {
    const port = (blocker.address() as { port: number }).port;
    await new CatalogStore(h.configDir).upsert({ id: 'stt-a', ...stt });
    const w = h.startWorker({
      engines: [new SyntheticEngine(), new ScriptedStreamEngine()],
      localApi: { port: 0, streamPort: port },
    });
    await w.next('session:welcomed');
    const why = `0.0.0.0:${port} is taken by another program (or another worker); set stream_port in config.toml or STUDIO_WORKER_STREAM_PORT`;
    expect(w.worker.getStatus().localApi).toMatchObject({ on: true, stream: { on: false, problem: why } });
    expect(h.logText()).toContain('stream listener could not bind; streaming speech is unavailable');
    const api = await apiOf(h, w);
    const res = await api.call('/stream-tokens', { method: 'POST', body: '{"model":"stt-a"}' });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      error: 'stream_listener_down',
      message: `the stream listener is not running: ${why}`,
    });
    expect(await w.stop()).toBeUndefined();
  });
});

describe('the real parakeet engine in a worker: stand-in model files (no weights here)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it.skipIf(!HAS_SHERPA)(
    "stand-in: loading non-ONNX files fails the model with sherpa-onnx's own error; the worker and its listener live on",
    async () => {
      await new CatalogStore(h.configDir).upsert({
        id: 'stand-in',
        kind: 'audio_stt',
        source: await standInStreamModel(join(h.configDir, 'stand-in-model')),
      });
      const w = h.startWorker({
        engines: [new SyntheticEngine(), new ParakeetEngine()],
        localApi: { port: 0 },
      });
      await w.next('session:welcomed');
      const api = await apiOf(h, w);
      expect((await api.call('/models/stand-in/load', { method: 'POST' })).status).toBe(202);
      const failed = await poll(stateOf(api, 'stand-in'), (s) => s.state === 'failed');
      expect(failed.state).toBe('failed');
      expect(failed.error).toMatch(/parakeet crashed \(SIGABRT\) while loading the model/);
      expect(failed.error).toMatch(/Load model from .*\.onnx failed:\s*Protobuf parsing failed/);
      // A token is minted all the same (loading is the session's question), and the session is told.
      const grant = (await (
        await api.call('/stream-tokens', { method: 'POST', body: '{"model":"stand-in"}' })
      ).json()) as { token: string; port: number };
      const client = await Client.connect(`ws://127.0.0.1:${grant.port}/transcribe?token=${grant.token}`);
      expect((await client.drain()).frames).toEqual([{ error: 'model stand-in is not loaded (failed)' }]);
      expect(w.worker.getStatus().state).toBe('running');
      expect(await w.stop()).toBeUndefined();
    },
  );
});
