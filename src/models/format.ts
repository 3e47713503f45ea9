/** Decimal gigabytes, as `prune --max-gb` reads them. */
export const GB = 1e9;

/** Gigabytes for messages: two decimals, or three significant digits below 0.01 GB. */
export function formatGb(bytes: number): string {
  const gb = bytes / GB;
  return gb >= 0.01 || gb === 0 ? gb.toFixed(2) : gb.toPrecision(3);
}

export { formatBytes } from '../format/index.js';

/**
 * A URL fit for logs and error messages: the query and fragment are dropped because signed
 * download links carry their credentials there.
 */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    // file:, data: and other non-web URLs have the origin "null": show their scheme instead.
    const origin = u.origin === 'null' ? `${u.protocol}//${u.host}` : u.origin;
    return `${origin}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '<invalid url>';
  }
}

/**
 * What identifies a download across jobs: origin and path. Signed links get a new query on every
 * job, so the query is left out (and never written to disk); If-Range still guards the content.
 */
export function urlKey(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return url;
  }
}
