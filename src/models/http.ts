import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { EngineError } from '../engines/types.js';
import { backoffDelay, insecureProblem, sleep, toError, undici } from '../util/index.js';
import type { BackoffOptions } from '../util/index.js';
import { displayUrl } from './format.js';

/** A stalled connection (no headers, or no next chunk) for this long counts as a network error. */
const STALL_MS = 60_000;
const MAX_REDIRECTIONS = 5;

/**
 * One keep-alive agent that follows redirects (model hosts answer with a redirect to a CDN). Every
 * hop, redirects included, must pass the https rule of `insecureProblem`.
 */
export function createHttpAgent(opts: { allowInsecure?: boolean } = {}): {
  dispatcher: Dispatcher;
  close: () => Promise<void>;
} {
  const { Agent, interceptors } = undici();
  const agent = new Agent({
    headersTimeout: STALL_MS,
    bodyTimeout: STALL_MS,
    connect: { timeout: STALL_MS },
  });
  const httpsOnly: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (options, handler) => {
    const origin = options.origin === undefined ? undefined : new URL(String(options.origin));
    const problem = origin && insecureProblem(origin, opts.allowInsecure ?? false);
    if (problem) throw new EngineError(problem, false);
    return dispatch(options, handler);
  };
  return {
    // The https check sits inside the redirect interceptor, so it sees every hop.
    dispatcher: agent.compose(httpsOnly, interceptors.redirect({ maxRedirections: MAX_REDIRECTIONS })),
    close: () => agent.close(),
  };
}

/**
 * Only web URLs are fetched (`file:`, `data:` and the like could read this machine's files), and
 * plain http only to this machine unless `allowInsecure`.
 */
export function parseWebUrl(url: string, allowInsecure = false): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new EngineError(`not a valid URL: ${JSON.stringify(url.slice(0, 200))}`, false);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new EngineError(
      `only http and https URLs can be downloaded, not ${parsed.protocol} (${displayUrl(url)})`,
      false,
    );
  }
  const insecure = insecureProblem(parsed, allowInsecure);
  if (insecure) throw new EngineError(`${insecure} (${displayUrl(url)})`, false);
  return parsed;
}

/**
 * The error for an unexpected HTTP status: a 4xx will not change on retry (the file is missing or
 * forbidden), a 5xx or anything else may.
 */
export function statusError(url: string, status: number): EngineError {
  const retryable = status < 400 || status >= 500;
  return new EngineError(`GET ${displayUrl(url)} answered HTTP ${status}`, retryable);
}

/** Drains an answer we will not read, so its connection goes back to the pool. */
export async function discard(body: Dispatcher.ResponseData['body']): Promise<void> {
  try {
    await body.dump();
  } catch {
    // The connection is closed instead; nothing to report.
  }
}

export interface RetryOptions {
  maxAttempts: number;
  backoff: BackoffOptions;
  signal: AbortSignal;
  log: Logger;
}

/**
 * Runs `attempt` until it succeeds, a non-retryable EngineError is thrown, the signal aborts (its
 * error passes through untouched) or `maxAttempts` are spent (then a retryable EngineError).
 */
export async function withRetries<T>(
  what: string,
  attempt: (n: number) => Promise<T>,
  { maxAttempts, backoff, signal, log }: RetryOptions,
): Promise<T> {
  let last: Error | undefined;
  for (let n = 0; n < maxAttempts; n++) {
    try {
      return await attempt(n);
    } catch (e) {
      const err = toError(e);
      if (signal.aborted) throw e;
      if (err instanceof EngineError && !err.retryable) throw err;
      if (isNonWebRedirect(err)) {
        // undici refuses to follow `Location: file:///…` (or data:, ftp:): no retry can change that.
        throw new EngineError(
          `${what} failed: the server redirected to a URL that is not http or https`,
          false,
          {
            cause: err,
          },
        );
      }
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
        throw new EngineError(`${what} failed: the disk is full`, false, { cause: err });
      }
      last = err;
      if (n + 1 < maxAttempts) {
        const delayMs = backoffDelay(n, { ...backoff, jitter: 0.2 });
        log.warn(
          { err, attempt: n + 1, delayMs },
          `${what} failed (${err.message}); retrying in ${delayMs} ms`,
        );
        await sleep(delayMs, signal);
      }
    }
  }
  throw new EngineError(
    `${what} failed after ${maxAttempts} attempts: ${last?.message ?? 'unknown error'}`,
    true,
    {
      cause: last,
    },
  );
}

/** undici's refusal of a redirect whose `Location` is not an http(s) URL. */
function isNonWebRedirect(err: Error): boolean {
  return (err as { code?: unknown }).code === 'UND_ERR_INVALID_ARG' && /URL protocol/i.test(err.message);
}
