import type { Logger } from 'pino';
import { startDevStudio } from './server.js';

export interface DevStudioCliOptions {
  port: number;
  autoApprove: boolean;
  log: Logger;
  /** Stops the studio like SIGINT does (tests). */
  signal?: AbortSignal;
  /** Where the banner goes. Default: stdout. */
  write?: (text: string) => void;
}

/** The banner `studio-worker dev-studio` prints: where the studio listens and how to drive it. */
export function devStudioBanner(url: string, autoApprove: boolean): string {
  const admin = `${url}admin`;
  return [
    `dev studio listening on ${url}`,
    `  worker:  studio-worker run   with api_base_url = "${url}"`,
    `  approve: ${autoApprove ? 'automatic (--auto-approve)' : 'manual'}`,
    '',
    'admin API (JSON; see src/dev-studio/README.md):',
    `  GET  ${admin}/registrations   POST ${admin}/registrations/:id/approve | reject | forget`,
    `  GET  ${admin}/workers         POST ${admin}/workers/:id/disconnect | drop | delete`,
    `  GET  ${admin}/jobs            POST ${admin}/jobs   GET ${admin}/jobs/:id[?wait=1]   GET ${admin}/jobs/:id/result`,
    `  GET  ${admin}/violations      POST ${admin}/fail-next-uploads   PUT ${admin}/auto-approve`,
    '',
    'examples:',
    `  curl -X POST ${admin}/registrations/rr-XXXX/approve`,
    `  curl -H 'content-type: application/json' -d '{"task":{"kind":"image","prompt":"a red fox"}}' ${admin}/jobs`,
    `  curl -o result.webp ${admin}/jobs/j-XXXX/result`,
    '',
    'Ctrl-C stops it.',
    '',
  ].join('\n');
}

/** Runs the dev studio until SIGINT / SIGTERM (or `signal`), then closes it cleanly. */
export async function runDevStudioCli(opts: DevStudioCliOptions): Promise<void> {
  const studio = await startDevStudio({ port: opts.port, autoApprove: opts.autoApprove, log: opts.log });
  const write = opts.write ?? ((text: string) => void process.stdout.write(text));
  write(devStudioBanner(studio.url, opts.autoApprove));
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      opts.signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (opts.signal?.aborted) stop();
    else opts.signal?.addEventListener('abort', stop, { once: true });
  });
  opts.log.info({ category: 'dev-studio' }, 'stopping the dev studio');
  await studio.close();
}
