/**
 * `npm run bench [-- --json] [-- --quick] [-- --profile DIR]`: the worker's throughput, per-job
 * overhead, idle memory and large-upload memory against the dev studio on loopback; its overhead on
 * a real llm job and on a real image job (stable-diffusion.cpp's sd-server); the model cache's
 * download throughput against a plain copy. What each
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
import { measureImage } from './image.js';
import { measureLlm, STORIES_PATH } from './llm.js';
import { RawClient } from './raw-client.js';
import { printTable, TARGETS } from './report.js';
import type { BenchResult } from './report.js';
import { median, percentile, procMemMb, round } from './stats.js';
import { measureUpload } from './upload.js';
import { startWorkerChild } from './worker-child.js';

// 100 (20 until 2026-12-06): with 20 the first measured round still carried the start-up of the worker
// (its JIT, its image codec process), the slowest round of every run.
const WARMUP_JOBS = 100;

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    profile: { type: 'string' },
    'jobs-only': { type: 'boolean', default: false },
  },
});
const jobs = args.quick ? 200 : 1000;
const idleMs = args.quick ? 5_000 : 60_000;
const uploadMb = 1024;
const downloadMb = 512;
// 60, not 20: the worker adds well under a millisecond to a ~40 ms prompt, less than the prompts vary.
const llmRuns = 60;

const ROUNDS = 3;

/** The median of per-round figures, and their spread. */
function across(values: number[]): { median: number; min: number; max: number } {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

async function main(): Promise<void> {
  progress(
    `${jobs} jobs per run, ${ROUNDS} interleaved rounds${args.quick ? ' (--quick)' : ''}; node ${process.version}`,
  );
  progress('timing the synthetic engine in-process');
  const engine = await measureEngine(args.quick ? 50 : 200);
  const studio = await startDevStudio({ port: 0, autoApprove: true });
  try {
    // Both sides connected at once and measured in turns (worker, baseline, fsync worker, …), so
    // the shared, noisy machine treats them alike.
    const raw = await RawClient.connect(studio);
    const worker = await startWorkerChild(studio, {
      logLevel: 'warn',
      stderr: 'inherit',
      ...(args.profile ? { extraNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${args.profile}`] } : {}),
    });
    const fsyncWorker = await startWorkerChild(studio, {
      logLevel: 'warn',
      stderr: 'inherit',
      fsyncResults: true,
    });
    const rounds: { worker: JobRun; baseline: JobRun; fsync: JobRun }[] = [];
    let idleRssMb: number | undefined;
    let rssAfterRunMb: number | undefined;
    try {
      for (const [label, id] of [
        ['worker', worker.workerId],
        ['raw', raw.workerId],
        ['fsync', fsyncWorker.workerId],
      ] as const) {
        await runJobs(studio, { workerId: id, count: WARMUP_JOBS, label: `${label}-warmup` });
      }
      for (let r = 1; r <= ROUNDS; r++) {
        const w = await runJobs(studio, { workerId: worker.workerId, count: jobs, label: `worker-${r}` });
        const b = await runJobs(studio, { workerId: raw.workerId, count: jobs, label: `raw-${r}` });
        const f = await runJobs(studio, { workerId: fsyncWorker.workerId, count: jobs, label: `fsync-${r}` });
        rounds.push({ worker: w, baseline: b, fsync: f });
        progress(
          `round ${r}: worker ${round(w.jobsPerSec, 1)} jobs/s, baseline ${round(b.jobsPerSec, 1)} jobs/s, ` +
            `p50 ${round(percentile(w.perJobMs, 50))} / ${round(percentile(b.perJobMs, 50))} / fsync ${round(percentile(f.perJobMs, 50))} ms`,
        );
      }
    } catch (e) {
      throw raw.error ?? e;
    } finally {
      await raw.close();
      await fsyncWorker.stop();
    }
    try {
      rssAfterRunMb = await procMemMb(worker.pid);
      progress(`worker idle for ${idleMs / 1000} s (heartbeats running)`);
      await sleep(idleMs);
      idleRssMb = await procMemMb(worker.pid);
    } finally {
      const code = await worker.stop();
      if (code !== 0) progress(`worker child exited with code ${code}`);
    }
    if (args['jobs-only']) {
      // A quick look at the job path alone while working on it: no JSON, nothing else measured.
      const shares = (q: number) =>
        rounds.map((x) => round(percentile(x.worker.perJobMs, q) - percentile(x.baseline.perJobMs, q)));
      progress(`worker share p50 per round: ${shares(50).join(', ')} ms; p99: ${shares(99).join(', ')} ms`);
      progress(
        `worker RSS after the rounds ${rssAfterRunMb} MB, after ${idleMs / 1000} s idle ${idleRssMb} MB`,
      );
      return;
    }
    progress('worker child, --log-level info (stderr to /dev/null)');
    const info = await infoRun(studio);
    progress(`uploading a ${uploadMb} MiB result from a child process`);
    const upload = await measureUpload(studio, uploadMb);
    progress(`llm: ${STORIES_PATH}, direct vs. through the dispatcher, ${llmRuns} warm prompts each`);
    const llm = await measureLlm(llmRuns);
    if (llm) progress(`llm: direct ${round(llm.directMs)} ms, worker ${round(llm.workerMs)} ms`);
    else progress(`llm: SKIPPED, ${STORIES_PATH} is absent`);
    progress('image: the real sd-server, direct vs. through the sd-cpp engine; then sd-cli per job');
    const image = await measureImage();
    if ('skipped' in image) progress(`image: SKIPPED, ${image.skipped}`);
    progress(`download: ${downloadMb} MiB, model cache vs. plain copy`);
    const download = await measureDownload(downloadMb, args.quick ? 1 : 3);

    const p = (run: JobRun, q: number) => percentile(run.perJobMs, q);
    const ratio = across(rounds.map((x) => x.worker.jobsPerSec / x.baseline.jobsPerSec));
    const share50 = across(rounds.map((x) => p(x.worker, 50) - p(x.baseline, 50)));
    const share99 = across(rounds.map((x) => p(x.worker, 99) - p(x.baseline, 99)));
    const fsync = across(rounds.map((x) => p(x.fsync, 50) - p(x.worker, 50)));
    const mid =
      rounds.map((x) => x.worker).sort((a, b) => a.jobsPerSec - b.jobsPerSec)[1] ?? rounds[0]!.worker;
    const midBase =
      rounds.map((x) => x.baseline).sort((a, b) => a.jobsPerSec - b.jobsPerSec)[1] ?? rounds[0]!.baseline;
    const spread = (a: { min: number; max: number }) =>
      [round(a.min, 3), round(a.max, 3)] as [number, number];
    const result: BenchResult = {
      jobs,
      rounds: ROUNDS,
      jobsPerSec: round(mid.jobsPerSec, 1),
      baselineJobsPerSec: round(midBase.jobsPerSec, 1),
      ratio: round(ratio.median, 3),
      ratioSpread: spread(ratio),
      workerShareP50Ms: round(share50.median),
      workerShareP50Spread: spread(share50),
      workerShareP99Ms: round(share99.median),
      workerShareP99Spread: spread(share99),
      fsyncCostMs: round(fsync.median),
      fsyncCostSpread: spread(fsync),
      idleRssMb: round(idleRssMb ?? Number.NaN, 1),
      uploadRssGrowthMb: round(upload.growthMb, 1),
      idleSeconds: idleMs / 1000,
      engineMedianMs: round(engine.medianMs),
      workerJobP50Ms: round(p(mid, 50)),
      workerJobP99Ms: round(p(mid, 99)),
      workerAcceptP50Ms: round(percentile(mid.acceptMs, 50)),
      baselineJobP50Ms: round(p(midBase, 50)),
      baselineAcceptP50Ms: round(percentile(midBase.acceptMs, 50)),
      baselineJobP99Ms: round(p(midBase, 99)),
      infoJobsPerSec: round(info.jobsPerSec, 1),
      infoJobP50Ms: round(p(info, 50)),
      rssAfterRunMb: round(rssAfterRunMb ?? Number.NaN, 1),
      uploadMb,
      uploadBeforeRssMb: round(upload.beforeMb, 1),
      uploadPeakRssMb: round(upload.peakMb, 1),
      uploadSeconds: round(upload.ms / 1000),
      ...(llm
        ? {
            llmDirectMs: round(llm.directMs),
            llmWorkerMs: round(llm.workerMs),
            llmOverheadMs: round(llm.workerMs - llm.directMs),
            llmOverheadPct: round(llm.overheadPct, 1),
            llmRuns: llm.runs,
          }
        : { llmSkipped: `${STORIES_PATH} is absent` }),
      ...('skipped' in image
        ? { imageSkipped: image.skipped }
        : {
            imageProvisionMs: round(image.provisionMs),
            imageDirectLoadMs: round(image.directLoadMs),
            imageDirectColdMs: round(image.directColdMs),
            imageWorkerColdMs: round(image.workerColdMs),
            imageDirectWarmMs: round(image.directWarmMs),
            imageWorkerWarmMs: round(image.workerWarmMs),
            imageShareMs: round(image.shareMs),
            imageSharePct: round(image.sharePct, 1),
            imageSharePairedMs: round(image.sharePairedMs),
            imageAroundRequestMs: round(image.aroundRequestMs),
            imageSdCliMs: round(image.sdCliMs),
            imageRuns: image.runs,
            imageSamePixels: image.samePixels,
          }),
      downloadMb,
      downloadMBps: round(download.downloadMBps, 1),
      plainCopyMBps: round(download.plainCopyMBps, 1),
      downloadRatio: round(download.ratio, 3),
      node: process.version,
    };
    result.targetsMet = {
      ratio: result.ratio >= TARGETS.ratio,
      workerShareP50Ms: result.workerShareP50Ms <= TARGETS.workerShareP50Ms,
      workerShareP99Ms: result.workerShareP99Ms <= TARGETS.workerShareP99Ms,
      idleRssMb: result.idleRssMb <= TARGETS.idleRssMb,
      uploadRssGrowthMb: result.uploadRssGrowthMb <= TARGETS.uploadRssGrowthMb,
      ...(result.llmOverheadMs === undefined
        ? {}
        : { llmOverheadMs: result.llmOverheadMs <= TARGETS.llmOverheadMs }),
      downloadRatio: result.downloadRatio >= TARGETS.downloadRatio,
    };
    if (args.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else printTable(result);
  } finally {
    await studio.close();
  }
}

/** One run of the worker at --log-level info with its stderr to /dev/null (a service's default). */
async function infoRun(studio: DevStudio): Promise<JobRun> {
  const child = await startWorkerChild(studio, { logLevel: 'info', stderr: 'ignore' });
  try {
    await runJobs(studio, { workerId: child.workerId, count: WARMUP_JOBS, label: 'info-warmup' });
    return await runJobs(studio, { workerId: child.workerId, count: jobs, label: 'info' });
  } finally {
    await child.stop();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
