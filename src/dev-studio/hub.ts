import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { CloseCode } from '../protocol/index.js';
import type { Capabilities, LogEntry, WorkerFrame, WorkerFrameOf } from '../protocol/index.js';
import { WorkerConnection } from './connection.js';
import type { ConnectionHost } from './connection.js';
import { conflict, notFound } from './errors.js';
import type { JobBoard } from './job-board.js';
import type { Registry } from './registry.js';
import type { DevStudioEvents, Job, JobResult, OutgoingFrame, Violation, WorkerSnapshot } from './types.js';

const MAX_LOG_ENTRIES = 1000;
const MAX_VIOLATIONS = 10_000;
const JSON_KINDS = new Set(['llm', 'audio_stt']);

interface WorkerState {
  /** What the last upgrade asked for in `Sec-WebSocket-Protocol`. */
  subprotocolsRequested?: string[];
  capabilities?: Capabilities;
  currentJobId?: string;
  lastHeartbeatAt?: string;
  heartbeats: number;
  logs: LogEntry[];
}

type JobFrame = WorkerFrameOf<'accept' | 'reject' | 'fail' | 'completeJson'>;

/**
 * The live side of the studio: worker connections, what each was offered, and the rule that
 * drives offers — whenever a welcomed connection holds no job, says it takes jobs
 * (`autoEnabled`) and the queue has one it may run, it gets the first such job (one offer in
 * flight per worker).
 */
export class Hub implements ConnectionHost {
  /** Match kinds and VRAM as production's `pickWorkerForJob` does (see DevStudioOptions). */
  matchCapabilities = true;
  /** Every open connection, welcomed or not. */
  private readonly live = new Set<WorkerConnection>();
  /** The welcomed connection of each worker. */
  private readonly sessions = new Map<string, WorkerConnection>();
  private readonly workers = new Map<string, WorkerState>();
  private readonly violationLog: Violation[] = [];

  constructor(
    private readonly registry: Registry,
    private readonly board: JobBoard,
    private readonly events: EventEmitter<DevStudioEvents>,
    private readonly log: Logger,
    readonly helloTimeoutMs: number,
    readonly heartbeatTimeoutMs: number,
  ) {}

  /** `subprotocols`: what the worker's upgrade asked for (recorded; production echoes its own either way). */
  attach(ws: WebSocket, workerId: string, subprotocols: string[] = [], socket?: Duplex): void {
    const conn = new WorkerConnection(ws, workerId, this, socket);
    this.state(workerId).subprotocolsRequested = subprotocols;
    this.live.add(conn);
    this.log.info({ workerId }, 'worker connected');
    this.events.emit('worker', { workerId, type: 'connected' });
  }

  onHello(conn: WorkerConnection, frame: WorkerFrameOf<'hello'>): void {
    const { workerId } = conn;
    if (!this.registry.authorize(workerId, frame.authToken)) {
      this.log.warn({ workerId }, 'hello with a wrong auth token');
      const message = 'authToken is not the token of this worker';
      conn.shutdown(CloseCode.authFailed, 'auth failed', { code: 'auth_failed', message });
      return;
    }
    const previous = this.sessions.get(workerId);
    if (previous) {
      this.log.warn({ workerId }, 'second connection for a worker: closing the first');
      const message = 'another connection for this worker said hello';
      previous.shutdown(CloseCode.duplicateWorker, 'duplicate worker', { code: 'duplicate_worker', message });
    }
    this.state(workerId).capabilities = frame.capabilities;
    this.sessions.set(workerId, conn);
    conn.markWelcomed();
    conn.send({ type: 'welcome', workerId, serverTime: new Date().toISOString() });
    this.events.emit('worker', { workerId, type: 'welcomed' });
    this.pump();
  }

  onFrame(conn: WorkerConnection, frame: Exclude<WorkerFrame, { type: 'hello' }>): void {
    switch (frame.type) {
      case 'heartbeat': {
        const state = this.state(conn.workerId);
        state.capabilities = frame.capabilities;
        state.currentJobId = frame.currentJobId ?? undefined;
        state.lastHeartbeatAt = new Date().toISOString();
        state.heartbeats += 1;
        conn.send({ type: 'heartbeatAck' });
        // flows.md §2, the production studio's self-heal: the heartbeat of an idle worker without
        // a held slot gets it the next offer — which is also when a job it turned down comes back.
        conn.skipUntilHeartbeat = false;
        if (state.currentJobId === undefined && conn.offeredJobId === undefined) this.pump();
        return;
      }
      case 'logBatch': {
        const logs = this.state(conn.workerId).logs;
        logs.push(...frame.entries);
        if (logs.length > MAX_LOG_ENTRIES) logs.splice(0, logs.length - MAX_LOG_ENTRIES);
        return;
      }
      default:
        this.onJobFrame(conn, frame);
    }
  }

