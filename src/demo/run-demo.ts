import { mkdtemp, rm, stat } from 'node:fs/promises';
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
import { demoTasks, realImageJobs, type DemoJob } from './jobs.js';
import { ModelHost } from './model-host.js';
import { RealImageWatch } from './real-image.js';
import type { RealSdcpp } from './sdcpp.js';

/** A real image job's limit: the cold one provisions 2 GB and loads it on a CPU. */
const REAL_IMAGE_TIMEOUT_MS = 10 * 60_000;

export interface DemoJobReport {
  kind: TaskKind;
  /** The row's name where it is not the kind: `image (cold)`, `image (warm)` with `--real-image`. */
  label?: string;
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
 * With `realImage`, the image job runs twice on the real stable-diffusion.cpp (cold, then warm).
 */
export async function runDemo(opts: {
  log: WorkerLogger;
  shipper: LogShipper;
  timeoutMs?: number;
  /**
   * Run the image job on the real stable-diffusion.cpp instead of the synthetic engine: twice on
   * the same model (cold, then warm in sd-server), the model served over loopback HTTP and
   * provisioned by the worker as a studio's job makes it.
   */
  realImage?: RealSdcpp;
  /** Progress lines (the real image jobs' phases). */
  say?: (line: string) => void;
}): Promise<DemoReport> {
  const configDir = await mkdtemp(join(tmpdir(), 'studio-worker-demo-'));
  const studio = await startDevStudio({ port: 0, autoApprove: true, log: opts.log });
  const store = new ConfigStore(configDir);
  const real = opts.realImage;
  const host = real ? new ModelHost() : undefined;
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  let metrics: WorkerMetrics | undefined;
  let metricsServer: { url: string; close: () => Promise<void> } | undefined;
  let watch: RealImageWatch | undefined;
  try {
    await host?.start();
    await store.update((c) => {
      c.apiBaseUrl = studio.url;
      if (real) {
        // The real sd-cli, with sd-server beside it kept warm (image_idle_unload_secs, 300 s), and a
        // models_root of the demo's own, removed with it.
        c.sdCliPath = join(real.binDir, 'sd-cli');
        c.modelsRoot = join(configDir, 'models');
      }
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

    const plain = demoTasks(studio.admin.sampleAudioUrl).map((task): DemoJob => ({
      label: task.kind,
      input: { task },
    }));
    const toRun =
      real && host
        ? [
            ...realImageJobs({
              url: host.add('sd1x-random.gguf', real.modelPath),
              bytes: (await stat(real.modelPath)).size,
            }),
            ...plain.filter((j) => j.input.task.kind !== 'image'),
          ]
        : plain;
    if (real) watch = new RealImageWatch(worker.events, opts.say ?? (() => undefined));

    const jobs: DemoJobReport[] = [];
    for (const { label, input } of toRun) {
      const job = studio.admin.enqueueJob(input);
      const isReal = input.modelSource?.engine === 'sd-cpp';
      if (isReal) watch?.expect(job.jobId, label);
      const timeoutMs = opts.timeoutMs ?? 60_000;
      const done = await studio.admin.waitForJob(job.jobId, {
        timeoutMs: isReal ? Math.max(timeoutMs, REAL_IMAGE_TIMEOUT_MS) : timeoutMs,
      });
      const ms =
        Date.parse(done.finishedAt ?? new Date().toISOString()) -
        Date.parse(done.offeredAt ?? done.enqueuedAt);
      const report: DemoJobReport = {
        kind: job.kind,
        ...(label !== job.kind ? { label } : {}),
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
        if (isReal && watch) {
          const verdict = watch.verdict(job.jobId, worker.getStatus());
          report.ok &&= verdict.ok;
          report.summary += ` (${verdict.note})`;
        }
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
    watch?.stop();
    metrics?.stop();
    await metricsServer?.close();
    await worker?.stop();
    await running?.catch((e: unknown) => opts.log.error({ err: toError(e) }, 'worker ended with an error'));
    await studio.close();
    await host?.close();
    await rm(configDir, { recursive: true, force: true });
  }
}
