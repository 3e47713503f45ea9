import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { EngineDispatcher, ModelProvider } from '../engines/index.js';
import { EngineError } from '../engines/index.js';
import type { Claim } from '../protocol/index.js';
import { verifyResult } from '../results/index.js';
import { ExitCode, UserError } from '../util/index.js';

export interface LocalJobOutcome {
  outputPath: string;
  ms: number;
  summary: string;
  ok: boolean;
}

/**
 * Runs one claim on this machine's engines, without a studio, and writes the result to
 * `outputPath` (binary results as they are, JSON results pretty-printed).
 */
export async function runLocalJob(opts: {
  claim: Claim;
  dispatcher: EngineDispatcher;
  models: ModelProvider;
  log: Logger;
  outputPath: string | undefined;
  signal: AbortSignal;
  onProgress?: (fraction: number | undefined, message: string | undefined) => void;
}): Promise<LocalJobOutcome> {
  const { claim, dispatcher } = opts;
  const refusal = dispatcher.refuse(claim);
  if (refusal !== undefined) throw new UserError(`cannot run this job here: ${refusal}`);
  const workDir = await mkdtemp(join(tmpdir(), 'studio-worker-generate-'));
  const started = Date.now();
  try {
    const result = await dispatcher.run(claim, {
      signal: opts.signal,
      log: opts.log.child({ category: 'engine', jobId: claim.jobId }),
      workDir,
      claim,
      models: opts.models,
      onProgress: (p) => opts.onProgress?.(p.fraction, p.message),
    });
    const ms = Date.now() - started;
    const kind = claim.task.kind;
    const ext = result.type === 'json' ? 'json' : result.ext;
    const outputPath = opts.outputPath ?? `${kind}-${new Date().toISOString().replace(/[:.]/g, '-')}.${ext}`;
    if (result.type === 'json') await writeFile(outputPath, `${JSON.stringify(result.value, null, 2)}\n`);
    else if (result.type === 'bytes') await writeFile(outputPath, result.data);
    else await copyFile(result.path, outputPath);
    const check =
      result.type === 'json'
        ? await verifyResult(kind, { json: result.value }, claim.task)
        : await verifyResult(kind, { path: outputPath, ext }, claim.task);
    return { outputPath, ms, summary: check.summary, ok: check.ok };
  } catch (e) {
    if (e instanceof EngineError) {
      throw new UserError(
        `the ${claim.modelSource.engine} engine failed: ${e.message}`,
        ExitCode.checkFailed,
        {
          cause: e,
        },
      );
    }
    throw e;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