  onViolation(conn: WorkerConnection, reason: string, frame: unknown): void {
    const violation: Violation = { at: new Date().toISOString(), workerId: conn.workerId, reason };
    if (frame !== undefined) violation.frame = frame;
    this.violationLog.push(violation);
    if (this.violationLog.length > MAX_VIOLATIONS) this.violationLog.shift();
    this.log.warn({ workerId: conn.workerId, reason }, 'protocol violation');
    this.events.emit('violation', violation);
  }

  onSent(conn: WorkerConnection, frame: OutgoingFrame): void {
    this.events.emit('frame', { direction: 'out', workerId: conn.workerId, frame });
  }

  onReceived(conn: WorkerConnection, frame: WorkerFrame): void {
    this.log.debug({ workerId: conn.workerId, type: frame.type }, 'frame in');
    this.events.emit('frame', { direction: 'in', workerId: conn.workerId, frame });
  }

  onClosed(conn: WorkerConnection, code: number, reason: string): void {
    this.live.delete(conn);
    if (this.sessions.get(conn.workerId) === conn) this.sessions.delete(conn.workerId);
    if (conn.offeredJobId !== undefined) {
      this.log.info(
        { workerId: conn.workerId, jobId: conn.offeredJobId },
        'worker left mid-job: claim released, attempt counted',
      );
      this.board.releaseDropped(conn.offeredJobId, conn.workerId, code, reason);
      conn.offeredJobId = undefined;
    }
    this.log.info({ workerId: conn.workerId, code, reason }, 'worker disconnected');
    this.events.emit('worker', { workerId: conn.workerId, type: 'disconnected', code, reason });
    this.pump();
  }

  /**
   * Gives every idle welcomed connection whose worker says it takes jobs the first queued job it
   * may run. As production's `pickWorkerForJob` (flows.md §3, §7): a worker whose hello or last
   * heartbeat says `autoEnabled: false` is skipped, and — unless a test turned `matchCapabilities`
   * off to reach the worker's own refusals — so is a job its `taskKinds` or `vramThresholdGb` do
   * not cover.
   */
  pump(): void {
    for (const conn of this.sessions.values()) {
      if (conn.offeredJobId !== undefined || !conn.isOpen || conn.skipUntilHeartbeat) continue;
      const caps = this.workers.get(conn.workerId)?.capabilities;
      if (caps?.autoEnabled === false) continue;
      const fits = (job: Job): boolean =>
        !this.matchCapabilities ||
        (caps !== undefined &&
          caps.taskKinds.includes(job.kind) &&
          caps.vramThresholdGb >= job.claim.vramGbEstimate);
      const next = this.board.offerNext(conn.workerId, fits);
      if (!next) continue;
      conn.offeredJobId = next.jobId;
      this.log.debug({ workerId: conn.workerId, jobId: next.jobId }, 'offer');
      conn.send({ type: 'offer', claim: next.claim });
    }
  }

  /**
   * A multipart upload finished the job (the route checked that this worker's live session holds
   * it): ack the uploader and offer it more, as the production studio's `notifyJobCompleted` does.
   */
  completeUpload(workerId: string, jobId: string, result: JobResult): void {
    const holder = this.sessions.get(workerId);
    if (holder?.offeredJobId === jobId) holder.offeredJobId = undefined;
    this.board.complete(jobId, result, workerId);
    this.log.info(
      { workerId, jobId, bytes: result.type === 'file' ? result.bytes : undefined },
      'job completed',
    );
    this.pump();
  }

  /** Whether `workerId`'s live, welcomed session holds `jobId` (offered or accepted, not finished). */
  holds(workerId: string, jobId: string): boolean {
    const conn = this.sessions.get(workerId);
    return conn?.isOpen === true && conn.offeredJobId === jobId && this.board.find(jobId) !== undefined;
  }

  listWorkers(): WorkerSnapshot[] {
    return this.registry.workerIds().map((workerId) => {
      const state = this.workers.get(workerId);
      const session = this.sessions.get(workerId);
      const snap: WorkerSnapshot = {
        workerId,
        connected: this.connectionsOf(workerId).length > 0,
        welcomed: session !== undefined,
        deleted: this.registry.isDeleted(workerId),
        heartbeats: state?.heartbeats ?? 0,
      };
      if (state?.lastHeartbeatAt !== undefined) snap.lastHeartbeatAt = state.lastHeartbeatAt;
      if (state?.capabilities !== undefined) snap.capabilities = state.capabilities;
      if (state?.subprotocolsRequested !== undefined)
        snap.subprotocolsRequested = state.subprotocolsRequested;
      if (state?.currentJobId !== undefined) snap.currentJobId = state.currentJobId;
      if (session?.offeredJobId !== undefined) snap.offeredJobId = session.offeredJobId;
      return snap;
    });
  }

