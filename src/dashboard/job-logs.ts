import type { WorkerEventBus } from '../events/index.js';
import type { LocalLogEntry, WorkerLogger } from '../logs/index.js';
import { toWireEntry } from '../logs/index.js';
import type { DaemonLogEntry, JobLog, LogsPage } from '../local-api/index.js';

/** The original's bounds: the logs of the 128 most recent jobs, 400 lines each, 2000 characters a line. */
export const JOB_LOGS_KEPT = 128;
export const JOB_LOG_LINES = 400;
export const JOB_LOG_LINE_CHARS = 2000;
/** The worker log ring `GET /daemon/logs` reads. */
export const WORKER_LOG_RING = 1000;

type Line = JobLog['lines'][number];

/**
 * Each job's log: every record logged with its `jobId` (the runner's, the local API's and the
 * engine's children carry it), plus a "job started" and a "job finished" line from the worker's
 * events, so even a silent engine leaves a trace. Bounded as the original's job log.
 */
export class JobLogs {
  /** Insertion order = age: the oldest job's log goes first. */
  private readonly logs = new Map<string, { lines: Line[]; dropped: number }>();
  private readonly offs: (() => void)[];

  constructor(log: WorkerLogger, events: WorkerEventBus) {
    const line = (jobId: string, level: string, message: string) =>
      this.add(jobId, { ts: new Date().toISOString(), level, target: 'job', message });
    this.offs = [
      log.onRecord((entry) => {
        if (entry.jobId === undefined) return;
        this.add(entry.jobId, {
          ts: entry.ts,
          level: entry.level,
          target: entry.category,
          message: entry.message,
        });
      }),
      events.on('job:accepted', (e) => line(e.jobId, 'info', `job started: ${e.kind} on ${e.model}`)),
      events.on('job:completed', (e) =>
        line(e.jobId, 'info', `job finished: completed in ${(e.ms / 1000).toFixed(1)} s`),
      ),
      events.on('job:failed', (e) => line(e.jobId, 'warn', `job finished: failed: ${e.error}`)),
    ];
  }

  get(jobId: string): JobLog | undefined {
    const log = this.logs.get(jobId);
    return log && { lines: log.lines.map((l) => ({ ...l })), dropped: log.dropped };
  }

  stop(): void {
    for (const off of this.offs.splice(0)) off();
  }

  private add(jobId: string, line: Line): void {
    let log = this.logs.get(jobId);
    if (!log) {
      this.logs.set(jobId, (log = { lines: [], dropped: 0 }));
      for (const oldest of this.logs.keys()) {
        if (this.logs.size <= JOB_LOGS_KEPT) break;
        this.logs.delete(oldest);
      }
    }
    if (line.message.length > JOB_LOG_LINE_CHARS) {
      line.message = `${line.message.slice(0, JOB_LOG_LINE_CHARS - 1)}…`;
    }
    log.lines.push(line);
    if (log.lines.length > JOB_LOG_LINES) {
      const over = log.lines.length - JOB_LOG_LINES;
      log.lines.splice(0, over);
      log.dropped += over;
    }
  }
}

/**
 * The worker log as `GET /daemon/logs?after=<seq>` reads it: the last 1000 records at info and up
 * (as shipped to the studio), each numbered from 1, so a reader asks for what it has not seen.
 */
export class WorkerLogRing {
  private readonly entries: { seq: number; entry: DaemonLogEntry }[] = [];
  private newest = 0;

  push(entry: LocalLogEntry): void {
    const wire = toWireEntry(entry);
    if (!wire) return;
    this.entries.push({ seq: ++this.newest, entry: wire });
    if (this.entries.length > WORKER_LOG_RING) this.entries.splice(0, this.entries.length - WORKER_LOG_RING);
  }

  get seq(): number {
    return this.newest;
  }

  /** Entries newer than `after`; an `after` beyond the newest (the worker restarted) gets the whole ring. */
  after(after: number): LogsPage {
    const from = after > this.newest ? 0 : after;
    return {
      entries: this.entries.filter((e) => e.seq > from).map((e) => ({ ...e.entry })),
      seq: this.newest,
    };
  }
}
