import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const COOKIE_PREFIX = 'studio_worker_dashboard_';

export type GuardVerdict =
  { ok: true; viaQuery: boolean } | { ok: false; status: 401 | 403; message: string };

/**
 * Who may talk to the dashboard: only pages it served itself, on this machine, holding the token.
 * - Host must name the loopback address we listen on: a DNS-rebinding page reaches 127.0.0.1
 *   under its own hostname, so its Host header gives it away.
 * - Origin, when the browser sends one, must be ours: another site's page (or another local port)
 *   is refused even before the token is looked at.
 * - The token comes as `?token=` (the URL the command printed), `Authorization: Bearer`, or the
 *   SameSite=Strict cookie set on the first page load.
 */
export function checkRequest(req: IncomingMessage, port: number, token: string): GuardVerdict {
  const allowedHosts = [`127.0.0.1:${port}`, `localhost:${port}`];
  const host = req.headers.host?.toLowerCase();
  if (!host || !allowedHosts.includes(host)) {
    return {
      ok: false,
      status: 403,
      message: `Refused: Host "${host ?? ''}" is not this dashboard (expected ${allowedHosts.join(' or ')}).`,
    };
  }
  const origin = req.headers.origin;
  if (origin !== undefined && !allowedHosts.some((h) => origin.toLowerCase() === `http://${h}`)) {
    return { ok: false, status: 403, message: `Refused: requests from origin ${origin} are not allowed.` };
  }
  const url = new URL(req.url ?? '/', `http://${host}`);
  const fromQuery = url.searchParams.get('token');
  if (fromQuery !== null && sameSecret(fromQuery, token)) return { ok: true, viaQuery: true };
  const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  const fromCookie = readCookie(req.headers.cookie, cookieName(port));
  if ((bearer && sameSecret(bearer, token)) || (fromCookie && sameSecret(fromCookie, token))) {
    return { ok: true, viaQuery: false };
  }
  return {
    ok: false,
    status: 401,
    message: 'Missing or wrong dashboard token: open the URL that `studio-worker ui` printed.',
  };
}

/** Cookies ignore ports, so the name carries ours: two dashboards on one machine keep their own. */
export function cookieName(port: number): string {
  return `${COOKIE_PREFIX}${port}`;
}

export function sessionCookie(port: number, token: string): string {
  return `${cookieName(port)}=${token}; Path=/; HttpOnly; SameSite=Strict`;
}

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
