import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import WebSocket, { type RawData } from 'ws';
import { messageWithCause, toError } from '../util/index.js';
import { wireText, type ServerFrame } from './frames.js';
import { IDLE_CLOSE_CODE, idleMessage } from './limits.js';
import { StreamSession, type SessionOutcome } from './session.js';
import type { Transcriber } from './transcriber.js';

/** A session began: the model was free and its transcriber opened (or failed to). */
export interface StreamSessionStart {
  type: 'start';
  id: string;
  model: string;
  /** The client's address. */
  peer: string;
  startedAt: Date;
}

/** A session ended, however it ended; `error` is unset after a final or a cancel. */
export interface StreamSessionEnd extends Omit<StreamSessionStart, 'type'>, SessionOutcome {
  type: 'end';
  finishedAt: Date;
  /** PCM bytes received (32 per millisecond of audio). */
  audioBytes: number;
}

export type StreamSessionEvent = StreamSessionStart | StreamSessionEnd;

/**
 * Opens a fresh transcriber for a loaded model, or says why not as the client should read it
 * (e.g. "model stt-a is not loaded (unloaded)"). A rejection reads "could not open a stream: …".
 */
export type OpenTranscriber = (model: string) => Promise<Transcriber | string>;

export interface ConnectionDeps {
  ws: WebSocket;
  model: string;
  peer: string;
  open: OpenTranscriber;
  onSession?: ((event: StreamSessionEvent) => void) | undefined;
  log?: Logger | undefined;
  idleTimeoutMs: number;
  closeGraceMs: number;
}

/** Why a session stops from outside its frames: the client left or went quiet, or the server ends it. */
interface Halt {
  error: string;
  /** Whether the client is still there to be told; then the socket closes with `code` (none = 1005). */
  tell: boolean;
  code?: number | undefined;
}

interface Incoming {
  data: Buffer;
  binary: boolean;
}

// Frames queued past this pause the socket, so a slow model does not buffer a fast client in memory.
const QUEUE_HIGH_WATER = 8;

function asBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

function send(ws: WebSocket, frame: ServerFrame): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(wireText(frame));
}

/**
 * Sends frames to a socket that may already be gone, then closes it as the original does: a close
 * frame (no code unless given), up to `closeGraceMs` for the client's, then the socket is cut.
 */
export function sendAndClose(
  ws: WebSocket,
  frames: ServerFrame[],
  closeGraceMs: number,
  code?: number,
): void {
  for (const frame of frames) send(ws, frame);
  if (ws.readyState === WebSocket.CLOSED) return;
  // A paused socket would never read the client's close frame.
  if (ws.isPaused) ws.resume();
  if (ws.readyState === WebSocket.OPEN) {
    if (code === undefined) ws.close();
    else ws.close(code);
  }
  const grace = setTimeout(() => ws.terminate(), closeGraceMs);
  ws.once('close', () => clearTimeout(grace));
}

/**
 * One accepted socket's session, from opening the transcriber to closing it: queues the client's
 * frames and hands them to a StreamSession one at a time, sends its replies, and ends on a final,
 * an error, a cancel, a client that left or went quiet, or `halt` from the listener. `run` resolves
 * only once no step is in flight and the transcriber is closed, so the model is free after it.
 */
export class StreamConnection {
  readonly id = randomUUID();
  private readonly deps: ConnectionDeps;
  private readonly queue: Incoming[] = [];
  private halted: Halt | undefined;
  private wake: (() => void) | undefined;
  private brokeWith: string | undefined;
  private audioBytes = 0;

  constructor(deps: ConnectionDeps) {
    this.deps = deps;
    const { ws } = deps;
    ws.on('message', (data, binary) => this.onMessage(asBuffer(data), binary));
    // ws reports a protocol breach here (an oversized frame: 1009, bad UTF-8: 1007), then closes.
    ws.on('error', (e) => {
      this.brokeWith ??= `stream broke: ${toError(e).message}`;
    });
    ws.on('close', () => this.halt(this.brokeWith ?? 'client left before the final', { tell: false }));
  }

  get model(): string {
    return this.deps.model;
  }

  /**
   * Ends the session from outside (an unload, a shutdown) or after the client left: the frame in hand
   * finishes, queued ones are dropped, then (with `tell`) the client gets `{"error": message}`.
   */
  halt(error: string, opts: { tell: boolean; code?: number }): void {
    if (this.halted) return;
    this.halted = { error, ...opts };
    this.queue.length = 0;
    this.wakeUp();
  }

