import { request } from 'undici';
import { expandHome } from '../../config/index.js';
import { EngineDispatcher, createEngines, watchdogLimits } from '../../engines/index.js';
import type { GenerateFlags } from '../../generate/index.js';
import { buildGenerateClaim, LocalFirstModels, resultExt, runLocalJob } from '../../generate/index.js';
import { ModelCache } from '../../models/index.js';
import { studioUrl } from '../../protocol/index.js';
import { ExitCode, UserError } from '../../util/index.js';
import type { CommandContext } from '../context.js';
import { onShutdownSignal } from '../signals.js';

export type GenerateOptions = GenerateFlags & { output?: string; enqueue?: string; repeat?: string };

/** Posts the job to a dev studio's admin API instead of running it here. */
async function enqueueOnDevStudio(
  ctx: CommandContext,
  devStudioUrl: string,
  flags: GenerateOptions,
): Promise<void> {
  const claim = buildGenerateClaim(flags);
  const url = new URL('/admin/jobs', studioUrl(devStudioUrl, '/').origin);
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ task: claim.task, modelSource: claim.modelSource, model: claim.model }),
  });
  const text = await res.body.text();
  if (res.statusCode >= 300)
    throw new UserError(`the dev studio refused the job: HTTP ${res.statusCode}: ${text}`);
  const job = JSON.parse(text) as { jobId: string };
  ctx.out(`enqueued job ${job.jobId} on ${devStudioUrl}`);
}

export async function generateCommand(ctx: CommandContext, flags: GenerateOptions): Promise<void> {
  if (flags.enqueue !== undefined) {
    await enqueueOnDevStudio(ctx, flags.enqueue, flags);
    return;
  }
  const ext = resultExt(flags.kind, flags.output, flags.ext);
  const claim = buildGenerateClaim({ ...flags, ...(ext !== undefined ? { ext } : {}) });
  const repeat = Number(flags.repeat ?? '1');
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 100) {
    throw new UserError(`--repeat expects a whole number from 1 to 100, got "${flags.repeat}"`);
  }
  const config = await ctx.store.load();
  const cache = new ModelCache({
    root: expandHome(config.modelsRoot),
    log: ctx.log,
    allowInsecure: config.allowInsecureDownloads,
    ...(process.stderr.isTTY ? { terminal: process.stderr } : {}),
  });
  const models = new LocalFirstModels(cache);
  const dispatcher = new EngineDispatcher(createEngines({ config, log: ctx.log }), {
    limits: watchdogLimits(config),
    log: ctx.log,
  });
  await dispatcher.init();
  const abort = new AbortController();
  const offSignals = onShutdownSignal(
    () => {
      abort.abort(new Error('interrupted'));
      return Promise.resolve();
    },
    ctx.log,
    null,
  );
  try {
    // Repeats run in this one process, so the engines keep their models warm: run 2 shows the warm time.
    for (let run = 1; run <= repeat; run++) {
      const outcome = await runLocalJob({
        claim,
        dispatcher,
        models,
        log: ctx.log,
        outputPath: flags.output,
        signal: abort.signal,
      });
      const which = repeat > 1 ? ` (run ${run}/${repeat})` : '';
      ctx.out(
        `${claim.task.kind} on ${claim.modelSource.engine}${which}: ${outcome.summary} in ${outcome.ms} ms → ${outcome.outputPath}`,
      );
      if (!outcome.ok)
        throw new UserError(`the result does not check out: ${outcome.summary}`, ExitCode.checkFailed);
    }
  } catch (e) {
    // Ctrl+C / SIGTERM: the engine was stopped on purpose; say so in one line, as a shell expects.
    if (abort.signal.aborted)
      throw new UserError(
        'generate: interrupted, the job was stopped and nothing was written',
        ExitCode.interrupted,
      );
    throw e;
  } finally {
    offSignals();
    await dispatcher.close();
  }
}
