import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigStore } from '../config/index.js';
import { startDevStudio } from '../dev-studio/index.js';
import type { LogShipper, WorkerLogger } from '../logs/index.js';
import type { TaskKind } from '../protocol/index.js';
import { TaskSchema } from '../protocol/index.js';
import { verifyResult } from '../results/index.js';
import { toError } from '../util/index.js';
import { startMetricsServer, WorkerMetrics } from '../metrics/index.js';
import { Worker } from '../worker/index.js';
import { demoTasks } from './jobs.js';

export interface DemoJobReport {
  kind: TaskKind;
  jobId: string;
  status: string;
  ms: number;
  ok: boolean;
  summary: string;
  bytes?: number;
}

export interface DemoReport {
  ok: boolean;
  studioUrl: string;
  jobs: DemoJobReport[];
  /** Protocol violations the dev studio saw (a frame production would have closed the session over). */
  violations: string[];
  /** A Prometheus scrape of the worker during the demo: where, and the required metrics it lacked. */
  metrics: { url: string; missing: string[]; jobsCounted: number };
}

/** The metrics a scrape must show (the multi-GPU issue's list). */
export const REQUIRED_METRICS = [
  'studio_worker_jobs_total',
  'studio_worker_job_duration_seconds',
  'studio_worker_session_connected',
  'studio_worker_outbox_pending',
  'studio_worker_model_download_bytes_total',
  'studio_worker_gpu_memory_free_bytes',
  'studio_worker_gpu_temperature_celsius',
  'studio_worker_user_present',
  'process_cpu_user_seconds_total',
];

/**
 * The main job, end to end over real sockets: a dev studio on a free port, a worker with a
 * throw-away config that registers (auto-approved), one job of each kind, every result decoded.
 */
export async function runDemo(opts: {
  log: WorkerLogger;
  shipper: LogShipper;
  timeoutMs?: number;
}): Promise<DemoReport> {
  const configDir = await mkdtemp(join(tmpdir(), 'studio-worker-demo-'));
  const studio = await startDevStudio({ port: 0, autoApprove: true, log: opts.log });
  const store = new ConfigStore(configDir);
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  let metrics: WorkerMetrics | undefined;
  let metricsServer: { url: string; close: () => Promise<void> } | undefined;
  try {
    await store.update((c) => {
      c.apiBaseUrl = studio.url;
    });
    worker = new Worker({ store, log: opts.log, shipper: opts.shipper, registrationPollMs: 200 });
    const welcomed = new Promise<void>((resolve) => worker?.events.once('session:welcomed', () => resolve()));
    running = worker.run();
    metrics = new WorkerMetrics(worker);
    metricsServer = await startMetricsServer('127.0.0.1:0', metrics);
    await Promise.race([
      welcomed,
      running.then(() => Promise.reject(new Error('worker stopped before the session opened'))),
    ]);

    const jobs: DemoJobReport[] = [];
    for (const task of demoTasks(studio.admin.sampleAudioUrl)) {
      const job = studio.admin.enqueueJob({ task });
      const done = await studio.admin.waitForJob(job.jobId, { timeoutMs: opts.timeoutMs ?? 60_000 });
      const ms =
        Date.parse(done.finishedAt ?? new Date().toISOString()) -
        Date.parse(done.offeredAt ?? done.enqueuedAt);
      const report: DemoJobReport = {
        kind: job.kind,
        jobId: job.jobId,
        status: done.status,
        ms,
        ok: false,
        summary: '',
      };
      if (done.status !== 'completed') {
        report.summary = done.error ?? done.rejectReason ?? `job ended ${done.status}`;
      } else {
        const result = studio.admin.jobResult(job.jobId);
        const task = TaskSchema.parse(job.claim.task);
        const check =
          result?.type === 'json'
            ? await verifyResult(job.kind, { json: result.value }, task)
            : result?.type === 'file'
              ? await verifyResult(job.kind, { path: result.path, ext: result.ext }, task)
              : { ok: false as const, summary: 'the studio holds no result' };
        report.ok = check.ok;
        report.summary = check.summary;
        if (result?.type === 'file') report.bytes = result.bytes;
      }
      jobs.push(report);
    }
    const violations = studio.admin.violations().map((v) => v.reason);
    // Scraped over HTTP, as Prometheus would, while the worker still runs.
    const text = await (await fetch(`${metricsServer.url}/metrics`)).text();
    const missing = REQUIRED_METRICS.filter(
      (name) => !new RegExp(`^${name}(_count|_bucket)?[ {]`, 'm').test(text),
    );
    const jobsCounted = [
      ...text.matchAll(/^studio_worker_jobs_total\{[^}]*outcome="completed"[^}]*\} (\d+)$/gm),
    ].reduce((sum, m) => sum + Number(m[1]), 0);
    return {
      ok: jobs.every((j) => j.ok) && violations.length === 0 && missing.length === 0,
      studioUrl: studio.url,
      jobs,
      violations,
      metrics: { url: `${metricsServer.url}/metrics`, missing, jobsCounted },
    };
  } finally {
    metrics?.stop();
    await metricsServer?.close();
    await worker?.stop();
    await running?.catch((e: unknown) => opts.log.error({ err: toError(e) }, 'worker ended with an error'));
    await studio.close();
    await rm(configDir, { recursive: true, force: true });
  }
}
