import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { EngineDispatcher, EngineResult, ModelProvider } from '../engines/index.js';
import { EngineError } from '../engines/index.js';
import type { WorkerEventBus } from '../events/index.js';
import { ClaimSchema, type Claim, type TaskInput } from '../protocol/index.js';
import { sweepScratch, type JobGate } from '../runner/index.js';
import { isAbortError, toError } from '../util/index.js';
import type { CatalogModel } from './catalog.js';
import { ApiError } from './errors.js';

/** Local API jobs' scratch folders in the temp folder: `studio-worker-local-<pid>-<random>`. */
export const LOCAL_SCRATCH_PREFIX = 'studio-worker-local-';

/**
 * Removes the scratch folders of local API jobs whose worker is gone (killed mid-job, so its own
 * cleanup never ran); a live worker's folders, this one's or another's, are left alone.
 */
export function sweepLocalScratch(): Promise<string[]> {
  return sweepScratch(tmpdir(), Date.now(), LOCAL_SCRATCH_PREFIX);
}

export interface LocalJobDeps {
  dispatcher: EngineDispatcher;
  models: ModelProvider;
  gate: JobGate;
  log: Logger;
  /** The worker's events, so local jobs show in the dashboard's history (marked local). */
  events?: WorkerEventBus | undefined;
}

/** Results up to this size ride along on `job:result` for previews (as the runner's do). */
const PREVIEW_MAX_BYTES = 4 * 1024 * 1024;

export const BUSY_MESSAGE = 'worker is busy with another job (studio or local); retry shortly';
export const RETRY_AFTER_SECONDS = 2;

/** A finished local job: bytes with their ext, or JSON. */
export type LocalResult = { type: 'json'; value: unknown } | { type: 'bytes'; ext: string; data: Buffer };

/**
 * Runs one local request as a job: a claim built like a studio offer (validated with the contract's
 * schema), the shared one-job gate taken first (503 while a studio or local job holds it), the
 * engine run with the request's lifetime as its signal.
 */
export async function runLocalJob(
  deps: LocalJobDeps,
  model: CatalogModel,
  task: TaskInput,
  opts: { signal: AbortSignal; onText?: (chunk: string) => void },
): Promise<LocalResult> {
  const jobId = `local-${randomBytes(6).toString('hex')}`;
  const parsed = ClaimSchema.safeParse({
    jobId,
    gameId: 'local',
    assetName: 'local-api',
    model: model.id,
    vramGbEstimate: model.vramGbEstimate,
    task,
    modelSource: model.source,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ApiError(
      400,
      'bad_request',
      `bad input: ${issue?.path.join('.') || '(request)'}: ${issue?.message}`,
    );
  }
  const claim: Claim = parsed.data;
  const refusal = deps.dispatcher.refuse(claim);
  if (refusal !== undefined) throw new ApiError(400, 'cannot_serve', refusal);
  const release = deps.gate.tryAcquire('local', jobId);
  if (!release) throw new ApiError(503, 'busy', BUSY_MESSAGE, { 'retry-after': String(RETRY_AFTER_SECONDS) });
  const log = deps.log.child({ jobId, source: 'local' });
  const started = Date.now();
  const workDir = await mkdtemp(join(tmpdir(), `${LOCAL_SCRATCH_PREFIX}${process.pid}-`));
  deps.events?.emit('job:offered', { claim, source: 'local' });
  deps.events?.emit('job:accepted', { jobId, kind: claim.task.kind, model: claim.model });
  log.info(
    `local ${claim.task.kind} job ${jobId} (model ${claim.model}, engine ${claim.modelSource.engine})`,
  );
  try {
    const result = await deps.dispatcher.run(claim, {
      signal: opts.signal,
      log: log.child({ category: 'engine' }),
      workDir,
      claim,
      models: deps.models,
      ...(opts.onText ? { onText: opts.onText } : {}),
      onProgress: (p) => deps.events?.emit('job:progress', { jobId, ...p }),
    });
    const out = await materialise(result);
    // As a studio job's result: the dashboard's history keeps small ones as previews (and thumbnails).
    if (out.type === 'bytes') {
      const { length } = out.data;
      const data = length <= PREVIEW_MAX_BYTES ? { data: out.data } : {};
      deps.events?.emit('job:result', { jobId, kind: claim.task.kind, ext: out.ext, bytes: length, ...data });
    }
    deps.events?.emit('job:completed', {
      jobId,
      kind: claim.task.kind,
      ms: Date.now() - started,
      ...(out.type === 'bytes' ? { bytes: out.data.length } : {}),
    });
    return out;
  } catch (e) {
    const aborted = isAbortError(e) || opts.signal.aborted;
    const message = aborted ? 'the caller stopped waiting' : toError(e).message;
    deps.events?.emit('job:failed', { jobId, kind: claim.task.kind, error: message, retryable: aborted });
    if (aborted) throw new ApiError(499, 'cancelled', 'the request was cancelled');
    if (e instanceof EngineError) {
      throw new ApiError(e.cannotServe ? 400 : 500, 'engine_error', `engine error: ${e.message}`);
    }
    throw e;
  } finally {
    release();
    await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

async function materialise(result: EngineResult): Promise<LocalResult> {
  if (result.type === 'json') return result;
  if (result.type === 'bytes') return { type: 'bytes', ext: result.ext, data: Buffer.from(result.data) };
  return { type: 'bytes', ext: result.ext, data: await readFile(result.path) };
}
