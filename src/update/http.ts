import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ReleaseFeedSchema, type ReleaseFeed } from '../protocol/index.js';
import { httpRequest, insecureProblem } from '../util/index.js';
import { UpdateError } from './errors.js';

/** The longest silence of the feed's or a package's server before the check gives up. */
const TIMEOUT_MS = 60_000;
/** Redirects followed before a request is given up (GitHub's assets take one or two). */
const MAX_REDIRECTS = 10;
/** A feed or checksum answer larger than this is not one. */
const TEXT_LIMIT = 32 * 1024 * 1024;

const headers = (version: string): Record<string, string> => ({
  // GitHub's API refuses requests without a User-Agent.
  'user-agent': `studio-worker/${version}`,
  accept: 'application/vnd.github+json, application/json;q=0.9, */*;q=0.5',
});

/**
 * GETs `url`, following redirects; resolves with the 2xx answer's body. node:http rather than fetch:
 * fetch loads a second copy of undici into the worker for a check made twice an hour.
 */
async function get(url: string, version: string, signal?: AbortSignal): Promise<IncomingMessage> {
  if (!URL.canParse(url)) throw new UpdateError(`${url} is not a URL`);
  let at = new URL(url);
  for (let redirects = 0; ; redirects++) {
    // Every hop must keep to https: what is read must not have come over plain http.
    const insecure = insecureProblem(at, false);
    if (insecure) {
      throw new UpdateError(
        at.href === url ? `${insecure} (${url})` : `${insecure} (${url} redirected to ${at.href})`,
      );
    }
    const res = await httpRequest(at, { headers: headers(version), signal, timeoutMs: TIMEOUT_MS });
    const location = res.headers.location;
    if (res.status >= 300 && res.status < 400 && location !== undefined) {
      res.body.destroy();
      if (redirects >= MAX_REDIRECTS)
        throw new UpdateError(`GET ${url}: more than ${MAX_REDIRECTS} redirects`);
      if (!URL.canParse(location, at.href))
        throw new UpdateError(`GET ${url}: redirected to ${location}, not a URL`);
      at = new URL(location, at);
      continue;
    }
    if (res.status < 200 || res.status >= 300) {
      res.body.destroy();
      throw new UpdateError(`GET ${url}: HTTP ${res.status}`);
    }
    return res.body;
  }
}

async function readText(url: string, body: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > TEXT_LIMIT) {
      body.destroy();
      throw new UpdateError(`GET ${url}: answer larger than ${TEXT_LIMIT / 1024 / 1024} MiB`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The release feed, validated against the contract's schema (§7). */
export async function fetchReleaseFeed(
  url: string,
  version: string,
  signal?: AbortSignal,
): Promise<ReleaseFeed> {
  const text = await readText(url, await get(url, version, signal));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UpdateError(`${url} is not a release feed: the answer is not JSON`);
  }
  const parsed = ReleaseFeedSchema.safeParse(json);
  if (!parsed.success) throw new UpdateError(`${url} is not a release feed: ${parsed.error.message}`);
  return parsed.data;
}

export async function fetchText(url: string, version: string, signal?: AbortSignal): Promise<string> {
  return readText(url, await get(url, version, signal));
}

/** Streams `url` to `file`, hashing on the way; returns the lowercase hex SHA-256. */
export async function downloadWithSha256(
  url: string,
  file: string,
  version: string,
  signal?: AbortSignal,
): Promise<string> {
  const body = await get(url, version, signal);
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(body, tap, createWriteStream(file));
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
