const BODY_LIMIT = 500;

/** Error codes of a request that never got an answer: worth trying again later. */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

/**
 * A studio route that failed: `operation` says what we were doing, `status`/`body` what the studio
 * answered (absent when it never answered). Network errors, 5xx, 408, 425 and 429 are `retryable`; other
 * answers (4xx, a malformed body) are not, as asking again would get the same answer.
 */
export class StudioHttpError extends Error {
  override readonly name = 'StudioHttpError';
  readonly operation: string;
  readonly status?: number;
  readonly body?: string;
  readonly retryable: boolean;

  constructor(opts: {
    operation: string;
    status?: number;
    body?: string;
    retryable: boolean;
    detail?: string;
    cause?: unknown;
  }) {
    const body = opts.body === undefined ? undefined : truncate(opts.body.trim());
    const parts = [opts.operation];
    if (opts.status !== undefined) parts.push(`HTTP ${opts.status}`);
    if (opts.detail) parts.push(opts.detail);
    if (body) parts.push(body);
    super(parts.join(': '), { cause: opts.cause });
    this.operation = opts.operation;
    if (opts.status !== undefined) this.status = opts.status;
    if (body !== undefined) this.body = body;
    this.retryable = opts.retryable;
  }

  /** The error for a request that got an answer with a non-2xx status. */
  static fromStatus(operation: string, status: number, body: string): StudioHttpError {
    return new StudioHttpError({ operation, status, body, retryable: isRetryableStatus(status) });
  }

  /** The error for a request that got no answer at all (refused, reset, timed out). */
  static fromNetwork(operation: string, cause: Error): StudioHttpError {
    return new StudioHttpError({
      operation,
      detail: cause.message,
      retryable: isNetworkError(cause),
      cause,
    });
  }
}

/** 5xx, and the 4xx that mean "not now" (408 timeout, 425 too early, 429 too many requests). */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 425 || status === 429;
}

/** True for errors of a connection that failed, dropped or timed out before an answer came. */
export function isNetworkError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  return e.cause !== undefined && e.cause !== e && isNetworkError(e.cause);
}

/**
 * Whether trying again later may succeed: an error's own boolean `retryable` decides (StudioHttpError,
 * engine errors); failing that, a network error is retryable and anything else is not.
 */
export function isRetryableError(e: unknown): boolean {
  if (typeof e === 'object' && e !== null) {
    const retryable = (e as { retryable?: unknown }).retryable;
    if (typeof retryable === 'boolean') return retryable;
  }
  return isNetworkError(e);
}

function truncate(text: string): string {
  return text.length > BODY_LIMIT ? `${text.slice(0, BODY_LIMIT)}… (${text.length} chars)` : text;
}
