import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadWithSha256, fetchReleaseFeed, fetchText } from '../../src/update/http.js';

const feed = [{ tag_name: 'v9.0.0', draft: false, prerelease: false, assets: [] }];
const packageBytes = Buffer.alloc(300_000, 7);
let server: Server;
let base: string;
let root: string;
const seenAgents: (string | undefined)[] = [];

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'sw-update-http-'));
  server = createServer((req, res) => {
    seenAgents.push(req.headers['user-agent']);
    const url = req.url ?? '/';
    if (url === '/hop1') res.writeHead(302, { location: '/hop2' }).end();
    else if (url === '/hop2') res.writeHead(301, { location: `${base}/releases` }).end();
    else if (url === '/releases')
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(feed));
    else if (url === '/loop') res.writeHead(307, { location: '/loop' }).end();
    else if (url === '/away') res.writeHead(302, { location: 'http://downloads.example.com/pkg.tgz' }).end();
    else if (url === '/html') res.writeHead(200, { 'content-type': 'text/html' }).end('<html>sign in</html>');
    else if (url === '/pkg') res.writeHead(302, { location: '/pkg-bytes' }).end();
    else if (url === '/pkg-bytes') res.writeHead(200).end(packageBytes);
    else if (url === '/SHA256SUMS') res.writeHead(200).end('abc  pkg.tgz\n');
    else res.writeHead(404).end('not here');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(root, { recursive: true, force: true });
});

describe('the update feed and package requests (node:http against a loopback server)', () => {
  it('follows redirects to the feed and sends the worker’s User-Agent on every hop', async () => {
    seenAgents.length = 0;
    const got = await fetchReleaseFeed(`${base}/hop1`, '1.2.3');
    expect(got.map((r) => r.tag_name)).toEqual(['v9.0.0']);
    expect(seenAgents).toEqual(['studio-worker/1.2.3', 'studio-worker/1.2.3', 'studio-worker/1.2.3']);
  });

  it('refuses a redirect to plain http on another host before connecting to it', async () => {
    await expect(fetchText(`${base}/away`, '1.2.3')).rejects.toThrow(
      /^refusing plain http to downloads\.example\.com: .* \(http:\/\/127\.0\.0\.1:\d+\/away redirected to http:\/\/downloads\.example\.com\/pkg\.tgz\)$/,
    );
  });

  it('gives up after ten redirects', async () => {
    await expect(fetchText(`${base}/loop`, '1.2.3')).rejects.toThrow(/\/loop: more than 10 redirects$/);
  });

  it('names the status of a failed request, and a feed that is not JSON', async () => {
    await expect(fetchText(`${base}/missing`, '1.2.3')).rejects.toThrow(
      /^GET http:\/\/127\.0\.0\.1:\d+\/missing: HTTP 404$/,
    );
    await expect(fetchReleaseFeed(`${base}/html`, '1.2.3')).rejects.toThrow(
      /\/html is not a release feed: the answer is not JSON$/,
    );
    await expect(fetchReleaseFeed('not a url', '1.2.3')).rejects.toThrow(/^not a url is not a URL$/);
  });

  it('downloads a package through a redirect, hashing what it writes', async () => {
    const file = path.join(root, 'pkg.tgz');
    const digest = await downloadWithSha256(`${base}/pkg`, file, '1.2.3');
    expect(digest).toBe(createHash('sha256').update(packageBytes).digest('hex'));
    expect((await readFile(file)).equals(packageBytes)).toBe(true);
    expect(await fetchText(`${base}/SHA256SUMS`, '1.2.3')).toBe('abc  pkg.tgz\n');
  });
});