  workerLogs(workerId: string): LogEntry[] {
    if (!this.registry.isWorker(workerId)) throw notFound(`worker ${workerId}`);
    return [...(this.workers.get(workerId)?.logs ?? [])];
  }

  violations(): Violation[] {
    return [...this.violationLog];
  }

  disconnect(workerId: string, code: number, reason: string): void {
    for (const conn of this.requireConnections(workerId)) conn.shutdown(code, reason);
  }

  /** Sends bytes as they are (text or binary frame), bypassing the contract: to test a worker's parser. */
  sendRaw(workerId: string, data: string | Uint8Array): void {
    for (const conn of this.requireConnections(workerId))
      conn.ws.send(data, { binary: typeof data !== 'string' });
  }

  drop(workerId: string): void {
    for (const conn of this.requireConnections(workerId)) conn.drop();
  }

  stopReading(workerId: string): void {
    for (const conn of this.requireConnections(workerId)) conn.stopReading();
  }

  deleteWorker(workerId: string): void {
    this.registry.delete(workerId);
    for (const conn of this.connectionsOf(workerId)) {
      const message = 'this worker was deleted by the operator';
      conn.shutdown(CloseCode.workerDeleted, 'worker deleted', { code: 'worker_deleted', message });
    }
  }

  /** Closes every connection with 1001, waiting briefly for the close handshakes before cutting them. */
  async closeAll(graceMs = 1000): Promise<void> {
    const sockets = [...this.live].map((conn) => conn.ws);
    for (const conn of [...this.live]) conn.shutdown(1001, 'studio shutting down');
    await Promise.all(
      sockets.map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === ws.CLOSED) return resolve();
            const timer = setTimeout(() => {
              ws.terminate();
              resolve();
            }, graceMs);
            ws.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
  }

  private onJobFrame(conn: WorkerConnection, frame: JobFrame): void {
    const { jobId } = frame;
    // flows.md §6: a frame about a job this session does not hold (never offered, finished, or
    // released when an earlier socket closed) is a protocol violation.
    if (conn.offeredJobId !== jobId) {
      const held = conn.offeredJobId === undefined ? 'none is' : `${conn.offeredJobId} is`;
      conn.violate(`${frame.type} for job ${jobId}, but ${held} held for this session`, frame);
      return;
    }
    const job = this.board.get(jobId);
    switch (frame.type) {
      case 'accept':
        if (job.status !== 'offered')
          return conn.violate(`accept for job ${jobId}, already ${job.status}`, frame);
        this.board.accept(jobId);
        return;
      case 'reject':
        if (job.status !== 'offered')
          return conn.violate(`reject for job ${jobId}, already ${job.status}`, frame);
        // flows.md §6. Either way nothing more for this worker until its next heartbeat: an
        // immediate re-offer would spin.
        conn.skipUntilHeartbeat = true;
        if (frame.code === 'busy' || frame.code === 'paused') {
          // Transient: back to the queue without an attempt.
          this.board.requeueTransient(jobId, frame.reason, frame.code);
        } else {
          // The claim is released and the attempt counted; another worker may take it, and this
          // one's idle heartbeat may get it straight back.
          this.board.releaseRejected(jobId, conn.workerId, frame.reason);
        }
        break;
      case 'fail':
        // flows.md §6: retryable → requeued with the attempt counted (the pump below may offer
        // it straight back, as production's offerNextFor does), else final.
        this.board.fail(jobId, conn.workerId, frame.error, frame.retryable);
        conn.send({ type: 'failAck', jobId });
        break;
      case 'completeJson':
        if (!JSON_KINDS.has(job.kind)) {
          const reason = `completeJson for ${job.kind} job ${jobId}; its result must be uploaded to the complete route`;
          return conn.violate(reason, frame);
        }
        if (job.status !== 'accepted')
          return conn.violate(`completeJson for job ${jobId} before accept`, frame);
        this.board.complete(
          jobId,
          { type: 'json', value: frame.result, prompt: frame.prompt ?? '' },
          conn.workerId,
        );
        conn.send({ type: 'completeAck', jobId });
        break;
    }
    this.log.info({ workerId: conn.workerId, jobId, type: frame.type }, 'job finished');
    conn.offeredJobId = undefined;
    this.pump();
  }

  private state(workerId: string): WorkerState {
    let state = this.workers.get(workerId);
    if (!state) {
      state = { heartbeats: 0, logs: [] };
      this.workers.set(workerId, state);
    }
    return state;
  }

  private connectionsOf(workerId: string): WorkerConnection[] {
    return [...this.live].filter((c) => c.workerId === workerId);
  }

  private requireConnections(workerId: string): WorkerConnection[] {
    const conns = this.connectionsOf(workerId);
    if (conns.length === 0) throw conflict(`worker ${workerId} has no open connection`);
    return conns;
  }
}
