import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import path from 'node:path';

/** The only files the dashboard serves: a fixed list, so no path can reach outside the bundle. */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

export async function serveAsset(res: ServerResponse, dir: string, pathname: string): Promise<void> {
  const asset = ASSETS[pathname];
  if (!asset) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`Not found: ${pathname}\n`);
    return;
  }
  let body: Buffer;
  try {
    body = await readFile(path.join(dir, asset.file));
  } catch (e) {
    if ((e as { code?: unknown }).code !== 'ENOENT') throw e;
    res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(
      `The dashboard's front end is not built (${asset.file} missing in ${dir}): run \`npm run build\`.\n`,
    );
    return;
  }
  res.writeHead(200, { 'content-type': asset.type, 'content-length': body.length });
  res.end(body);
}
