import { cpus } from 'node:os';

export const TARGETS = {
  ratio: 0.9,
  workerShareP50Ms: 1.0,
  workerShareP99Ms: 5.0,
  idleRssMb: 80,
  uploadRssGrowthMb: 64,
  llmOverheadMs: 1.0,
  downloadRatio: 0.9,
} as const;

export interface BenchResult {
  jobs: number;
  /** Worker and baseline runs, interleaved; each key figure is the median over rounds, with its spread. */
  rounds: number;
  /** The median round's throughput. */
  jobsPerSec: number;
  baselineJobsPerSec: number;
  ratio: number;
  ratioSpread: [number, number];
  /** Per-job time of the worker minus that of the engine-inclusive baseline, at p50 / p99. */
  workerShareP50Ms: number;
  workerShareP50Spread: [number, number];
  workerShareP99Ms: number;
  workerShareP99Spread: [number, number];
  /** Per-job p50 with `fsync_results = true` minus without. */
  fsyncCostMs: number;
  fsyncCostSpread: [number, number];
  idleRssMb: number;
  uploadRssGrowthMb: number;
  idleSeconds: number;
  engineMedianMs: number;
  workerJobP50Ms: number;
  workerJobP99Ms: number;
  /** offered → accepted, p50: how long the client takes to answer an offer. */
  workerAcceptP50Ms: number;
  baselineJobP50Ms: number;
  baselineAcceptP50Ms: number;
  baselineJobP99Ms: number;
  infoJobsPerSec: number;
  infoJobP50Ms: number;
  rssAfterRunMb: number;
  uploadMb: number;
  uploadBeforeRssMb: number;
  uploadPeakRssMb: number;
  uploadSeconds: number;
  /** Medians of the warm llm prompt, direct and as a job; absent (with llmSkipped) without the model. */
  llmDirectMs?: number;
  llmWorkerMs?: number;
  llmOverheadPct?: number;
  /** Median extra time of an llm job through the worker over node-llama-cpp called directly. */
  llmOverheadMs?: number;
  llmRuns?: number;
  llmSkipped?: string;
  /**
   * The real image row (stable-diffusion.cpp's sd-server, 64×64, 2 steps, random weights), ms;
   * absent, with imageSkipped, without the vendored source. See bench/image.ts.
   */
  imageProvisionMs?: number;
  imageDirectLoadMs?: number;
  imageDirectColdMs?: number;
  imageWorkerColdMs?: number;
  imageDirectWarmMs?: number;
  imageWorkerWarmMs?: number;
  /** Median warm job through the worker's engine − the same txt2img POSTed to sd-server directly. */
  imageShareMs?: number;
  imageSharePct?: number;
  /** The median of per-pair differences (worker job − the direct request beside it). */
  imageSharePairedMs?: number;
  /** Median of each warm job's time minus its own sd-server request (robust to sd.cpp's noise). */
  imageAroundRequestMs?: number;
  imageSdCliMs?: number;
  imageRuns?: number;
  imageSamePixels?: boolean;
  imageSkipped?: string;
  downloadMb: number;
  downloadMBps: number;
  plainCopyMBps: number;
  downloadRatio: number;
  node: string;
  /** Each target, true/false; llmOverheadMs is absent when the llm part was skipped. */
  targetsMet?: Partial<Record<keyof typeof TARGETS, boolean>>;
}

const verdict = (ok: boolean | undefined): string => (ok ? 'ok' : 'MISSED');

