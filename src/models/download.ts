import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { EngineError } from '../engines/types.js';
import { undici } from '../util/index.js';
import type { ModelFile } from '../protocol/index.js';
import { ensureFreeSpace } from './disk.js';
import { wantedSha256 } from './names.js';
import { displayUrl, formatBytes, urlKey } from './format.js';
import { discard, statusError } from './http.js';
import { hashInWorker, startHashWriter } from './hash-writer.js';
import { fileSize, partialPaths, removePartial, resumePoint, writeMeta } from './partial.js';
import type { PartialMeta } from './partial.js';
import type { DownloadProgress } from './progress.js';

/** Received chunks are written in batches of about this size. */
const WRITE_BATCH_BYTES = 1024 * 1024;

/** `approxBytes` is a studio's estimate: a file within this fraction of it is the right size. */
export const APPROX_TOLERANCE = 0.1;

export interface DownloadContext {
  root: string;
  dispatcher: Dispatcher;
  freeBytes: (dir: string) => Promise<number>;
  progress: DownloadProgress;
  log: Logger;
  signal: AbortSignal;
}

export interface Downloaded {
  bytes: number;
  sha256: string;
}

/** Why `bytes` cannot be the file the studio described as about `approxBytes`, if it cannot. */
export function approxSizeProblem(file: ModelFile, bytes: number): string | undefined {
  const approx = file.approxBytes;
  if (!approx) return undefined;
  if (Math.abs(bytes - approx) <= approx * APPROX_TOLERANCE) return undefined;
  return `${file.filename} is ${bytes} bytes but the studio expects about ${approx} (±${APPROX_TOLERANCE * 100} %)`;
}

/**
 * One attempt at downloading `file` into `<root>/<filename>`: resumes a partial with Range +
 * If-Range when it can, streams the body to the partial while hashing it, checks the size (against
 * Content-Length / Content-Range and approxBytes) and the sha256, and only then renames the file
 * into place. A network error or abort keeps the partial for the next attempt; a wrong file is
 * deleted and reported as non-retryable.
 */
