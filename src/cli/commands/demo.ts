import { locateRealSdcpp, runDemo, type RealSdcpp } from '../../demo/index.js';
import { ExitCode, UserError } from '../../util/index.js';
import type { CommandContext } from '../context.js';

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

export async function demoCommand(
  ctx: CommandContext,
  opts: { json?: boolean; realImage?: boolean },
): Promise<void> {
  // With --json, stdout holds only the report: progress goes to stderr.
  const say = opts.json ? (line: string) => void process.stderr.write(`${line}\n`) : ctx.out;
  let realImage: RealSdcpp | undefined;
  if (opts.realImage) {
    say('real image: building or finding stable-diffusion.cpp and its random-weight model…');
    realImage = await locateRealSdcpp((line) => say(`  sd.cpp: ${line}`));
  }
  if (!opts.json || realImage) say('starting a dev studio and a worker on loopback…');
  const report = await runDemo({
    log: ctx.log,
    shipper: ctx.shipper,
    ...(realImage ? { realImage, say } : {}),
  });
  if (opts.json) {
    ctx.out(
      JSON.stringify({
        ok: report.ok,
        jobs: report.jobs,
        violations: report.violations,
        metrics: report.metrics,
      }),
    );
  } else {
    const width = Math.max(10, ...report.jobs.map((j) => (j.label ?? j.kind).length));
    ctx.out(`\ndev studio: ${report.studioUrl}\n`);
    ctx.out(`${pad('kind', width)} ${pad('job id', 14)} ${pad('status', 10)} ${pad('ms', 6)} result`);
    for (const j of report.jobs) {
      ctx.out(
        `${pad(j.label ?? j.kind, width)} ${pad(j.jobId, 14)} ${pad(j.ok ? 'ok' : j.status, 10)} ${pad(String(j.ms), 6)} ${j.summary}`,
      );
    }
    for (const v of report.violations) ctx.out(`protocol violation: ${v}`);
    ctx.out(
      report.metrics.missing.length === 0
        ? `\nmetrics: ${report.metrics.url} served every required metric (${report.metrics.jobsCounted} completed jobs counted)`
        : `\nmetrics: ${report.metrics.url} lacked ${report.metrics.missing.join(', ')}`,
    );
    const all = report.jobs.length === 5 ? 'five' : String(report.jobs.length);
    ctx.out(report.ok ? `\nall ${all} jobs succeeded, no protocol violation` : '\nsome jobs failed');
  }
  if (!report.ok)
    throw new UserError(
      'the demo saw a job fail, a result that does not decode, or a protocol violation',
      ExitCode.checkFailed,
    );
}
