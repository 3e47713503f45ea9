/** A test's WebSocket client for the stream listener (the `ws` package), as the original's harness. */
import WebSocket from 'ws';
import {
  StreamTokens,
  startStreamListener,
  type StreamListener,
  type StreamListenerOptions,
  type StreamSessionEvent,
  type Transcriber,
} from '../../src/stt-stream/index.js';
import { WordPerChunk } from './scripted.js';

/** An HTTP refusal at the handshake. */
export class Refused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`refused with ${status}: ${body}`);
  }
}

/** Every text frame from the start, parsed, and the close code. */
export class Client {
  readonly frames: unknown[] = [];
  readonly closed: Promise<number>;
  private waiters: (() => void)[] = [];
  private read = 0;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, binary) => {
      if (binary) return;
      this.frames.push(JSON.parse((data as Buffer).toString()));
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  }

  static connect(url: string): Promise<Client> {
    const ws = new WebSocket(url);
    return new Promise((resolve, reject) => {
      ws.on('error', reject);
      ws.once('open', () => resolve(new Client(ws)));
      ws.once('unexpected-response', (req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          reject(new Refused(res.statusCode ?? 0, body));
          req.destroy();
        });
      });
    });
  }

  send(data: Buffer | string): Promise<void> {
    return new Promise((resolve, reject) => this.ws.send(data, (e) => (e ? reject(e) : resolve())));
  }

  /** The next text frame not yet read. */
  async next(): Promise<unknown> {
    while (this.frames.length <= this.read) await new Promise<void>((r) => this.waiters.push(r));
    return this.frames[this.read++];
  }

  /** Every text frame until the server closes, and the close code. */
  async drain(): Promise<{ frames: unknown[]; code: number }> {
    const code = await this.closed;
    return { frames: this.frames, code };
  }
}

export interface Harness {
  listener: StreamListener;
  tokens: StreamTokens;
  /** Models that are "loaded": the others answer the original's not-loaded error. */
  loaded: Set<string>;
  events: StreamSessionEvent[];
  transcribers: WordPerChunk[];
  token: (model?: string) => string;
  url: (token: string, path?: string) => string;
  connect: (token: string, path?: string) => Promise<Client>;
}

/** A listener on 127.0.0.1:any with `stt-a` loaded and WordPerChunk transcribers. */
export async function startHarness(
  opts: Partial<StreamListenerOptions> & { loaded?: string[] } = {},
): Promise<Harness> {
  const tokens = opts.tokens ?? new StreamTokens();
  const loaded = new Set(opts.loaded ?? ['stt-a']);
  const events: StreamSessionEvent[] = [];
  const transcribers: WordPerChunk[] = [];
  const open = (model: string): Promise<Transcriber | string> => {
    if (!loaded.has(model)) return Promise.resolve(`model ${model} is not loaded (unloaded)`);
    const t = new WordPerChunk();
    transcribers.push(t);
    return Promise.resolve(t);
  };
  const listener = await startStreamListener({
    host: '127.0.0.1',
    port: 0,
    open,
    closeGraceMs: 200,
    onSession: (e) => events.push(e),
    ...opts,
    tokens,
  });
  const url = (token: string, path = '/transcribe'): string =>
    `ws://127.0.0.1:${listener.port}${path}?token=${token}`;
  return {
    listener,
    tokens,
    loaded,
    events,
    transcribers,
    token: (model = 'stt-a') => tokens.mint(model, 300).token,
    url,
    connect: (token, path) => Client.connect(url(token, path)),
  };
}

/** Polls `check` every 10 ms until it holds (or fails after `ms`). */
export async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
