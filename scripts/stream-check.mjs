#!/usr/bin/env node
/**
 * A real streaming transcription through the built worker (scripts/gpu-check.sh runs it; it can
 * run alone): `node scripts/stream-check.mjs <app> <model dir> <wav or -> <work dir>`.
 *
 * The model folder holds a sherpa-onnx streaming transducer (*encoder*.onnx, *decoder*.onnx,
 * *joiner*.onnx, tokens.txt) already on this machine: nothing is downloaded. It is put in a fresh
 * catalogue (file: URLs), loaded through the local API (`POST /models/:id/load`, the parakeet
 * engine's own process), a stream token is minted (`POST /stream-tokens`), and the WAV (any PCM16
 * rate and channels; resampled here to 16 kHz mono) is streamed to the listener in 100 ms frames,
 * then `end`. Prints one JSON line: load seconds, partials, the final, audio and stream seconds.
 * With `-` for the WAV, only the load is timed. Exit 1 on any failure, with the reason.
 */
/* global fetch */
import { readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';

const [appArg, modelArg, wavArg, workArg] = process.argv.slice(2);
if (!appArg || !modelArg || !wavArg || !workArg) {
  console.log('FAILED: usage: stream-check.mjs <app> <model dir> <wav or -> <work dir>');
  process.exit(1);
}
const app = resolve(appArg);
const dist = (path) => import(pathToFileURL(join(app, 'dist', path)).href);
const appRequire = createRequire(join(app, 'package.json'));
const { default: pino } = await import(pathToFileURL(appRequire.resolve('pino')).href);
const { default: WebSocket } = await import(pathToFileURL(appRequire.resolve('ws')).href);
const { ConfigStore, ResidencyStore } = await dist('config/index.js');
const { CatalogStore, serveLocalApi } = await dist('local-api/index.js');
const { EngineDispatcher } = await dist('engines/index.js');
const { ParakeetEngine } = await dist('engines/parakeet/index.js');
const { ModelCache } = await dist('models/index.js');
const { LocalFirstModels } = await dist('generate/index.js');
const { JobGate } = await dist('runner/index.js');

/** 16 kHz mono s16le from a PCM16 WAV of any rate and channel count (linear resampling). */
function toPcm16k(wav) {
  if (wav.toString('ascii', 0, 4) !== 'RIFF' || wav.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error('not a WAV file');
  }
  let at = 12;
  let fmt;
  while (at + 8 <= wav.length) {
    const id = wav.toString('ascii', at, at + 4);
    const size = wav.readUInt32LE(at + 4);
    if (id === 'fmt ') {
      fmt = {
        channels: wav.readUInt16LE(at + 10),
        rate: wav.readUInt32LE(at + 12),
        bits: wav.readUInt16LE(at + 22),
      };
    } else if (id === 'data') {
      if (!fmt || fmt.bits !== 16) throw new Error('only 16-bit PCM WAV files are read');
      const frames = Math.floor(Math.min(size, wav.length - at - 8) / (2 * fmt.channels));
      const mono = new Float32Array(frames);
      for (let f = 0; f < frames; f++) {
        let sum = 0;
        for (let c = 0; c < fmt.channels; c++) sum += wav.readInt16LE(at + 8 + 2 * (f * fmt.channels + c));
        mono[f] = sum / fmt.channels;
      }
      const out = Buffer.alloc(Math.floor((frames * 16_000) / fmt.rate) * 2);
      for (let i = 0; i < out.length / 2; i++) {
        const x = (i * fmt.rate) / 16_000;
        const j = Math.min(frames - 1, Math.floor(x));
        const k = Math.min(frames - 1, j + 1);
        const v = mono[j] + (mono[k] - mono[j]) * (x - j);
        out.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(v))), i * 2);
      }
      return out;
    }
    at += 8 + size + (size % 2);
  }
  throw new Error('the WAV file has no data chunk');
}

const log = pino({ level: 'warn' }, process.stderr);
const modelDir = resolve(modelArg);
const id = basename(modelDir).replace(/[^A-Za-z0-9._-]/g, '-');
const names = (await readdir(modelDir)).filter((n) => /\.(onnx|txt)$/.test(n));
const store = new ConfigStore(resolve(workArg));
const catalog = new CatalogStore(store.dir);
await catalog.upsert({
  id,
  kind: 'audio_stt',
  source: {
    engine: 'parakeet',
    files: names.map((filename) => ({
      role: 'model',
      filename,
      url: pathToFileURL(join(modelDir, filename)).href,
    })),
    cliDefaults: { cfgScale: 1, steps: 1, width: 1, height: 1 },
  },
});
const cache = new ModelCache({ root: join(store.dir, 'models'), log });
const dispatcher = new EngineDispatcher([new ParakeetEngine({ log })]);
const api = await serveLocalApi({
  store,
  dispatcher,
  models: new LocalFirstModels(cache, false),
  gate: new JobGate(),
  catalog,
  residency: new ResidencyStore(store.dir),
  log,
  port: 0,
  streamHost: '127.0.0.1',
});
const { token } = JSON.parse(await readFile(join(store.dir, 'local-api.json'), 'utf8'));
const call = (path, body) =>
  fetch(`${api.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  }).then((r) => r.json());

let failed;
try {
  const t0 = performance.now();
  await call(`/models/${id}/load`, {});
  let state = { state: 'loading' };
  while (state.state === 'loading') {
    await sleep(100);
    state = await call(`/models/${id}/state`);
  }
  const load = ((performance.now() - t0) / 1000).toFixed(1);
  if (state.state !== 'loaded')
    throw new Error(`the model did not load (${state.state}): ${state.error ?? ''}`);
  if (wavArg === '-') {
    console.log(JSON.stringify({ model: id, load }));
  } else {
    const pcm = toPcm16k(await readFile(wavArg));
    const grant = await call('/stream-tokens', { model: id });
    if (!grant.token) throw new Error(`no stream token: ${JSON.stringify(grant)}`);
    const ws = new WebSocket(`ws://127.0.0.1:${grant.port}${grant.path}?token=${grant.token}`);
    const frames = [];
    let firstPartial;
    const started = performance.now();
    const closed = new Promise((ok) => ws.once('close', ok));
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data));
      if (frame.partial && firstPartial === undefined) firstPartial = performance.now() - started;
      frames.push(frame);
    });
    await new Promise((ok, fail) => (ws.once('open', ok), ws.once('error', fail)));
    for (let at = 0; at < pcm.length; at += 3200) ws.send(pcm.subarray(at, at + 3200));
    ws.send('end');
    await closed;
    const final = frames.find((f) => f.final);
    const error = frames.find((f) => f.error);
    if (!final) throw new Error(`no final: ${error ? error.error : 'the listener closed without one'}`);
    console.log(
      JSON.stringify({
        model: id,
        load,
        audio: (pcm.length / 32_000).toFixed(1),
        stream: ((performance.now() - started) / 1000).toFixed(1),
        firstPartialMs: firstPartial === undefined ? null : Math.round(firstPartial),
        partials: frames.filter((f) => f.partial).length,
        final: final.text,
      }),
    );
  }
} catch (e) {
  failed = e instanceof Error ? e.message : String(e);
  console.log(`FAILED: ${failed}`);
} finally {
  await api.close();
  await dispatcher.close();
  await cache.close();
}
process.exit(failed ? 1 : 0);
