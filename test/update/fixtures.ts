import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Release } from '../../src/protocol/index.js';

const run = promisify(execFile);

/** What the fixture's bin does once started: record its argv, then live on or die at once. */
export type FixtureBehaviour = { liveMs: number; exitCode: number };

/**
 * A real package named studio-worker, packed by `npm pack`: its bin writes
 * `$FIXTURE_MARKER_DIR/<version>.json` with its argv and environment flag, then exits as told.
 */
export async function packFixture(
  root: string,
  version: string,
  behaviour: FixtureBehaviour,
): Promise<string> {
  const dir = path.join(root, `pkg-${version}`);
  await mkdir(dir, { recursive: true });
  const pkg = { name: 'studio-worker', version, bin: { 'studio-worker': 'bin.js' }, license: 'MIT' };
  await writeFile(path.join(dir, 'package.json'), JSON.stringify(pkg));
  await writeFile(
    path.join(dir, 'bin.js'),
    `#!/usr/bin/env node
const fs = require('node:fs');
const marker = require('node:path').join(process.env.FIXTURE_MARKER_DIR, ${JSON.stringify(`${version}.json`)});
fs.writeFileSync(marker, JSON.stringify({ argv: process.argv.slice(2), supervised: process.env.STUDIO_WORKER_SUPERVISED }));
setTimeout(() => process.exit(${behaviour.exitCode}), ${behaviour.liveMs});
`,
    { mode: 0o755 },
  );
  const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', root], { cwd: dir });
  return path.join(root, stdout.trim().split('\n').pop() ?? '');
}

export const sha256 = async (file: string): Promise<string> =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

export interface FeedServer {
  url: string;
  feedUrl: string;
  releases: Release[];
  /** Paths requested so far. */
  requests: string[];
  /** Serves `body` at /assets/<name>; returns its URL. */
  asset(name: string, body: Buffer | string): string;
  close(): Promise<void>;
}

/** A stand-in for the GitHub Releases API: the feed at /releases, assets at /assets/<name>. */
export async function startFeedServer(): Promise<FeedServer> {
  const assets = new Map<string, Buffer>();
  const releases: Release[] = [];
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    requests.push(url);
    if (url === '/releases') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(releases));
      return;
    }
    const body = assets.get(decodeURIComponent(url.replace(/^\/assets\//, '')));
    if (url.startsWith('/assets/') && body) res.writeHead(200).end(body);
    else res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    feedUrl: `${base}/releases`,
    releases,
    requests,
    asset(name, body) {
      assets.set(name, typeof body === 'string' ? Buffer.from(body) : body);
      return `${base}/assets/${encodeURIComponent(name)}`;
    },
    close: () =>
      new Promise((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}

/** Publishes a release of `tgz` with a SHA256SUMS asset (`checksum` overrides the real one). */
export async function publish(
  feed: FeedServer,
  version: string,
  tgz: string,
  opts: { draft?: boolean; prerelease?: boolean; checksum?: string } = {},
): Promise<void> {
  const name = `studio-worker-${version}.tgz`;
  const sum = opts.checksum ?? (await sha256(tgz));
  feed.releases.push({
    tag_name: `v${version}`,
    draft: opts.draft ?? false,
    prerelease: opts.prerelease ?? false,
    assets: [
      { name, browser_download_url: feed.asset(name, await readFile(tgz)) },
      { name: 'SHA256SUMS', browser_download_url: feed.asset(`SHA256SUMS-${version}`, `${sum}  ${name}\n`) },
    ],
  });
}

export function captureLog() {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (msg: string) => {
    lines.push({ level, msg });
  };
  return { lines, log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}
