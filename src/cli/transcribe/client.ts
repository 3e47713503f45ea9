import WebSocket from 'ws';
import { DEFAULT_STREAM_PORT } from '../../stt-stream/index.js';
import { ExitCode, UserError, sleep } from '../../util/index.js';
import { BYTES_PER_MS, type AudioSource } from './audio.js';

/** A listener that has not finished the upgrade by then is taken for a dead one (the server's own limit). */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** After the final, an error or a cancel, how long the listener gets to close before the socket is cut. */
const CLOSE_WAIT_MS = 2_000;

/** One message from the listener, parsed; `raw` is the JSON as sent (undefined when it was not JSON). */
export type ServerMessage = { raw: unknown } & (
  | { kind: 'partial'; text: string }
  | { kind: 'final'; text: string }
  | { kind: 'error'; message: string }
  | { kind: 'other' }
);

/** How the stream ended: the final (success), else the listener's first error, and the close code. */
export interface StreamResult {
  final?: string;
  error?: string;
  closeCode: number;
}

/** The URL as it may be shown: the token is a credential for as long as it lives, so it is never printed. */
export function redactToken(url: string): string {
  return url.replace(/([?&]token=)[^&]*/, '$1…');
}

export function parseMessage(text: string): ServerMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return {
      raw: undefined,
      kind: 'error',
      message: `the listener sent something that is not JSON: ${text.slice(0, 200)}`,
    };
  }
  const j = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  if (typeof j.error === 'string') return { raw, kind: 'error', message: j.error };
  if (j.final === true && typeof j.text === 'string') return { raw, kind: 'final', text: j.text };
  if (j.partial === true && typeof j.text === 'string') return { raw, kind: 'partial', text: j.text };
  return { raw, kind: 'other' };
}

/**
 * A client of the stream listener: PCM frames out (then `end`, or `cancel`), messages in, until the
 * listener closes. Sending stops as soon as the stream is over (a final, an error, a close), since a
 * listener may end the utterance by itself when it hears silence.
 */
export class StreamClient {
  /** Resolves once the socket is closed, whoever closed it. */
  readonly done: Promise<StreamResult>;
  private final: string | undefined;
  private error: string | undefined;
  private over = false;
  private readonly halt = new AbortController();

  private constructor(
    private readonly ws: WebSocket,
    onMessage: (message: ServerMessage) => void,
  ) {
    ws.on('message', (data: WebSocket.RawData, binary: boolean) => {
      if (binary) return;
      const message = parseMessage(rawText(data));
      if (message.kind === 'final') this.final = message.text;
      if (message.kind === 'error') this.error ??= message.message;
      onMessage(message);
      if (message.kind === 'final' || message.kind === 'error') this.stop();
    });
    this.done = new Promise((resolve) =>
      ws.once('close', (closeCode: number) => {
        this.stop();
        resolve({
          ...(this.final !== undefined ? { final: this.final } : {}),
          ...(this.error !== undefined ? { error: this.error } : {}),
          closeCode,
        });
      }),
    );
  }

  /** Opens the stream; a refusal at the handshake or a listener not there becomes a UserError. */
  static connect(url: string, onMessage: (message: ServerMessage) => void): Promise<StreamClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: HANDSHAKE_TIMEOUT_MS });
    // Registered now so that a message sent right after the upgrade (a busy model) is not missed.
    const client = new StreamClient(ws, onMessage);
    return new Promise((resolve, reject) => {
      let settled = false;
      // After the handshake an 'error' is followed by 'close', which `done` reports; an unheard one would throw.
      ws.on('error', (e: Error) => {
        if (settled) return;
        settled = true;
        reject(unreachable(url, e));
      });
      ws.once('open', () => {
        settled = true;
        resolve(client);
      });
      ws.once('unexpected-response', (req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          settled = true;
          reject(handshakeRefusal(url, res.statusCode ?? 0, body.trim()));
          req.destroy();
        });
      });
    });
  }

  /**
   * Sends the audio, then `end`. Without `realtime` each frame waits for the previous one to be
   * written out, which is the listener's own backpressure (it stops reading while it is behind);
   * with it, each 100 ms frame goes out once 100 ms of wall time have passed, as a microphone's.
   */
  async send(source: AudioSource, realtime: boolean): Promise<void> {
    const started = performance.now();
    let sentBytes = 0;
    try {
      for await (const frame of source.frames) {
        if (this.over) break;
        sentBytes += frame.length;
        const wait = started + sentBytes / BYTES_PER_MS - performance.now();
        if (realtime && wait > 0) await sleep(wait, this.halt.signal);
        if (this.over) break;
        await this.write(frame);
      }
      if (!this.over) await this.write('end');
    } catch (e) {
      // Reading stops by being cut off (stdin destroyed, the pause aborted) once the stream is over.
      if (!this.over) throw e;
    }
  }

  /** Sends `cancel` (the listener drops the utterance and closes) and waits for the close. */
  async cancel(): Promise<StreamResult> {
    const open = this.ws.readyState === WebSocket.OPEN;
    this.stop();
    if (open) this.ws.send('cancel');
    return this.done;
  }

  private write(data: Buffer | string): Promise<void> {
    if (this.ws.readyState !== WebSocket.OPEN) {
      this.stop();
      return Promise.resolve();
    }
    // A failed write means the socket is going: its close ends the stream and says how.
    return new Promise((resolve) =>
      this.ws.send(data, (e) => {
        if (e) this.stop();
        resolve();
      }),
    );
  }

  /** No more sending; the listener has CLOSE_WAIT_MS to close before the socket is cut. */
  private stop(): void {
    if (this.over) return;
    this.over = true;
    this.halt.abort();
    const cut = setTimeout(() => this.ws.terminate(), CLOSE_WAIT_MS);
    cut.unref();
    void this.done.then(() => clearTimeout(cut));
  }
}

function rawText(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
}

/** Nothing listening there (or not a WebSocket server): the address or the worker is the fix. */
function unreachable(url: string, e: Error): UserError {
  return new UserError(
    `could not reach the stream listener at ${redactToken(url)}: ${e.message}; is a worker running there, and is that its stream port (${DEFAULT_STREAM_PORT} by default)?`,
  );
}

/** The listener said no before the stream opened: 401 (the token) and 404 (the path) are the user's to fix. */
function handshakeRefusal(url: string, status: number, body: string): UserError {
  const said = body ? `${status} ${body}` : String(status);
  if (status === 401) {
    return new UserError(
      `the stream listener refused the token (${said}): tokens live 10 minutes and open streams only on the worker that minted them; mint a fresh one there (POST /stream-tokens on its local API), or use --model on that machine`,
    );
  }
  if (status === 404) {
    return new UserError(`the stream listener has no such path (${said}): ${redactToken(url)}`);
  }
  return new UserError(
    `the stream listener at ${redactToken(url)} refused the stream (HTTP ${said})`,
    ExitCode.checkFailed,
  );
}
