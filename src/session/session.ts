import type { Logger } from 'pino';
import WebSocket from 'ws';
import type { WorkerEventBus } from '../events/index.js';
import type { LogShipper } from '../logs/index.js';
import type { Capabilities, Claim, RejectCode, WorkerFrame } from '../protocol/index.js';
import { CloseCode, SUBPROTOCOL, sessionUrl } from '../protocol/index.js';
import { backoffDelay, isAbortError, sleep } from '../util/index.js';
import { SessionExhaustedError, SessionRefusedError } from './errors.js';
import { parseStudioFrame } from './parse.js';
import { readRefusal } from './refusal.js';

export interface SessionOptions {
  apiBaseUrl: string;
  workerId: string;
  authToken: string;
  userAgent: string;
  capabilities: () => Capabilities;
  currentJobId: () => string | undefined;
  onOffer: (claim: Claim) => void;
  /** The studio acknowledged a `completeJson` (the stored result may go) or a `fail`. */
  onAck?: (type: 'completeAck' | 'failAck', jobId: string) => void;
  shipper: LogShipper;
  log: Logger;
  events: WorkerEventBus;
  /**
   * Failed connections in a row before giving up (config `ws_reconnect_attempts`); 0 means never
   * give up.
   */
  reconnectAttempts: number;
  backoff?: { baseMs: number; capMs: number };
  heartbeatMs?: number;
  logFlushMs?: number;
  /**
   * A connection on which nothing arrives for this long (from the upgrade on, before `welcome` as
   * well as after) is dead and is dropped. Default 20 s.
   */
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
 * Each connection: upgrade (Bearer token, subprotocol `studio-worker-v1`) → `hello` → wait for
 * `welcome` → heartbeats every 5 s (and at once when what the studio picks workers by, `autoEnabled`
 * or `vramThresholdGb`, changes) and log batches every 1 s → offers to the runner. A 401 upgrade
 * or close 4001/4003/4004 ends the session for good (`SessionRefusedError`). Any other drop
 * reconnects after 1 s × 2^attempt (capped at 30 s); a connection that reached `welcome` resets the
 * count, and with `reconnectAttempts` N > 0, N failures in a row end with `SessionExhaustedError`.
 *
 * Job frames (`accept`, `reject`, `completeJson`, `fail`) are sent only on a welcomed connection and
 * never carried over to the next one: the studio releases a job's claim when the socket closes and
 * answers a frame about a job it no longer holds with a protocol violation. Each welcome starts a
 * new `generation`, so the runner can tell which connection a job was accepted on.
 */
export class Session {
  private ws: WebSocket | undefined;
  private welcomed = false;
  private stopping = false;
  private readonly stopController = new AbortController();
  private _state: SessionState = 'idle';
  private _nextAttemptAt: number | undefined;
  private _generation = 0;
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
  /** Counts welcomes: the connection a job was accepted on is still the live one while this is unchanged. */
  get generation(): number {
    return this._generation;
  }
  get isWelcomed(): boolean {
    return this.welcomed;
  }

  /** The frame senders the runner uses; each says whether the frame went out on a welcomed connection. */
  readonly io = {
    accept: (jobId: string): boolean => this.sendJobFrame({ type: 'accept', jobId }),
    reject: (jobId: string, reason: string, code?: RejectCode): boolean =>
      this.sendJobFrame({ type: 'reject', jobId, reason, ...(code !== undefined ? { code } : {}) }),
    completeJson: (jobId: string, result: unknown, prompt: string): boolean =>
      this.sendJobFrame({ type: 'completeJson', jobId, result, prompt }),
    fail: (jobId: string, error: string, retryable: boolean): boolean =>
      this.sendJobFrame({ type: 'fail', jobId, error, retryable }),
  };