export function printTable(r: BenchResult): void {
  const met = r.targetsMet;
  const sp = (x: [number, number]) => `(rounds ${x[0]} … ${x[1]})`;
  const rows: [string, string, string, string][] = [
    ['worker throughput (median round)', `${r.jobsPerSec} jobs/s`, '', ''],
    ['baseline: same engine in-process', `${r.baselineJobsPerSec} jobs/s`, '', ''],
    [
      'ratio worker / baseline',
      `${r.ratio} ${sp(r.ratioSpread)}`,
      `>= ${TARGETS.ratio}`,
      verdict(met?.ratio),
    ],
    [
      "worker's share p50",
      `${r.workerShareP50Ms} ms ${sp(r.workerShareP50Spread)}`,
      `<= ${TARGETS.workerShareP50Ms} ms`,
      verdict(met?.workerShareP50Ms),
    ],
    [
      "worker's share p99",
      `${r.workerShareP99Ms} ms ${sp(r.workerShareP99Spread)}`,
      `<= ${TARGETS.workerShareP99Ms} ms`,
      verdict(met?.workerShareP99Ms),
    ],
    ['fsync of each result, p50 cost', `${r.fsyncCostMs} ms ${sp(r.fsyncCostSpread)}`, '', ''],
    [
      `idle RSS after ${r.idleSeconds} s`,
      `${r.idleRssMb} MB`,
      `<= ${TARGETS.idleRssMb} MB`,
      verdict(met?.idleRssMb),
    ],
    [
      `RSS growth, ${r.uploadMb} MiB upload`,
      `${r.uploadRssGrowthMb} MB`,
      `<= ${TARGETS.uploadRssGrowthMb} MB`,
      verdict(met?.uploadRssGrowthMb),
    ],
    ['engine median (in-process)', `${r.engineMedianMs} ms`, '', ''],
    ['worker job p50 / p99', `${r.workerJobP50Ms} / ${r.workerJobP99Ms} ms`, '', ''],
    ['baseline job p50 / p99', `${r.baselineJobP50Ms} / ${r.baselineJobP99Ms} ms`, '', ''],
    ['offer → accept p50, worker / baseline', `${r.workerAcceptP50Ms} / ${r.baselineAcceptP50Ms} ms`, '', ''],
    ['worker at --log-level info', `${r.infoJobsPerSec} jobs/s, p50 ${r.infoJobP50Ms} ms`, '', ''],
    ['worker RSS right after the rounds', `${r.rssAfterRunMb} MB`, '', ''],
    [
      'upload child RSS before / peak',
      `${r.uploadBeforeRssMb} / ${r.uploadPeakRssMb} MB (${r.uploadSeconds} s)`,
      '',
      '',
    ],
    [
      'llm warm prompt, direct / worker',
      r.llmDirectMs === undefined
        ? `skipped: ${r.llmSkipped ?? 'no model'}`
        : `${r.llmDirectMs} / ${r.llmWorkerMs} ms (median of ${r.llmRuns}; ${r.llmOverheadPct} %)`,
      '',
      '',
    ],
    [
      'llm worker overhead',
      r.llmOverheadMs === undefined ? 'skipped' : `${r.llmOverheadMs} ms`,
      `<= ${TARGETS.llmOverheadMs} ms`,
      r.llmOverheadMs === undefined ? '' : verdict(met?.llmOverheadMs),
    ],
    ...imageRows(r),
    [
      `download ${r.downloadMb} MiB, cache / plain copy`,
      `${r.downloadMBps} / ${r.plainCopyMBps} MiB/s`,
      '',
      '',
    ],
    ['download ratio', String(r.downloadRatio), `>= ${TARGETS.downloadRatio}`, verdict(met?.downloadRatio)],
  ];
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]?.length ?? 0)));
  const line = (row: string[]): string =>
    row
      .map((cell, i) => (i < 3 ? cell.padEnd(widths[i] ?? 0) : cell))
      .join('  ')
      .trimEnd();
  process.stdout.write(
    `studio-worker bench: ${r.jobs} jobs of a 64×64 webp, node ${r.node}, ${cpus().length} CPUs\n\n`,
  );
  for (const row of rows) process.stdout.write(`${line(row)}\n`);
}

/** The real image rows, or one saying why they were skipped. */
function imageRows(r: BenchResult): [string, string, string, string][] {
  if (r.imageShareMs === undefined) return [['image (real sd-server)', `skipped: ${r.imageSkipped}`, '', '']];
  return [
    [
      'image cold: direct load / first image / job',
      `${r.imageDirectLoadMs} / ${r.imageDirectColdMs} / ${r.imageWorkerColdMs} ms`,
      '',
      '',
    ],
    [
      'image warm job, direct / worker',
      `${r.imageDirectWarmMs} / ${r.imageWorkerWarmMs} ms (median of ${r.imageRuns}; ${r.imageSharePct} %)`,
      '',
      '',
    ],
    [
      "image worker's share (warm)",
      `${r.imageShareMs} ms (paired median ${r.imageSharePairedMs} ms)`,
      '',
      '',
    ],
    ['image job time around its sd-server request', `${r.imageAroundRequestMs} ms`, '', ''],
    ['image sd-cli per job (worker)', `${r.imageSdCliMs} ms`, '', ''],
    ['image model provisioning (2.1 GB)', `${r.imageProvisionMs} ms`, '', ''],
  ];
}
