import { request } from 'node:http';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { buildWeb } from '../../src/dashboard/build-web.js';
import {
  loadOrCreateDashboardToken,
  startDashboard,
  type Dashboard,
  type DashboardOptions,
} from '../../src/dashboard/index.js';
import type { Harness, RunningWorker } from '../support/harness.js';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A request with exactly the headers given: node:http lets a test set Host and Origin as a
 * DNS-rebinding page or a foreign site would, which fetch does not allow.
 */
export function rawRequest(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? 'GET',
        headers: { host: `127.0.0.1:${port}`, ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The front end, built by the real build step into a temp folder. */
export async function builtAssets(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sw-dashboard-web-'));
  await buildWeb(dir);
  return dir;
}

export const CHROMIUM = '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);

/** The Debian chromium, headless and quiet (no network of its own). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** The real dashboard for a harness worker, on any free port, with the front end built for real. */
export async function startTestDashboard(
  h: Harness,
  w: RunningWorker,
  extra: Partial<DashboardOptions> = {},
): Promise<Dashboard> {
  return startDashboard({
    worker: w.worker,
    store: h.store,
    log: w.log,
    port: 0,
    token: await loadOrCreateDashboardToken(h.configDir),
    assetsDir: await builtAssets(),
    ...extra,
  });
}
