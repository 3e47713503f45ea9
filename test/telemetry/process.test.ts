import { execFile } from 'node:child_process';
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSentryHost } from './sentry-host.js';

const run = promisify(execFile);
const TOKEN = 'tok_crash_9e8d7c6b5a';

// A fresh Node process per case, running src/telemetry bundled by esbuild with @sentry/node left
// external; the bundle sits under the repo's node_modules so that import resolves as in production.
// A resolve hook reports every @sentry/* module the process loads.
const dir = path.resolve('node_modules/.cache/telemetry-test', String(process.pid));

const CHILD = `
import { register } from 'node:module';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
const { port1, port2 } = new MessageChannel();
const hook = 'let port; export function initialize(d) { port = d.port; }' +
  'export async function resolve(s, c, next) { if (s.startsWith("@sentry/")) port.postMessage(s); return next(s, c); }';
register('data:text/javascript,' + encodeURIComponent(hook), { data: { port: port2 }, transferList: [port2] });
const { initTelemetry } = await import('./telemetry.mjs');
const log = { info() {}, warn() {}, onRecord: () => () => {} };
const telemetry = await initTelemetry({ version: '7.7.7', log, secrets: [process.env.TOKEN] });
const loaded = [];
for (let m; (m = receiveMessageOnPort(port1)); ) loaded.push(m.message);
port1.close();
console.log(JSON.stringify({ enabled: telemetry !== undefined, loaded }));
if (process.env.CRASH) setTimeout(() => { throw new Error('worker crashed holding ' + process.env.TOKEN); }, 1);
`;

beforeAll(async () => {
  await mkdir(dir, { recursive: true });
  await build({
    entryPoints: ['src/telemetry/index.ts'],
    bundle: true,
    platform: 'node',
    format: 'esm',
    external: ['@sentry/node'],
    outfile: path.join(dir, 'telemetry.mjs'),
    logLevel: 'silent',
  });
  await writeFile(path.join(dir, 'child.mjs'), CHILD);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await rmdir(path.dirname(dir)).catch(() => undefined); // only when no other run is using it
});

async function child(env: Record<string, string>) {
  const base: NodeJS.ProcessEnv = { ...process.env, TOKEN };
  delete base.SENTRY_DSN;
  try {
    const { stdout } = await run(process.execPath, [path.join(dir, 'child.mjs')], {
      env: { ...base, ...env },
    });
    return {
      code: 0,
      report: JSON.parse(stdout.trim().split('\n')[0] ?? '{}') as { enabled: boolean; loaded: string[] },
    };
  } catch (e) {
    const err = e as { code?: number; stdout?: string };
    return {
      code: err.code ?? -1,
      report: JSON.parse(err.stdout?.trim().split('\n')[0] ?? '{}') as { enabled: boolean; loaded: string[] },
    };
  }
}

describe('telemetry in a real process', () => {
  it('without SENTRY_DSN is off and never loads @sentry/node', async () => {
    const { code, report } = await child({});
    expect(code).toBe(0);
    expect(report).toEqual({ enabled: false, loaded: [] });
  });

  it('with SENTRY_DSN loads @sentry/node, reports a crash with its release, flushes and exits 1', async () => {
    const host = await startSentryHost();
    try {
      const { code, report } = await child({ SENTRY_DSN: host.dsn, CRASH: '1' });
      expect(report.enabled).toBe(true);
      expect(report.loaded).toContain('@sentry/node');
      expect(code).toBe(1);
      const crash = host.events().find((e) => JSON.stringify(e).includes('worker crashed holding'));
      expect(crash).toMatchObject({ release: 'studio-worker@7.7.7', level: 'fatal' });
      expect(host.bodies.join('\n')).not.toContain(TOKEN);
    } finally {
      await host.close();
    }
  });
});
