import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Dispatcher } from 'undici';
import { EngineError } from '../engines/types.js';
import { undici } from '../util/index.js';
import { displayUrl } from './format.js';
import { discard, parseWebUrl, statusError, withRetries } from './http.js';
import type { RetryOptions } from './http.js';
import { inputFilename } from './names.js';

export interface FetchInputOptions extends RetryOptions {
  dispatcher: Dispatcher;
  /** Plain http to other hosts than this machine (config `allow_insecure_downloads`). */
  allowInsecure?: boolean;
  maxBytes?: number | undefined;
}

/**
 * Downloads a job input into `destDir` under a name derived safely from the URL. Not cached and
 * not resumed (inputs are small and per job): each retry starts over.
 */
export async function fetchInputFile(url: string, destDir: string, opts: FetchInputOptions): Promise<string> {
  const parsed = parseWebUrl(url, opts.allowInsecure);
  const dest = join(destDir, inputFilename(parsed));
  const temp = `${dest}.part`;
  const maxBytes = opts.maxBytes ?? Infinity;
  const tooLarge = () =>
    new EngineError(`input ${displayUrl(url)} is larger than the ${maxBytes} bytes this job allows`, false);
  await mkdir(destDir, { recursive: true });

  return withRetries(
    `download of input ${displayUrl(url)}`,
    async () => {
      const res = await undici().request(parsed, {
        method: 'GET',
        headers: { 'accept-encoding': 'identity' },
        dispatcher: opts.dispatcher,
        signal: opts.signal,
      });
      if (res.statusCode !== 200) {
        await discard(res.body);
        throw statusError(url, res.statusCode);
      }
      const length = Number(res.headers['content-length'] ?? NaN);
      if (length > maxBytes) {
        await discard(res.body);
        throw tooLarge();
      }
      let size = 0;
      const meter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          size += chunk.length;
          done(size > maxBytes ? tooLarge() : null, chunk);
        },
      });
      try {
        await pipeline(res.body, meter, createWriteStream(temp), { signal: opts.signal });
        await rename(temp, dest);
      } catch (e) {
        await rm(temp, { force: true });
        throw e;
      }
      opts.log.debug({ url: displayUrl(url), bytes: size, path: dest }, 'job input downloaded');
      return dest;
    },
    opts,
  );
}
