import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeWavPcm16 } from '../../src/results/index.js';
import { StreamTokens, startStreamListener, type StreamListener } from '../../src/stt-stream/index.js';
import { Scripted } from '../stt-stream/scripted.js';
import { runCli } from '../support/cli.js';

// `transcribe --model`: the token is minted through the local API that the discovery file
// (local-api.json in the config folder) names. The local API's POST /stream-tokens route is being
// built elsewhere, so a tiny node:http server on loopback plays it here: a labelled STAND-IN that
// mints into the same StreamTokens as the REAL stream listener the CLI then streams to. The speech
// model is the scripted stand-in transcriber of test/stt-stream/scripted.ts.

const API_TOKEN = 'a'.repeat(64);

interface Minted {
  authorization: string | undefined;
  body: unknown;
}

let dir: string;
let tokens: StreamTokens;
let listener: StreamListener;
let api: Server | undefined;
let requests: Minted[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sw-transcribe-mint-'));
  tokens = new StreamTokens();
  requests = [];
  listener = await startStreamListener({
    tokens,
    host: '127.0.0.1',
    port: 0,
    closeGraceMs: 200,
    open: () => Promise.resolve(new Scripted(['\u2581hello', '\u2581there'])),
  });
});

afterEach(async () => {
  await listener.close();
  await new Promise<void>((resolve) => (api ? api.close(() => resolve()) : resolve()));
  api = undefined;
  await rm(dir, { recursive: true, force: true });
});

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => resolve(body));
  });
}

/**
 * STAND-IN for the local API's POST /stream-tokens (the real route is another engineer's work):
 * checks the bearer token, then answers as `answer` says; by default a real grant for the listener.
 */
async function startStandInLocalApi(
  answer?: (model: string) => { status: number; body: string } | undefined,
): Promise<string> {
  api = createServer((req, res) => {
    void readBody(req).then((text) => {
      const body = JSON.parse(text || '{}') as { model?: string };
      requests.push({ authorization: req.headers.authorization, body });
      if (req.method !== 'POST' || req.url !== '/stream-tokens') {
        res.writeHead(404).end();
        return;
      }
      if (req.headers.authorization !== `Bearer ${API_TOKEN}`) {
        res
          .writeHead(401, { 'content-type': 'text/plain' })
          .end('missing or invalid Authorization bearer token');
        return;
      }
      const model = body.model ?? '';
      const custom = answer?.(model);
      if (custom) {
        res.writeHead(custom.status, { 'content-type': 'application/json' }).end(custom.body);
        return;
      }
      const grant = tokens.mint(model);
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          token: grant.token,
          model,
          expiresAt: grant.expiresAt,
          port: listener.port,
          path: listener.path,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => api!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
}

async function writeDiscovery(url: string, token = API_TOKEN): Promise<void> {
  await writeFile(join(dir, 'local-api.json'), JSON.stringify({ url, token }));
}

async function writeWav(): Promise<string> {
  const samples = Int16Array.from({ length: 3200 }, (_, i) => (i % 2 === 0 ? 8000 : -8000));
  const path = join(dir, 'speech.wav');
  await writeFile(path, encodeWavPcm16(samples, 16_000, 1));
  return path;
}

describe('transcribe --model mints its token through the local API (stand-in route, real listener)', () => {
  it('mints with the discovery file’s bearer token and streams to the port the grant names (stand-in local API)', async () => {
    await writeDiscovery(await startStandInLocalApi());
    const wav = await writeWav();
    const { code, stdout, stderr } = await runCli([
      '--config-dir',
      dir,
      'transcribe',
      '--stream',
      wav,
      '--model',
      'stt-a',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toBe('hello\nhello there\nhello there\n');
    expect(requests).toEqual([{ authorization: `Bearer ${API_TOKEN}`, body: { model: 'stt-a' } }]);
  });

  it("finds the worker through the original's --config <file> too (stand-in local API)", async () => {
    await writeDiscovery(await startStandInLocalApi());
    const wav = await writeWav();
    const { code } = await runCli([
      '--config',
      join(dir, 'config.toml'),
      'transcribe',
      '--stream',
      wav,
      '--model',
      'stt-a',
      '--json',
    ]);
    expect(code).toBe(0);
    expect(requests).toHaveLength(1);
  });

  it('says no worker runs when there is no discovery file, or nothing answers at its URL (exit 2)', async () => {
    const wav = await writeWav();
    const none = await runCli(['--config-dir', dir, 'transcribe', '--stream', wav, '--model', 'stt-a']);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe(
      `studio-worker: no worker is running on ${dir} (no local-api.json there): start one (studio-worker run, ui or serve), name its folder with --config-dir, or stream elsewhere with --url\n`,
    );
    await writeDiscovery('http://127.0.0.1:1');
    const dead = await runCli(['--config-dir', dir, 'transcribe', '--stream', wav, '--model', 'stt-a']);
    expect(dead.code).toBe(2);
    expect(dead.stderr).toMatch(
      /^studio-worker: no worker answers at http:\/\/127\.0\.0\.1:1 \(from .*local-api\.json\)/,
    );
  });

  it("turns the local API's refusals into one line each, with the fitting exit code (stand-in local API)", async () => {
    const answers: Record<string, { status: number; body: string }> = {
      nope: { status: 404, body: '{"error":"unknown_model"}' },
      'chat-llm': { status: 400, body: '{"error":"not_a_stream_model"}' },
      down: { status: 503, body: '{"error":"stream_listener_down"}' },
    };
    const apiUrl = await startStandInLocalApi((model) => answers[model]);
    await writeDiscovery(apiUrl);
    const wav = await writeWav();
    const run = (model: string) =>
      runCli(['--config-dir', dir, 'transcribe', '--stream', wav, '--model', model]);

    const unknown = await run('nope');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^studio-worker: the worker has no model "nope" \(404 unknown_model\)/);
    const notStream = await run('chat-llm');
    expect(notStream.code).toBe(2);
    expect(notStream.stderr).toContain(
      'model "chat-llm" is not a streaming speech model (400 not_a_stream_model)',
    );
    const down = await run('down');
    expect(down.code).toBe(5);
    expect(down.stderr).toContain("the worker's stream listener is not running (503 stream_listener_down)");

    // A discovery file left by an earlier worker: its token is not the one the local API takes now.
    await writeDiscovery(apiUrl, 'stale');
    const stale = await run('stt-a');
    expect(stale.code).toBe(2);
    expect(stale.stderr).toMatch(/refused the token in .*local-api\.json \(401\): the file is stale/);
    for (const r of [unknown, notStream, down, stale]) expect(r.stderr.split('\n')).toHaveLength(2);
  });

  it('refuses --model with --url, and neither', async () => {
    const wav = await writeWav();
    const both = await runCli([
      'transcribe',
      '--stream',
      wav,
      '--model',
      'a',
      '--url',
      'ws://127.0.0.1:1/transcribe?token=x',
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give --model or --url, not both');
    const neither = await runCli(['transcribe', '--stream', wav]);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('name the streaming speech model with --model <id>');
  });
});
