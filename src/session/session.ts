import type { Logger } from 'pino';
import WebSocket from 'ws';
import type { WorkerEventBus } from '../events/index.js';
import type { LogShipper } from '../logs/index.js';
import type { Capabilities, Claim, WorkerFrame } from '../protocol/index.js';
import { CloseCode, sessionUrl } from '../protocol/index.js';
import { backoffDelay, isAbortError, sleep } from '../util/index.js';
import { SessionExhaustedError, SessionRefusedError } from './errors.js';
import { parseStudioFrame } from './parse.js';

export interface SessionOptions {
  apiBaseUrl: string;
  workerId: string;
  authToken: string;
  userAgent: string;
  capabilities: () => Capabilities;
  currentJobId: () => string | undefined;
  onOffer: (claim: Claim) => void;
  shipper: LogShipper;
  log: Logger;
  events: WorkerEventBus;
  /** Reconnect attempts in a row before giving up (config `ws_reconnect_attempts`). */
  reconnectAttempts: number;
  backoff?: { baseMs: number; capMs: number };
  heartbeatMs?: number;
  logFlushMs?: number;
  /** A session that hears nothing (not even a heartbeatAck) for this long is dead and is dropped. */
  deadAfterMs?: number;
  connectTimeoutMs?: number;
}

/** A text frame's payload as a string (ws hands out a Buffer, or fragments when fragmented). */
function rawText(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

export type SessionState = 'idle' | 'connecting' | 'open' | 'welcomed' | 'waiting' | 'closed';

interface ConnectionEnd {
  code: number;
  reason: string;
  welcomed: boolean;
}

/**
 * One WebSocket session with the studio, kept alive across drops.
 *
 * Each connection: upgrade (Bearer token) → `hello` → wait for `welcome` → heartbeats every 5 s and
 * log batches every 1 s → offers to the runner. A 401 upgrade or close 4001/4003/4004 ends the
 * session for good (`SessionRefusedError`). Any other drop reconnects after 1 s × 2^attempt (capped at
 * 30 s); a connection that reached `welcome` resets the count, and more than `reconnectAttempts`
 * failures in a row end with `SessionExhaustedError`.
 *
 * `completeJson` and `fail` frames are results: if the socket is down when they are sent they wait
 * and go out first after the next `welcome`, so a finished result is never dropped by a reconnect.
 */
export class Session {
  private ws: WebSocket | undefined;
  private welcomed = false;
  private stopping = false;
  private readonly pendingResults: WorkerFrame[] = [];
  private readonly stopController = new AbortController();
  private _state: SessionState = 'idle';
  private _nextAttemptAt: number | undefined;
  private lastHeartbeatAt: number | undefined;
  private readonly log: Logger;

  constructor(private readonly opts: SessionOptions) {
    this.log = opts.log.child({ category: 'session' });
  }

  get state(): SessionState {
    return this._state;
  }
  /** When the next reconnect attempt starts (epoch ms), while waiting for one. */
  get nextAttemptAt(): number | undefined {
    return this._nextAttemptAt;
  }
  get lastHeartbeatSentAt(): number | undefined {
    return this.lastHeartbeatAt;
  }

  /** The frame senders the runner uses. */
  readonly io = {
    accept: (jobId: string) => this.send({ type: 'accept', jobId }),
    reject: (jobId: string, reason: string) => this.send({ type: 'reject', jobId, reason }),
    completeJson: (jobId: string, result: unknown, prompt?: string) =>
      this.sendResult({ type: 'completeJson', jobId, result, ...(prompt !== undefined ? { prompt } : {}) }),
    fail: (jobId: string, error: string, retryable: boolean) =>
      this.sendResult({ type: 'fail', jobId, error, retryable }),
  };

  /** Runs until `stop()` (resolves) or until the studio refuses us / reconnects run out (rejects). */
  async run(signal?: AbortSignal): Promise<void> {
    const onAbort = () => void this.stop();
    signal?.addEventListener('abort', onAbort, { once: true });
    const backoff = this.opts.backoff ?? { baseMs: 1000, capMs: 30_000 };
    let failures = 0;
    try {
      while (!this.stopping) {
        const end = await this.connectOnce(failures);
        if (this.stopping) break;
        if (end.welcomed) failures = 0;
        failures++;
        const why = `close ${end.code}${end.reason ? ` (${end.reason})` : ''}`;
        if (failures > this.opts.reconnectAttempts)
          throw new SessionExhaustedError(this.opts.reconnectAttempts, why);
        const delayMs = backoffDelay(failures - 1, backoff);
        this.log.warn(
          `studio session dropped: ${why}; reconnect attempt ${failures}/${this.opts.reconnectAttempts} in ${delayMs} ms`,
        );
        this.opts.events.emit('session:reconnecting', { attempt: failures, delayMs });
        this._state = 'waiting';
        this._nextAttemptAt = Date.now() + delayMs;
        try {
          await sleep(delayMs, this.stopController.signal);
        } catch (e) {
          if (!isAbortError(e)) throw e;
        }
        this._nextAttemptAt = undefined;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this._state = 'closed';
    }
  }

  /** Ships the last logs and closes with 1000. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.stopController.abort();
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    if (ws.readyState === WebSocket.OPEN) {
      if (this.welcomed) this.flushLogs();
      ws.close(CloseCode.normal, 'worker stopping');
    } else {
      ws.terminate();
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 2000);
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private send(frame: WorkerFrame): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      this.log.warn(`cannot send ${frame.type}: the studio session is not open`);
      return false;
    }
    ws.send(JSON.stringify(frame));
    return true;
  }

  private sendResult(frame: WorkerFrame): void {
    if (this.welcomed && this.send(frame)) return;
    this.log.warn(`session down: ${frame.type} queued until the next welcome`);
    this.pendingResults.push(frame);
  }

  private flushLogs(): void {
    const entries = this.opts.shipper.drain();
    if (entries.length > 0) this.send({ type: 'logBatch', entries });
  }

  private connectOnce(attempt: number): Promise<ConnectionEnd> {
    const url = sessionUrl(this.opts.apiBaseUrl, this.opts.workerId);
    this._state = 'connecting';
    this.welcomed = false;
    this.opts.events.emit('session:connecting', { attempt, url: url.href });
    this.log.info(`connecting to ${url.href}`);
    const ws = new WebSocket(url, {
      headers: { Authorization: `Bearer ${this.opts.authToken}`, 'User-Agent': this.opts.userAgent },
      handshakeTimeout: this.opts.connectTimeoutMs ?? 10_000,
      maxPayload: 64 * 1024 * 1024,
    });
    this.ws = ws;
    const timers: NodeJS.Timeout[] = [];
    let lastHeardAt = Date.now();
    let lastError: string | undefined;
    let refused: SessionRefusedError | undefined;

    return new Promise<ConnectionEnd>((resolve, reject) => {
      ws.on('open', () => {
        this._state = 'open';
        lastHeardAt = Date.now();
        ws.send(
          JSON.stringify({
            type: 'hello',
            authToken: this.opts.authToken,
            capabilities: this.opts.capabilities(),
          }),
        );
      });
      ws.on('pong', () => (lastHeardAt = Date.now()));
      ws.on('message', (data, isBinary) => {
        lastHeardAt = Date.now();
        if (isBinary) {
          this.log.warn('protocol error: the studio sent a binary frame; ignored');
          return;
        }
        const parsed = parseStudioFrame(rawText(data));
        if (!parsed.ok) {
          this.log.warn(`ignored a frame from the studio: ${parsed.reason}`);
          if (parsed.invalidOfferJobId !== undefined) {
            this.io.fail(parsed.invalidOfferJobId, parsed.reason, false);
          }
          return;
        }
        const frame = parsed.frame;
        switch (frame.type) {
          case 'welcome':
            this.onWelcome(frame.workerId, timers, () => lastHeardAt);
            return;
          case 'offer':
            this.opts.onOffer(frame.claim);
            return;
          case 'error':
            this.log.error(`studio error ${frame.code}: ${frame.message}`);
            return;
          case 'heartbeatAck':
          case 'completeAck':
          case 'failAck':
            return;
        }
      });
      ws.on('error', (err) => {
        lastError = err.message;
        const status = /Unexpected server response: (\d+)/.exec(err.message)?.[1];
        if (status === '401') {
          refused = new SessionRefusedError(
            'the studio refused this worker’s credentials (HTTP 401 on connect); run `studio-worker register --reset` to register again',
            401,
          );
        }
      });
      ws.on('close', (code, reasonBuf) => {
        for (const t of timers) clearInterval(t);
        const reason = reasonBuf.toString() || lastError || '';
        this.welcomed = false;
        this.ws = undefined;
        this.opts.events.emit('session:closed', { code, reason });
        const fatal = refused ?? this.fatalClose(code, reason);
        if (fatal && !this.stopping) {
          this.log.error(fatal.message);
          reject(fatal);
          return;
        }
        // Timers start only at `welcome`, so their presence says whether this connection got there.
        resolve({ code, reason, welcomed: timers.length > 0 });
      });
    });
  }

  private onWelcome(workerId: string, timers: NodeJS.Timeout[], lastHeard: () => number): void {
    const ws = this.ws;
    if (!ws || timers.length > 0) return;
    this.welcomed = true;
    this._state = 'welcomed';
    this.log.info(`studio session open as worker ${workerId}`);
    this.opts.events.emit('session:welcomed', { workerId });
    // Results held back by a drop go first, before any new offer can be answered.
    for (const frame of this.pendingResults.splice(0)) this.send(frame);
    const deadAfterMs = this.opts.deadAfterMs ?? 20_000;
    const heartbeat = () => {
      if (Date.now() - lastHeard() > deadAfterMs) {
        this.log.warn(`heard nothing from the studio for ${deadAfterMs} ms; dropping the session`);
        ws.terminate();
        return;
      }
      const currentJobId = this.opts.currentJobId();
      this.lastHeartbeatAt = Date.now();
      this.send({
        type: 'heartbeat',
        capabilities: this.opts.capabilities(),
        ...(currentJobId !== undefined ? { currentJobId } : {}),
      });
    };
    heartbeat();
    timers.push(setInterval(heartbeat, this.opts.heartbeatMs ?? 5000));
    timers.push(setInterval(() => this.flushLogs(), this.opts.logFlushMs ?? 1000));
  }

  private fatalClose(code: number, reason: string): SessionRefusedError | undefined {
    const suffix = reason ? `: ${reason}` : '';
    switch (code) {
      case CloseCode.authFailed:
        return new SessionRefusedError(
          `the studio refused this worker’s credentials (close 4001${suffix}); run \`studio-worker register --reset\` to register again`,
          code,
        );
      case CloseCode.duplicateWorker:
        return new SessionRefusedError(
          `another process connected as this worker (close 4003${suffix}); only one may run per registration`,
          code,
        );
      case CloseCode.workerDeleted:
        return new SessionRefusedError(
          `the studio deleted this worker (close 4004${suffix}); run \`studio-worker register --reset\` to register again`,
          code,
        );
      default:
        return undefined;
    }
  }
}
