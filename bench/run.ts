/**
 * `npm run bench [-- --json] [-- --quick] [-- --profile DIR]`: the worker's throughput, per-job
 * overhead, idle memory and large-upload memory against the dev studio on loopback; its overhead on
 * a real llm job; the model cache's download throughput against a plain copy. What each
 * figure means is in docs/benchmarks.md. Progress goes to stderr; with --json, stdout holds only the
 * final JSON line.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { startDevStudio } from '../src/dev-studio/index.js';
import type { DevStudio } from '../src/dev-studio/index.js';
import { measureDownload } from './download.js';
import { measureEngine } from './engine-time.js';
import { runJobs } from './jobs.js';
import type { JobRun } from './jobs.js';
import { progress } from './progress.js';
import { measureLlm, STORIES_PATH } from './llm.js';
import { RawClient } from './raw-client.js';
import { printTable, TARGETS } from './report.js';
import type { BenchResult } from './report.js';
import { percentile, procMemMb, round } from './stats.js';
import { measureUpload } from './upload.js';
import { startWorkerChild } from './worker-child.js';

const WARMUP_JOBS = 20;

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    profile: { type: 'string' },
  },
});
const jobs = args.quick ? 200 : 1000;
const idleMs = args.quick ? 5_000 : 60_000;
const uploadMb = 1024;
const downloadMb = 512;
const llmRuns = 20;

async function baselineRun(studio: DevStudio, sample: Uint8Array): Promise<JobRun> {
  const client = await RawClient.connect(studio, sample);
  try {
    await runJobs(studio, { workerId: client.workerId, count: WARMUP_JOBS, label: 'raw-warmup' });
    return await runJobs(studio, { workerId: client.workerId, count: jobs, label: 'raw' });
  } catch (e) {
    throw client.error ?? e;
  } finally {
    await client.close();
  }
}

async function workerRun(
  studio: DevStudio,
  logLevel: string,
  idle: boolean,
): Promise<{ run: JobRun; rssAfterRunMb?: number; idleRssMb?: number }> {
  const child = await startWorkerChild(studio, {
    logLevel,
    // warn: the child's (few) lines show with the bench's progress; info: to /dev/null, as the
    // brief's "stdout redirected" case (the CLI logs to stderr).
    stderr: logLevel === 'info' ? 'ignore' : 'inherit',
    ...(args.profile && idle ? { extraNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${args.profile}`] } : {}),
  });
  try {
    await runJobs(studio, { workerId: child.workerId, count: WARMUP_JOBS, label: `${logLevel}-warmup` });
    const run = await runJobs(studio, { workerId: child.workerId, count: jobs, label: logLevel });
    if (!idle) return { run };
    const rssAfterRunMb = await procMemMb(child.pid);
    progress(`worker idle for ${idleMs / 1000} s (heartbeats running)`);
    await sleep(idleMs);
    const idleRssMb = await procMemMb(child.pid);
    return {
      run,
      ...(rssAfterRunMb !== undefined ? { rssAfterRunMb } : {}),
      ...(idleRssMb !== undefined ? { idleRssMb } : {}),
    };
  } finally {
    const code = await child.stop();
    if (code !== 0) progress(`worker child (${logLevel}) exited with code ${code}`);
  }
}

async function main(): Promise<void> {
  progress(`${jobs} jobs per run${args.quick ? ' (--quick)' : ''}; node ${process.version}`);
  progress('timing the synthetic engine in-process');
  const engine = await measureEngine(args.quick ? 50 : 200);
  const studio = await startDevStudio({ port: 0, autoApprove: true });
  try {
    progress('baseline: raw client with pre-made bytes');
    const baseline = await baselineRun(studio, engine.sample);
    progress(`baseline: ${round(baseline.jobsPerSec, 1)} jobs/s`);
    progress('worker child, --log-level warn');
    const warn = await workerRun(studio, 'warn', true);
    progress(`worker: ${round(warn.run.jobsPerSec, 1)} jobs/s`);
    progress('worker child, --log-level info (stderr to /dev/null)');
    const info = await workerRun(studio, 'info', false);
    progress(`worker (info): ${round(info.run.jobsPerSec, 1)} jobs/s`);
    progress(`uploading a ${uploadMb} MiB result from a child process`);
    const upload = await measureUpload(studio, uploadMb);
    progress(`llm: ${STORIES_PATH}, direct vs. through the dispatcher, ${llmRuns} warm prompts each`);
    const llm = await measureLlm(llmRuns);
    if (llm) progress(`llm: direct ${round(llm.directMs)} ms, worker ${round(llm.workerMs)} ms`);
    else progress(`llm: SKIPPED, ${STORIES_PATH} is absent`);
    progress(`download: ${downloadMb} MiB, model cache vs. plain copy`);
    const download = await measureDownload(downloadMb, args.quick ? 1 : 3);

    const overhead = warn.run.perJobMs.map((ms) => ms - engine.medianMs);
    const result: BenchResult = {
      jobs,
      jobsPerSec: round(warn.run.jobsPerSec, 1),
      baselineJobsPerSec: round(baseline.jobsPerSec, 1),
      ratio: round(warn.run.jobsPerSec / baseline.jobsPerSec, 3),
      overheadP50Ms: round(percentile(overhead, 50)),
      overheadP99Ms: round(percentile(overhead, 99)),
      idleRssMb: round(warn.idleRssMb ?? Number.NaN, 1),
      uploadRssGrowthMb: round(upload.growthMb, 1),
      idleSeconds: idleMs / 1000,
      engineMedianMs: round(engine.medianMs),
      workerJobP50Ms: round(percentile(warn.run.perJobMs, 50)),
      workerJobP99Ms: round(percentile(warn.run.perJobMs, 99)),
      workerAcceptP50Ms: round(percentile(warn.run.acceptMs, 50)),
      baselineJobP50Ms: round(percentile(baseline.perJobMs, 50)),
      baselineAcceptP50Ms: round(percentile(baseline.acceptMs, 50)),
      baselineJobP99Ms: round(percentile(baseline.perJobMs, 99)),
      infoJobsPerSec: round(info.run.jobsPerSec, 1),
      infoJobP50Ms: round(percentile(info.run.perJobMs, 50)),
      rssAfterRunMb: round(warn.rssAfterRunMb ?? Number.NaN, 1),
      uploadMb,
      uploadBeforeRssMb: round(upload.beforeMb, 1),
      uploadPeakRssMb: round(upload.peakMb, 1),
      uploadSeconds: round(upload.ms / 1000),
      ...(llm
        ? {
            llmDirectMs: round(llm.directMs),
            llmWorkerMs: round(llm.workerMs),
            llmOverheadPct: round(llm.overheadPct, 1),
            llmRuns: llm.runs,
          }
        : { llmSkipped: `${STORIES_PATH} is absent` }),
      downloadMb,
      downloadMBps: round(download.downloadMBps, 1),
      plainCopyMBps: round(download.plainCopyMBps, 1),
      downloadRatio: round(download.ratio, 3),
      node: process.version,
    };
    result.targetsMet = {
      ratio: result.ratio >= TARGETS.ratio,
      overheadP50Ms: result.overheadP50Ms <= TARGETS.overheadP50Ms,
      idleRssMb: result.idleRssMb <= TARGETS.idleRssMb,
      uploadRssGrowthMb: result.uploadRssGrowthMb <= TARGETS.uploadRssGrowthMb,
      ...(result.llmOverheadPct === undefined
        ? {}
        : { llmOverheadPct: result.llmOverheadPct <= TARGETS.llmOverheadPct }),
      downloadRatio: result.downloadRatio >= TARGETS.downloadRatio,
    };
    if (args.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else printTable(result);
  } finally {
    await studio.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