  async run(): Promise<void> {
    const { model, open, closeGraceMs, peer, log } = this.deps;
    const startedAt = new Date();
    let opened: Transcriber | string | Error;
    try {
      opened = await open(model);
    } catch (e) {
      opened = new Error(`could not open a stream: ${messageWithCause(e)}`);
    }
    if (typeof opened === 'string') {
      // A refusal (not loaded, unloading) is no session and no job, as the original's.
      log?.info({ op: 'stream', model, peer, reason: opened }, 'stream refused');
      this.halt(opened, { tell: false });
      sendAndClose(this.deps.ws, [{ kind: 'error', message: opened }], closeGraceMs);
      return;
    }
    this.emit({ type: 'start', id: this.id, model, peer, startedAt });
    log?.info({ op: 'stream', model, peer }, 'stream opened');
    let outcome: SessionOutcome = {};
    try {
      outcome = await this.serve(opened);
    } catch (e) {
      outcome = { error: messageWithCause(e) };
      sendAndClose(this.deps.ws, [{ kind: 'error', message: outcome.error ?? '' }], closeGraceMs);
    } finally {
      // Whatever arrives from now on is not for this session.
      this.halt(outcome.error ?? 'session over', { tell: false });
      if (!(opened instanceof Error)) await this.closeTranscriber(opened);
      this.finish(startedAt, outcome);
    }
  }

  private async serve(opened: Transcriber | Error): Promise<SessionOutcome> {
    const { ws, closeGraceMs } = this.deps;
    if (opened instanceof Error) throw opened;
    let session: StreamSession;
    try {
      session = await StreamSession.start(opened);
    } catch (e) {
      throw new Error(`could not open a stream: ${messageWithCause(e)}`);
    }
    for (;;) {
      const next = await this.next();
      if ('error' in next) {
        if (next.tell) sendAndClose(ws, [{ kind: 'error', message: next.error }], closeGraceMs, next.code);
        return { error: next.error };
      }
      if (next.binary) this.audioBytes += next.data.length;
      const reply = next.binary ? await session.audio(next.data) : await session.text(next.data.toString());
      if (reply.next === 'close') {
        sendAndClose(ws, reply.frames, closeGraceMs);
        return session.outcome;
      }
      for (const frame of reply.frames) send(ws, frame);
    }
  }

  private onMessage(data: Buffer, binary: boolean): void {
    if (this.halted) return;
    this.queue.push({ data, binary });
    if (this.queue.length >= QUEUE_HIGH_WATER) this.deps.ws.pause();
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** The next thing to do: a halt wins over queued frames; waiting on an empty queue arms the idle timer. */
  private async next(): Promise<Incoming | Halt> {
    for (;;) {
      if (this.halted) return this.halted;
      const frame = this.queue.shift();
      if (frame) {
        if (this.queue.length < QUEUE_HIGH_WATER && this.deps.ws.isPaused) this.deps.ws.resume();
        return frame;
      }
      const { idleTimeoutMs } = this.deps;
      const idle = setTimeout(
        () => this.halt(idleMessage(idleTimeoutMs), { tell: true, code: IDLE_CLOSE_CODE }),
        idleTimeoutMs,
      );
      await new Promise<void>((resolve) => (this.wake = resolve));
      clearTimeout(idle);
    }
  }

  private async closeTranscriber(transcriber: Transcriber): Promise<void> {
    try {
      await transcriber.close?.();
    } catch (e) {
      this.deps.log?.warn(
        { op: 'stream', model: this.model, err: toError(e) },
        'closing a transcriber failed',
      );
    }
  }

  private finish(startedAt: Date, outcome: SessionOutcome): void {
    const finishedAt = new Date();
    const { model, peer, log } = this.deps;
    log?.info(
      {
        op: 'stream',
        model,
        peer,
        audioMs: Math.round(this.audioBytes / 32),
        finalChars: outcome.finalText?.length ?? 0,
        error: outcome.error,
        elapsedMs: finishedAt.getTime() - startedAt.getTime(),
      },
      'stream closed',
    );
    const { id, audioBytes } = this;
    this.emit({ type: 'end', id, model, peer, startedAt, finishedAt, audioBytes, ...outcome });
  }

  private emit(event: StreamSessionEvent): void {
    try {
      this.deps.onSession?.(event);
    } catch (e) {
      this.deps.log?.warn({ op: 'stream', err: toError(e) }, 'a stream session hook threw');
    }
  }
}