  /** Runs until `stop()` (resolves) or until the studio refuses us / reconnects run out (rejects). */
  async run(signal?: AbortSignal): Promise<void> {
    const onAbort = () => void this.stop();
    signal?.addEventListener('abort', onAbort, { once: true });
    const backoff = this.opts.backoff ?? { baseMs: 1000, capMs: 30_000 };
    const budget = this.opts.reconnectAttempts;
    let failures = 0;
    try {
      while (!this.stopping) {
        const end = await this.connectOnce(failures);
        if (this.stopping) break;
        if (end.welcomed) failures = 0;
        failures++;
        const why = `close ${end.code}${end.reason ? ` (${end.reason})` : ''}`;
        if (budget > 0 && failures > budget) throw new SessionExhaustedError(budget, why);
        const delayMs = backoffDelay(failures - 1, backoff);
        const of = budget > 0 ? `/${budget}` : '';
        this.log.warn(`studio session dropped: ${why}; reconnect attempt ${failures}${of} in ${delayMs} ms`);
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
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  private sendJobFrame(frame: WorkerFrame & { jobId: string }): boolean {
    if (this.welcomed && this.send(frame)) return true;
    this.log.warn(`not sending ${frame.type} for job ${frame.jobId}: the studio session is not open`);
    return false;
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
    const ws = new WebSocket(url, [SUBPROTOCOL], {
      headers: { Authorization: `Bearer ${this.opts.authToken}`, 'User-Agent': this.opts.userAgent },
      handshakeTimeout: this.opts.connectTimeoutMs ?? 10_000,
      maxPayload: 64 * 1024 * 1024,
    });
    // ws refuses a handshake whose answer lacks the subprotocol it asked for. A studio that does not
    // echo it is still the studio (the contract only says the production one does), so the answer
    // is read as if it had.
    ws.on('upgrade', (res) => {
      if (res.headers['sec-websocket-protocol'] === undefined) {
        res.headers['sec-websocket-protocol'] = SUBPROTOCOL;
      }
    });
    this.ws = ws;
    const timers: NodeJS.Timeout[] = [];
    const deadAfterMs = this.opts.deadAfterMs ?? 20_000;
    let idleTimer: NodeJS.Timeout | undefined;
    let lastError: string | undefined;
    let refused: SessionRefusedError | undefined;
    let upgradeRefused = false;
    const heard = () => idleTimer?.refresh();

    return new Promise<ConnectionEnd>((resolve, reject) => {
      ws.on('open', () => {
        this._state = 'open';
        // From the upgrade on, silence means a dead or half-open connection: a studio that never
        // welcomes us is dropped like one that stopped answering heartbeats.
        idleTimer = setTimeout(() => {
          this.log.warn(
            `heard nothing from the studio for ${deadAfterMs} ms${this.welcomed ? '' : ' (no welcome)'}; dropping the connection`,
          );
          lastError = `no frame for ${deadAfterMs} ms`;
          ws.terminate();
        }, deadAfterMs);
        ws.send(
          JSON.stringify({
            type: 'hello',
            authToken: this.opts.authToken,
            capabilities: this.opts.capabilities(),
          }),
        );
      });
      ws.on('pong', heard);
      ws.on('message', (data, isBinary) => {
        heard();
        if (isBinary) {
          this.log.warn('protocol error: the studio sent a binary frame; ignored');
          return;
        }
        const parsed = parseStudioFrame(rawText(data));
        if (!parsed.ok) {
          this.log.warn(`ignored a frame from the studio: ${parsed.reason}`);
          if (parsed.invalidOfferJobId !== undefined && this.welcomed) {
            this.io.fail(parsed.invalidOfferJobId, parsed.reason, false);
          }
          return;
        }
        const frame = parsed.frame;
        switch (frame.type) {
          case 'welcome':
            this.onWelcome(frame.workerId, timers);
            return;
          case 'offer':
            if (!this.welcomed) {
              this.log.warn(`ignored an offer of job ${frame.claim.jobId} that came before welcome`);
              return;
            }
            this.opts.onOffer(frame.claim);
            return;
          case 'error':
            this.log.error(`studio error ${frame.code}: ${frame.message}`);
            return;
          case 'completeAck':
          case 'failAck':
            this.opts.onAck?.(frame.type, frame.jobId);
            return;
          case 'heartbeatAck':
            return;
        }
      });
      // A refused upgrade: the studio's answer says why (and carries its reference id), so its
      // start is kept in the error, as the original keeps it.
      ws.on('unexpected-response', (_req, res) => {
        const status = res.statusCode ?? 0;
        upgradeRefused = true;
        void readRefusal(res).then((body) => {
          lastError = `HTTP ${status} on connect${body ? `: ${body}` : ''}`;
          if (status === 401) {
            refused = new SessionRefusedError(
              `the studio refused this worker’s credentials (${lastError}); run \`studio-worker register --reset\` to register again`,
              401,
            );
          }
          ws.terminate();
        });
      });
      ws.on('error', (err) => {
        // The refusal above already says more than ws's "closed before the connection was established".
        if (upgradeRefused) return;
        lastError = err.message;
      });
      ws.on('close', (code, reasonBuf) => {
        clearTimeout(idleTimer);
        for (const t of timers) clearInterval(t);
        const reason = reasonBuf.toString() || lastError || '';
        const welcomed = this.welcomed;
        this.welcomed = false;
        this.ws = undefined;
        this.opts.events.emit('session:closed', { code, reason });
        const fatal = refused ?? this.fatalClose(code, reason);
        if (fatal && !this.stopping) {
          this.log.error(fatal.message);
          reject(fatal);
          return;
        }
        resolve({ code, reason, welcomed });
      });
    });
  }

  private onWelcome(workerId: string, timers: NodeJS.Timeout[]): void {
    if (!this.ws || this.welcomed) return;
    this.welcomed = true;
    this._generation++;
    this._state = 'welcomed';
    this.log.info(`studio session open as worker ${workerId}`);
    // As the original says it on every connect: what this worker offers the studio.
    const caps = this.opts.capabilities();
    this.log.info(
      `advertising engine=${caps.engine}, auto_enabled=${caps.autoEnabled}, kinds=[${caps.taskKinds.join(', ')}], ${caps.supportedModels.length} model(s)=[${caps.supportedModels.join(', ')}]`,
    );
    this.opts.events.emit('session:welcomed', { workerId });
    let advertised = '';
    const heartbeat = (capabilities = this.opts.capabilities()) => {
      const currentJobId = this.opts.currentJobId();
      this.lastHeartbeatAt = Date.now();
      advertised = offerTerms(capabilities);
      this.send({
        type: 'heartbeat',
        capabilities,
        ...(currentJobId !== undefined ? { currentJobId } : {}),
      });
    };
    heartbeat();
    timers.push(setInterval(heartbeat, this.opts.heartbeatMs ?? 5000));
    timers.push(
      setInterval(() => {
        this.flushLogs();
        // What the studio picks workers by changed (paused, GPU too hot, memory short): say so now
        // rather than at the next beat, so fewer offers race the change and get turned down.
        const capabilities = this.opts.capabilities();
        if (offerTerms(capabilities) !== advertised) heartbeat(capabilities);
      }, this.opts.logFlushMs ?? 1000),
    );
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

/** The capabilities the studio chooses a worker for an offer by, as one comparable string. */
function offerTerms(c: Capabilities): string {
  return `${c.autoEnabled}|${c.vramThresholdGb}`;
}
