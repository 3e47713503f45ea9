import type { Worker } from '../worker/index.js';

/** The job duration histogram's upper bounds, seconds. */
export const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800] as const;

export interface DurationSeries {
  /** Observations per bucket of DURATION_BUCKETS (not cumulative); the last one is +Inf. */
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * What the worker's events say, counted from its start without prom-client, so that the metrics
 * library is loaded by the first scrape (many workers never get one) and still reports every job.
 */
export class MetricsTally {
  /** `kind|outcome` → count. */
  readonly jobs = new Map<string, { kind: string; outcome: string; n: number }>();
  /** kind → durations. */
  readonly durations = new Map<string, DurationSeries>();
  /** `engine|signal` → count. */
  readonly crashes = new Map<string, { engine: string; signal: string; n: number }>();
  downloadedBytes = 0;
  private readonly received = new Map<string, number>();
  private readonly offs: (() => void)[];

  constructor(worker: Worker) {
    const on = worker.events.on.bind(worker.events);
    this.offs = [
      on('job:completed', (e) => {
        this.countJob(e.kind, 'completed');
        addObservation(this.durations, e.kind, e.ms / 1000);
      }),
      on('job:failed', (e) => this.countJob(e.kind ?? 'unknown', 'failed')),
      on('job:rejected', (e) => this.countJob(e.kind ?? 'unknown', 'rejected')),
      on('engine:crashed', (e) => {
        const signal = e.signal ?? `exit ${e.code ?? 'unknown'}`;
        const key = `${e.engine}|${signal}`;
        const row = this.crashes.get(key) ?? { engine: e.engine, signal, n: 0 };
        row.n++;
        this.crashes.set(key, row);
      }),
      on('model:download', (p) => {
        const before = this.received.get(p.filename) ?? 0;
        if (p.receivedBytes > before) this.downloadedBytes += p.receivedBytes - before;
        if (p.done) this.received.delete(p.filename);
        else this.received.set(p.filename, p.receivedBytes);
      }),
    ];
  }

  stop(): void {
    for (const off of this.offs.splice(0)) off();
  }

  private countJob(kind: string, outcome: string): void {
    const key = `${kind}|${outcome}`;
    const row = this.jobs.get(key) ?? { kind, outcome, n: 0 };
    row.n++;
    this.jobs.set(key, row);
  }
}

/** Counts one job's duration into `durations` (the bucket it falls in, the sum, the count). */
export function addObservation(durations: Map<string, DurationSeries>, kind: string, seconds: number): void {
  let series = durations.get(kind);
  if (!series) {
    series = { buckets: new Array<number>(DURATION_BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
    durations.set(kind, series);
  }
  const i = DURATION_BUCKETS.findIndex((le) => seconds <= le);
  series.buckets[i === -1 ? DURATION_BUCKETS.length : i]! += 1;
  series.sum += seconds;
  series.count += 1;
}
