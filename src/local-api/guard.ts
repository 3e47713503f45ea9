import { timingSafeEqual } from 'node:crypto';

/** localhost, 127.0.0.1 and ::1, with or without a port (bracketed IPv6 too). */
export function isLoopbackHostHeader(host: string): boolean {
  const h = host.trim().toLowerCase();
  const name = h.startsWith('[') ? h.slice(1, h.indexOf(']')) : h.replace(/:\d+$/, '');
  return name === 'localhost' || name === '127.0.0.1' || name === '::1';
}

export type Verdict = { ok: true } | { ok: false; status: 401 | 403; code: string; message: string };

/**
 * Who may use the local API, as the original decides: a request whose Host is not a loopback name
 * (DNS rebinding) or whose Origin is another site is refused before the token is looked at; then
 * `Authorization: Bearer <token>` must match, compared in constant time.
 */
export function checkLocalRequest(
  headers: { host?: string | undefined; origin?: string | undefined; authorization?: string | undefined },
  token: string,
): Verdict {
  if (headers.host !== undefined && !isLoopbackHostHeader(headers.host)) {
    return {
      ok: false,
      status: 403,
      code: 'forbidden',
      message: `forbidden: non-loopback Host header "${headers.host}"`,
    };
  }
  if (headers.origin !== undefined) {
    let allowed = false;
    try {
      const url = new URL(headers.origin);
      allowed = (url.protocol === 'http:' || url.protocol === 'https:') && isLoopbackHostHeader(url.host);
    } catch {
      allowed = false;
    }
    if (!allowed) {
      return {
        ok: false,
        status: 403,
        code: 'forbidden',
        message: `forbidden: cross-site request from Origin "${headers.origin}"`,
      };
    }
  }
  const bearer = /^bearer (.+)$/i.exec(headers.authorization ?? '')?.[1]?.trim();
  if (!bearer || !sameSecret(bearer, token)) {
    return {
      ok: false,
      status: 401,
      code: 'unauthorized',
      message:
        "missing or invalid Authorization bearer token; local clients can read the current token from the local-api.json discovery file in the worker's config directory (`studio-worker local-api` prints where)",
    };
  }
  return { ok: true };
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
