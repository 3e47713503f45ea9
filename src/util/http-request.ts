import * as http from 'node:http';
import * as https from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';

/**
 * Keep-alive connection pools for http: and https: origins, built on node:http's Agent. node:http is
 * loaded anyway (the WebSocket session's handshake uses it); undici's Agent would load undici, its
 * llhttp WebAssembly parser and node:http2 into every worker (~6 MB resident, docs/benchmarks.md).
 */
export class HttpAgents {
  readonly http: http.Agent;
  readonly https: https.Agent;

  /** `idleMs`: how long an unused connection is kept for the next request. */
  constructor(opts: { idleMs: number }) {
    // An Agent's `timeout` is the free socket's idle limit; a request's own timeout replaces it in use.
    this.http = new http.Agent({ keepAlive: true, timeout: opts.idleMs });
    this.https = new https.Agent({ keepAlive: true, timeout: opts.idleMs });
  }

  /** Closes every pooled connection (requests in flight are cut). */
  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** A stream is sent as it comes (give its `content-length` in `headers`, else it goes chunked). */
  body?: string | Uint8Array | Readable | undefined;
  signal?: AbortSignal | undefined;
  /**
   * The longest silence on the connection: connecting, waiting for the answer's headers, and between
   * two chunks of its body. Past it the request fails with code `ETIMEDOUT`.
   */
  timeoutMs: number;
  /** Pooled connections to use; without them each request opens (and closes) its own. */
  agents?: HttpAgents | undefined;
}

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The answer's body, to read to its end (or destroy) so that its connection can be reused. */
  body: IncomingMessage;
}

/** Raised when the connection stays silent longer than the request's `timeoutMs`. */
export class HttpTimeoutError extends Error {
  override readonly name = 'HttpTimeoutError';
  readonly code = 'ETIMEDOUT';
}

/**
 * One HTTP request with node:http(s). Resolves with the answer once its headers are in, whatever its
 * status; rejects on a network error, a timeout (HttpTimeoutError) or an abort (the AbortError of
 * node:http, `name` 'AbortError'). A stall while the body is read fails the body's stream the same way.
 */
export function httpRequest(url: URL, opts: HttpRequestOptions): Promise<HttpAnswer> {
  const secure = url.protocol === 'https:';
  if (!secure && url.protocol !== 'http:') {
    return Promise.reject(new TypeError(`${url.href}: only http: and https: URLs can be requested`));
  }
  const headers: Record<string, string> = { ...opts.headers };
  const body = opts.body;
  if ((typeof body === 'string' || body instanceof Uint8Array) && !hasHeader(headers, 'content-length')) {
    headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
  }
  const agent = opts.agents ? (secure ? opts.agents.https : opts.agents.http) : undefined;
  return new Promise<HttpAnswer>((resolve, reject) => {
    const req = (secure ? https : http).request(url, {
      method: opts.method ?? 'GET',
      headers,
      timeout: opts.timeoutMs,
      ...(agent ? { agent } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    req.once('timeout', () => {
      req.destroy(new HttpTimeoutError(`no answer from ${url.host} for ${seconds(opts.timeoutMs)}`));
    });
    req.on('error', reject);
    req.once('response', (res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
    });
    if (body === undefined) req.end();
    else if (typeof body === 'string' || body instanceof Uint8Array) req.end(body);
    else {
      // A failing body fails the request with its own error (pipeline() would abort it as "socket
      // hang up"); a request that ends early stops reading the body.
      body.once('error', (e) => req.destroy(e));
      req.once('close', () => {
        if (!body.readableEnded) body.destroy();
      });
      body.pipe(req);
    }
  });
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((k) => k.toLowerCase() === name);
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