export async function downloadAttempt(file: ModelFile, ctx: DownloadContext): Promise<Downloaded> {
  const paths = partialPaths(ctx.root, file.filename);
  const { offset, validator } = await resumePoint(paths, file.url);
  if (file.approxBytes) await ensureFreeSpace(ctx.root, file.approxBytes - offset, ctx.freeBytes);

  // The writer hashes a resumed download's partial before the request (hashing gigabytes while an
  // answer waits would trip its stall timeout). With approxBytes known it starts now, so a worker
  // thread's start overlaps the request; otherwise once Content-Length tells the size.
  let writer =
    offset > 0 || file.approxBytes
      ? await startHashWriter(paths.part, { prefix: offset, inWorker: hashInWorker(file.approxBytes) })
      : undefined;
  try {
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (offset > 0 && validator) Object.assign(headers, { range: `bytes=${offset}-`, 'if-range': validator });
    const res = await undici().request(file.url, {
      method: 'GET',
      headers,
      dispatcher: ctx.dispatcher,
      signal: ctx.signal,
    });

    let start: number;
    let meta: PartialMeta;
    try {
      const answer = await checkAnswer(res, file, offset, ctx);
      start = answer.start;
      if (answer.total !== undefined) await ensureFreeSpace(ctx.root, answer.total - start, ctx.freeBytes);
      const etag = header(res.headers.etag);
      const lastModified = header(res.headers['last-modified']);
      meta = {
        url: urlKey(file.url),
        bytes: start,
        ...(etag ? { etag } : {}),
        ...(lastModified ? { lastModified } : {}),
        ...(answer.total !== undefined ? { totalBytes: answer.total } : {}),
      };
      await writeMeta(paths.meta, meta);
      writer ??= await startHashWriter(paths.part, { prefix: 0, inWorker: hashInWorker(answer.total) });
    } catch (e) {
      // An answer we will not read must still be drained, or its connection stays busy forever.
      await discard(res.body);
      throw e;
    }
    const total = meta.totalBytes;

    ctx.progress.start(start, total);
    // Without a length, stop a runaway body at the approxBytes tolerance instead of filling the disk.
    const limit =
      total ?? (file.approxBytes ? Math.floor(file.approxBytes * (1 + APPROX_TOLERANCE)) : Infinity);
    let size = start;
    let tooLong = false;
    let sha256 = '';
    try {
      // Chunks are gathered into ~1 MiB batches that the writer hashes and writes (a worker thread
      // for a big file, else one write in flight), while the next chunks are read, so network,
      // hashing and disk overlap. Whatever arrived before a cut is flushed in `finally` (a stream
      // pipeline would drop its buffered chunks when torn down), so the partial holds every byte
      // received. Opening from 0 after a resume was refused (200) forgets the partial's hash.
      const out = writer;
      await out.open(start);
      let batch: Buffer[] = [];
      let batchBytes = 0;
      const flush = async (): Promise<void> => {
        if (batchBytes === 0) return;
        const chunks = batch;
        batch = [];
        batchBytes = 0;
        await out.write(chunks);
      };
      try {
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          if (size + chunk.length > limit) {
            tooLong = true;
            throw new EngineError(
              `wrong size: ${file.filename} is longer than the ${limit} bytes expected`,
              false,
            );
          }
          size += chunk.length;
          ctx.progress.add(chunk.length);
          batch.push(chunk);
          batchBytes += chunk.length;
          if (batchBytes >= WRITE_BATCH_BYTES) await flush();
        }
      } finally {
        try {
          await flush();
        } finally {
          sha256 = await out.finish();
        }
      }
    } catch (e) {
      if (tooLong) await removePartial(paths);
      else await writeMeta(paths.meta, { ...meta, bytes: await fileSize(paths.part) });
      throw e;
    }

    if (total !== undefined && size < total) {
      throw new EngineError(`connection ended after ${formatBytes(size)} of ${formatBytes(total)}`, true);
    }
    const wrongSize = approxSizeProblem(file, size);
    const want = wantedSha256(file);
    const wrongHash =
      want && want !== sha256 ? `sha256 of ${file.filename} is ${sha256}, expected ${want}` : undefined;
    if (wrongSize || wrongHash) {
      await removePartial(paths);
      throw new EngineError(
        `${wrongSize ? `wrong size: ${wrongSize}` : `wrong hash: ${wrongHash}`} (${displayUrl(file.url)})`,
        false,
      );
    }
    await rename(paths.part, join(ctx.root, file.filename));
    await rm(paths.meta, { force: true });
    return { bytes: size, sha256 };
  } finally {
    // Stops a worker thread whatever happened (a no-op after `finish`): it would keep the process alive.
    await writer?.abort();
  }
}

/**
 * Where the answer's body starts in the file and the file's full size: a 206 must continue exactly
 * at `offset`; a 200 starts over (the file changed, or the server ignores ranges).
 */
async function checkAnswer(
  res: Dispatcher.ResponseData,
  file: ModelFile,
  offset: number,
  ctx: DownloadContext,
): Promise<{ start: number; total: number | undefined }> {
  const paths = partialPaths(ctx.root, file.filename);
  let start = 0;
  let total = numberHeader(res.headers['content-length']);
  if (res.statusCode === 206) {
    const range = parseContentRange(header(res.headers['content-range']));
    if (!range || range.start !== offset) {
      await removePartial(paths);
      throw new EngineError(
        `server answered a range other than bytes=${offset}- for ${file.filename}; starting over`,
        true,
      );
    }
    start = offset;
    total = range.total;
  } else if (res.statusCode === 416) {
    await removePartial(paths);
    throw new EngineError(`server refused to resume ${file.filename} (HTTP 416); starting over`, true);
  } else if (res.statusCode !== 200) {
    throw statusError(file.url, res.statusCode);
  } else if (offset > 0) {
    ctx.log.info(
      { filename: file.filename },
      `${file.filename} changed on the server or cannot be resumed; downloading it whole`,
    );
  }
  const wrong = total !== undefined ? approxSizeProblem(file, total) : undefined;
  if (wrong) {
    await removePartial(paths);
    throw new EngineError(`wrong size: ${wrong} (${displayUrl(file.url)})`, false);
  }
  return { start, total };
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function numberHeader(value: string | string[] | undefined): number | undefined {
  const text = header(value);
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  return Number(text);
}

function parseContentRange(
  value: string | undefined,
): { start: number; total: number | undefined } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value ?? '');
  if (!m?.[1] || !m[3]) return undefined;
  return { start: Number(m[1]), total: m[3] === '*' ? undefined : Number(m[3]) };
}
