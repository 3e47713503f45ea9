import { runDemo } from '../../demo/index.js';
import { ExitCode, UserError } from '../../util/index.js';
import type { CommandContext } from '../context.js';

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

export async function demoCommand(ctx: CommandContext, opts: { json?: boolean }): Promise<void> {
  if (!opts.json) ctx.out('starting a dev studio and a worker on loopback…');
  const report = await runDemo({ log: ctx.log, shipper: ctx.shipper });
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
    ctx.out(`dev studio: ${report.studioUrl}\n`);
    ctx.out(`${pad('kind', 10)} ${pad('job id', 14)} ${pad('status', 10)} ${pad('ms', 6)} result`);
    for (const j of report.jobs) {
      ctx.out(
        `${pad(j.kind, 10)} ${pad(j.jobId, 14)} ${pad(j.ok ? 'ok' : j.status, 10)} ${pad(String(j.ms), 6)} ${j.summary}`,
      );
    }
    for (const v of report.violations) ctx.out(`protocol violation: ${v}`);
    ctx.out(
      report.metrics.missing.length === 0
        ? `\nmetrics: ${report.metrics.url} served every required metric (${report.metrics.jobsCounted} completed jobs counted)`
        : `\nmetrics: ${report.metrics.url} lacked ${report.metrics.missing.join(', ')}`,
    );
    ctx.out(report.ok ? '\nall five jobs succeeded, no protocol violation' : '\nsome jobs failed');
  }
  if (!report.ok)
    throw new UserError(
      'the demo saw a job fail, a result that does not decode, or a protocol violation',
      ExitCode.checkFailed,
    );
}
