import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { EngineResult } from '../engines/index.js';
import type { WorkerEventBus } from '../events/index.js';
import type { StoredResult, StoredResults } from '../outbox/index.js';
import type { Claim } from '../protocol/index.js';
import { promptFor } from '../protocol/index.js';
import { sweepScratch } from './scratch.js';

/** Results up to this size ride along on `job:result` events, for previews. */
const PREVIEW_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Stores a fresh result and adds it to `storedIds` (the job ids with a result on disk), expiring
 * other stored results past their limits.
 */
export async function storeFresh(
  deps: StoreDeps,
  storedIds: Set<string>,
  claim: Claim,
  result: EngineResult,
): Promise<StoredResult> {
  const stored = await storeResult(deps, claim, result);
  storedIds.add(claim.jobId);
  // Only results other than this one can be past a limit: in the common case (none waiting)
  // there is nothing to read back from disk.
  if (storedIds.size > 1) {
    for (const id of await deps.results.expire(Date.now(), claim.jobId)) storedIds.delete(id);
  }
  return stored;
}

export interface StoreDeps {
  results: StoredResults;
  events: WorkerEventBus;
  /** Where a binary result must be uploaded (the approved identity at the time the job ran). */
  identity: () => { workerId: string; apiBaseUrl: string };
  /** fsync the result (file, sidecar, folder) before it is sent (`fsync_results`). */
  sync: boolean;
}

/**
 * Puts a fresh result on disk (JSON results beside the outbox, binary ones in it), says so with a
 * `job:result` event (with the bytes of a small result, for previews) and returns it.
 */
export async function storeResult(
  deps: StoreDeps,
  claim: Claim,
  result: EngineResult,
): Promise<StoredResult> {
  const { jobId } = claim;
  const prompt = promptFor(claim.task);
  if (result.type === 'json') {
    // By default no fsync: the common case is an ack within milliseconds; a crash of the process
    // still keeps it. `fsync_results` makes it survive a power cut too.
    const json = await deps.results.json.put(jobId, result.value, prompt, { sync: deps.sync });
    const text = resultText(result.value);
    deps.events.emit('job:result', {
      jobId,
      kind: claim.task.kind,
      ext: 'json',
      bytes: json.bytes,
      ...(text !== undefined ? { text } : {}),
    });
    return { type: 'json', stored: json };
  }
  const { workerId, apiBaseUrl } = deps.identity();
  const entry = await deps.results.outbox.put(
    { jobId, workerId, apiBaseUrl, ext: result.ext, prompt },
    result.type === 'bytes' ? { data: result.data } : { path: result.path },
    { sync: deps.sync },
  );
  // Small results ride along for previews; a file result (video) is read back only when a
  // listener (the dashboard) wants it.
  const small = entry.bytes <= PREVIEW_MAX_BYTES;
  const data =
    result.type === 'bytes'
      ? small
        ? result.data
        : undefined
      : small && deps.events.listenerCount('job:result') > 0
        ? await readFile(entry.filePath).catch(() => undefined)
        : undefined;
  deps.events.emit('job:result', {
    jobId,
    kind: claim.task.kind,
    ext: result.ext,
    bytes: entry.bytes,
    ...(data ? { data } : {}),
  });
  return { type: 'binary', entry };
}

/** The text a person wants to see of a JSON result: the chat answer, or the transcript. */
function resultText(value: unknown): string | undefined {
  const v = value as { choices?: { message?: { content?: unknown } }[]; text?: unknown } | null;
  const content = v?.choices?.[0]?.message?.content;
  if (typeof content === 'string') return content;
  return typeof v?.text === 'string' ? v.text : undefined;
}

/**
 * Tidies what earlier runs left (scratch folders, half-written results, expired results) and
 * answers the job ids whose finished results are still stored.
 */
export async function tidyStoredResults(opts: {
  workRoot: string;
  results: StoredResults;
  log: Logger;
}): Promise<string[]> {
  const swept = await sweepScratch(opts.workRoot);
  if (swept.length > 0) {
    opts.log.info(`removed ${swept.length} scratch folder(s) left by a worker that was stopped mid-job`);
  }
  const temps = await opts.results.removeTempFiles();
  if (temps.length > 0) {
    opts.log.info(`removed ${temps.length} half-written result file(s) left by a worker that was killed`);
  }
  await opts.results.expire();
  const ids = await opts.results.jobIds();
  if (ids.length > 0) {
    opts.log.info(
      `${ids.length} finished result(s) from earlier sessions are stored; each is delivered if the studio offers its job again`,
    );
  }
  return ids;
}
