import type { Duplex } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import { z } from 'zod';
import { CloseCode, WorkerFrameSchema } from '../protocol/index.js';
import type { StudioErrorCode, WorkerFrame, WorkerFrameOf } from '../protocol/index.js';
import type { OutgoingFrame } from './types.js';

/** What a connection needs from the studio around it. */
export interface ConnectionHost {
  readonly helloTimeoutMs: number;
  readonly heartbeatTimeoutMs: number;
  onHello(conn: WorkerConnection, frame: WorkerFrameOf<'hello'>): void;
  onFrame(conn: WorkerConnection, frame: Exclude<WorkerFrame, { type: 'hello' }>): void;
  onViolation(conn: WorkerConnection, reason: string, frame: unknown): void;
  onSent(conn: WorkerConnection, frame: OutgoingFrame): void;
  onReceived(conn: WorkerConnection, frame: WorkerFrame): void;
  onClosed(conn: WorkerConnection, code: number, reason: string): void;
}

const MAX_CLOSE_REASON_BYTES = 123;

function closeReason(reason: string): string {
  let out = reason;
  while (Buffer.byteLength(out) > MAX_CLOSE_REASON_BYTES) out = out.slice(0, -1);
  return out;
}

function asText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data as ArrayBuffer).toString('utf8');
}

/**
 * One worker's WebSocket on the studio side. It enforces the framing rules (text JSON frames that
 * parse as worker frames, `hello` first and only once) and the two timers (hello, then idle); the
 * host decides what each frame means. Once `shutdown` runs, later frames are ignored and the host
 * hears `onClosed` exactly once.
 */
export class WorkerConnection {
  welcomed = false;
  /** The job offered to (and maybe accepted by) this connection; one at a time. */
  offeredJobId: string | undefined;
  /** Set by a transient reject: no offer for this connection until its next heartbeat (no spinning). */
  skipUntilHeartbeat = false;
  private helloSeen = false;
  private closed = false;
  private readonly helloTimer: NodeJS.Timeout;
  private idleTimer: NodeJS.Timeout | undefined;

  /** Set by `stopReading`: nothing more is sent, and the socket is no longer read. */
  private deaf = false;

  constructor(
    readonly ws: WebSocket,
    readonly workerId: string,
    private readonly host: ConnectionHost,
    /** The upgraded TCP socket, for playing a half-open connection. */
    private readonly socket?: Duplex,
  ) {
    this.helloTimer = setTimeout(
      () => this.violate(`no hello within ${host.helloTimeoutMs} ms`, undefined),
      host.helloTimeoutMs,
    );
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('close', (code, reason) => this.detach(code, reason.toString('utf8')));
    ws.on('error', () => this.detach(1006, 'socket error'));
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  send(frame: OutgoingFrame): void {
    if (this.closed || this.deaf || this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(JSON.stringify(frame));
    this.host.onSent(this, frame);
  }

  /** Records a protocol violation, says why in an `error` frame and closes with 4002. */
  violate(reason: string, frame: unknown): void {
    if (this.closed) return;
    this.host.onViolation(this, reason, frame);
    this.shutdown(CloseCode.protocolViolation, reason, { code: 'protocol_violation', message: reason });
  }

  /** Sends `error` first when given, closes with `code`, and detaches at once. Idempotent. */
  shutdown(code: number, reason: string, error?: { code: StudioErrorCode; message: string }): void {
    if (this.closed) return;
    if (error) this.send({ type: 'error', ...error });
    try {
      // A half-open connection (`stopReading`) would never finish a close handshake: cut it.
      if (this.deaf) this.ws.terminate();
      else this.ws.close(code, closeReason(reason));
    } catch {
      // An out-of-range code from an admin call: no close frame can carry it, so cut the socket.
      this.ws.terminate();
    }
    this.detach(code, reason);
  }

  /**
   * Plays a half-open connection: the socket stays open, but nothing on it is read or answered
   * (no timers fire either). The session ends when another connection of the worker says hello.
   */
  stopReading(): void {
    this.deaf = true;
    clearTimeout(this.idleTimer);
    this.socket?.pause();
  }

  /** Cuts the TCP connection without a close frame (the worker sees 1006). */
  drop(): void {
    this.ws.terminate();
  }

  markWelcomed(): void {
    this.welcomed = true;
    this.idleTimer = setTimeout(
      () => this.shutdown(1001, `no frame for ${this.host.heartbeatTimeoutMs} ms`),
      this.host.heartbeatTimeoutMs,
    );
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.closed || this.deaf) return;
    if (isBinary) {
      const bytes = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
      this.violate('binary frame; frames are JSON text', { binaryBytes: bytes });
      return;
    }
    const text = asText(data);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      this.violate('frame is not valid JSON', text.slice(0, 1000));
      return;
    }
    if ((json as { type?: unknown } | null)?.type === 'readyForMore') {
      // The production studio drives offers itself; the extra trigger raced it and double-offered.
      this.violate('readyForMore: the studio offers the next job by itself; workers must not ask', json);
      return;
    }
    const parsed = WorkerFrameSchema.safeParse(json);
    if (!parsed.success) {
      this.violate(`invalid frame: ${z.prettifyError(parsed.error)}`, json);
      return;
    }
    this.idleTimer?.refresh();
    const frame = parsed.data;
    this.host.onReceived(this, frame);
    if (frame.type === 'hello') {
      if (this.helloSeen) return this.violate('hello sent twice', json);
      this.helloSeen = true;
      clearTimeout(this.helloTimer);
      this.host.onHello(this, frame);
    } else if (!this.helloSeen) {
      this.violate(`${frame.type} before hello`, json);
    } else {
      this.host.onFrame(this, frame);
    }
  }

  private detach(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.helloTimer);
    clearTimeout(this.idleTimer);
    this.host.onClosed(this, code, reason);
  }
}
