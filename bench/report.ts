import { cpus } from 'node:os';

export const TARGETS = {
  ratio: 0.8,
  overheadP50Ms: 5,
  idleRssMb: 80,
  uploadRssGrowthMb: 64,
  llmOverheadPct: 5,
  downloadRatio: 0.9,
} as const;

export interface BenchResult {
  jobs: number;
  jobsPerSec: number;
  baselineJobsPerSec: number;
  ratio: number;
  overheadP50Ms: number;
  overheadP99Ms: number;
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
  llmRuns?: number;
  llmSkipped?: string;
  downloadMb: number;
  downloadMBps: number;
  plainCopyMBps: number;
  downloadRatio: number;
  node: string;
  /** Each target, true/false; llmOverheadPct is absent when the llm part was skipped. */
  targetsMet?: Partial<Record<keyof typeof TARGETS, boolean>>;
}

const verdict = (ok: boolean | undefined): string => (ok ? 'ok' : 'MISSED');

export function printTable(r: BenchResult): void {
  const met = r.targetsMet;
  const rows: [string, string, string, string][] = [
    ['worker throughput', `${r.jobsPerSec} jobs/s`, '', ''],
    ['raw-client baseline', `${r.baselineJobsPerSec} jobs/s`, '', ''],
    ['ratio worker / baseline', String(r.ratio), `>= ${TARGETS.ratio}`, verdict(met?.ratio)],
    [
      'per-job overhead p50',
      `${r.overheadP50Ms} ms`,
      `<= ${TARGETS.overheadP50Ms} ms`,
      verdict(met?.overheadP50Ms),
    ],
    ['per-job overhead p99', `${r.overheadP99Ms} ms`, '', ''],
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
    ['worker RSS right after the run', `${r.rssAfterRunMb} MB`, '', ''],
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
        : `${r.llmDirectMs} / ${r.llmWorkerMs} ms (median of ${r.llmRuns})`,
      '',
      '',
    ],
    [
      'llm worker overhead',
      r.llmOverheadPct === undefined ? 'skipped' : `${r.llmOverheadPct} %`,
      `<= ${TARGETS.llmOverheadPct} %`,
      r.llmOverheadPct === undefined ? '' : verdict(met?.llmOverheadPct),
    ],
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
