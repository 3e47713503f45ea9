import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { STREAM_PATH } from './limits.js';
import { TOKEN_REJECTIONS, type StreamTokens } from './tokens.js';

/** The upgrade's verdict: the model its token opens, or the HTTP refusal. */
export type Admission = { ok: true; model: string } | { ok: false; status: 401 | 404; body: string };

/**
 * A query parameter as the original reads it: pairs split on `&`, each on its first `=`, the first
 * pair named `key` wins, a pair without `=` is skipped, and nothing is percent-decoded (a token is hex).
 */
export function queryParam(query: string, key: string): string | undefined {
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    if (eq >= 0 && pair.slice(0, eq) === key) return pair.slice(eq + 1);
  }
  return undefined;
}

/**
 * Checks an upgrade's request target, in the original's order: the path (404), then the `token`
 * query parameter (401 when missing, unknown or expired). Headers play no part: the token is the
 * only guard, so a phone's browser can stream without one.
 */
export function admit(url: string | undefined, tokens: StreamTokens): Admission {
  const target = url ?? '/';
  const mark = target.indexOf('?');
  const path = mark < 0 ? target : target.slice(0, mark);
  if (path !== STREAM_PATH) return { ok: false, status: 404, body: `not found; stream to ${STREAM_PATH}` };
  const token = mark < 0 ? undefined : queryParam(target.slice(mark + 1), 'token');
  if (token === undefined) return { ok: false, status: 401, body: 'missing stream token' };
  const check = tokens.verify(token);
  return check.ok
    ? { ok: true, model: check.model }
    : { ok: false, status: 401, body: TOKEN_REJECTIONS[check.reason] };
}

/** Answers an upgrade with a plain HTTP refusal and drops the socket: the WebSocket never opens. */
export function refuseHandshake(socket: Duplex, status: number, body: string): void {
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
