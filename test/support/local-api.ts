/** A value, or how to read it once the test's set-up has made it. */
type Later = string | (() => string);
const read = (v: Later): string => (typeof v === 'string' ? v : v());

/**
 * `fetch` on the local API at `url` with its bearer `token` and a JSON content type (headers in
 * `init` add to or replace those).
 */
export function localApiCaller(url: Later, token: Later) {
  return (path: string, init: RequestInit = {}) =>
    fetch(`${read(url)}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${read(token)}`,
        'content-type': 'application/json',
        ...init.headers,
      },
    });
}
