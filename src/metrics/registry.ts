import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Worker, WorkerStatus } from '../worker/index.js';
import { DURATION_BUCKETS, type MetricsTally } from './tally.js';

const DURATION = 'studio_worker_job_duration_seconds';

/**
 * The worker's metrics as a prom-client registry, each read from the tally at scrape time, and
 * Node's own (process, heap, event-loop lag, GC), sampled from now on: made by the first scrape.
 */
export function buildRegistry(worker: Worker, tally: MetricsTally): Registry {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });
  new Counter({
    name: 'studio_worker_jobs_total',
    help: 'Jobs that ended here, by task kind and outcome (completed, failed, rejected).',
    labelNames: ['kind', 'outcome'] as const,
    registers,
    collect() {
      this.reset();
      for (const { kind, outcome, n } of tally.jobs.values()) this.inc({ kind, outcome }, n);
    },
  });
  // A histogram read from the tally's buckets (prom-client's own cannot be set, only observed).
  registry.registerMetric(durationHistogram(tally) as never);
  new Counter({
    name: 'studio_worker_model_download_bytes_total',
    help: 'Bytes of model files downloaded into the model cache.',
    registers,
    collect() {
      this.reset();
      this.inc(tally.downloadedBytes);
    },
  });
  new Counter({
    name: 'studio_worker_engine_crashes_total',
    help: 'Engine child processes that died while serving a job (each failed only that job), by engine and signal.',
    labelNames: ['engine', 'signal'] as const,
    registers,
    collect() {
      this.reset();
      for (const { engine, signal, n } of tally.crashes.values()) this.inc({ engine, signal }, n);
    },
  });
  // One status for all the gauges of a scrape: getStatus() asks every engine whether it can run.
  let scraped: WorkerStatus | undefined;
  const status = (): WorkerStatus => {
    if (!scraped) {
      scraped = worker.getStatus();
      setImmediate(() => (scraped = undefined));
    }
    return scraped;
  };
  new Gauge({
    name: 'studio_worker_session_connected',
    help: '1 while the studio session is welcomed, else 0.',
    registers,
    collect() {
      this.set(status().session.state === 'welcomed' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'studio_worker_outbox_pending',
    help: 'Finished results the studio has not taken yet (kept for a re-offer).',
    registers,
    collect() {
      this.set(status().pendingResults);
    },
  });
  new Gauge({
    name: 'studio_worker_gpu_memory_free_bytes',
    help: 'Free memory of the GPU the worker uses (NaN when it cannot be read).',
    registers,
    collect() {
      this.set(status().gpu?.freeBytes ?? Number.NaN);
    },
  });
  new Gauge({
    name: 'studio_worker_gpu_temperature_celsius',
    help: 'Temperature of the GPU the worker uses (NaN when it cannot be read).',
    registers,
    collect() {
      this.set(status().gpu?.temperatureC ?? Number.NaN);
    },
  });
  new Gauge({
    name: 'studio_worker_user_present',
    help: '1 while someone uses this machine, 0 while idle (no input for 2 minutes); NaN while presence cannot be read.',
    registers,
    collect() {
      const presence = status().presence?.presence;
      this.set(presence === 'active' ? 1 : presence === 'idle' ? 0 : Number.NaN);
    },
  });
  return registry;
}

/** The job duration histogram, read from the tally (exported for its test against prom-client's own). */
export function durationHistogram(tally: Pick<MetricsTally, 'durations'>) {
  const help = 'Time from accepting a job to its result being handed over, by task kind.';
  const get = () => {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const [kind, series] of tally.durations) {
      let cumulative = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        cumulative += series.buckets[i] ?? 0;
        values.push({ labels: { le, kind }, value: cumulative, metricName: `${DURATION}_bucket` });
      });
      cumulative += series.buckets[DURATION_BUCKETS.length] ?? 0;
      values.push({ labels: { le: '+Inf', kind }, value: cumulative, metricName: `${DURATION}_bucket` });
      values.push({ labels: { kind }, value: series.sum, metricName: `${DURATION}_sum` });
      values.push({ labels: { kind }, value: series.count, metricName: `${DURATION}_count` });
    }
    return Promise.resolve({ name: DURATION, help, type: 'histogram', values, aggregator: 'sum' });
  };
  return { name: DURATION, help, type: 'histogram', aggregator: 'sum', get, reset: () => undefined };
}
