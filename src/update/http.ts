import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { ReleaseFeedSchema, type ReleaseFeed } from '../protocol/index.js';
import { insecureProblem } from '../util/index.js';
import { UpdateError } from './errors.js';

const headers = (version: string): Record<string, string> => ({
  // GitHub's API refuses requests without a User-Agent.
  'user-agent': `studio-worker/${version}`,
  accept: 'application/vnd.github+json, application/json;q=0.9, */*;q=0.5',
});

async function get(url: string, version: string, signal?: AbortSignal): Promise<Response> {
  const insecure = URL.canParse(url) ? insecureProblem(new URL(url), false) : undefined;
  if (insecure) throw new UpdateError(`${insecure} (${url})`);
  const res = await fetch(url, { headers: headers(version), redirect: 'follow', signal: signal ?? null });
  // A redirect may have led elsewhere: what was read must have come over https too.
  const landed = res.url && URL.canParse(res.url) ? insecureProblem(new URL(res.url), false) : undefined;
  if (landed) {
    await res.body?.cancel();
    throw new UpdateError(`${landed} (${url} redirected to ${res.url})`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new UpdateError(`GET ${url}: HTTP ${res.status}`);
  }
  return res;
}

/** The release feed, validated against the contract's schema (§7). */
export async function fetchReleaseFeed(
  url: string,
  version: string,
  signal?: AbortSignal,
): Promise<ReleaseFeed> {
  const res = await get(url, version, signal);
  const parsed = ReleaseFeedSchema.safeParse(await res.json());
  if (!parsed.success) throw new UpdateError(`${url} is not a release feed: ${parsed.error.message}`);
  return parsed.data;
}

export async function fetchText(url: string, version: string, signal?: AbortSignal): Promise<string> {
  return (await get(url, version, signal)).text();
}

/** Streams `url` to `file`, hashing on the way; returns the lowercase hex SHA-256. */
export async function downloadWithSha256(
  url: string,
  file: string,
  version: string,
  signal?: AbortSignal,
): Promise<string> {
  const res = await get(url, version, signal);
  if (!res.body) throw new UpdateError(`GET ${url}: empty body`);
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), tap, createWriteStream(file));
  return hash.digest('hex');
}

/**
 * The SHA-256 a checksum asset gives for `assetName`: `sha256sum` lines (`<hex>  <name>` or
 * `<hex> *<name>`), or a lone hex digest in a `<asset>.sha256` file.
 */
export function checksumFor(text: string, assetName: string): string | undefined {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  for (const line of lines) {
    const m = /^([0-9a-fA-F]{64})(?:\s+\*?(.+))?$/.exec(line);
    if (!m?.[1]) continue;
    const name = m[2]?.trim();
    if (name === undefined ? lines.length === 1 : name === assetName || name.endsWith(`/${assetName}`)) {
      return m[1].toLowerCase();
    }
  }
  return undefined;
}
