import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logs/index.js';
import { initTelemetry, type Telemetry } from '../../src/telemetry/index.js';
import { startSentryHost } from './sentry-host.js';

const TOKEN = 'tok_4f9c2e1d8b7a6f5e';
const SECRET = 'regsecret-0a1b2c3d4e5f';
const PROMPT = 'a watercolour fox reading under a lamp';

let host: Awaited<ReturnType<typeof startSentryHost>>;
let telemetry: Telemetry | undefined;
const log = createLogger({
  level: 'info',
  pretty: false,
  destination: new Writable({ write: (_c, _e, done) => done() }),
});

beforeAll(async () => {
  host = await startSentryHost();
  log.addSecret(TOKEN);
  telemetry = await initTelemetry({
    dsn: host.dsn,
    version: '1.2.3',
    log,
    secrets: [TOKEN, SECRET],
    environment: 'test',
    captureCrashes: false,
  });
});

afterAll(async () => {
  await telemetry?.close();
  await host.close();
});

describe('telemetry with a DSN', () => {
  it('sends an error as a Sentry envelope with the release and breadcrumbs from the logger', async () => {
    log.child({ category: 'session' }).info('connected to the studio');
    log.child({ category: 'runner', jobId: 'job-1' }).info({ prompt: PROMPT }, 'job accepted');
    telemetry?.captureException(new Error('upload exploded'));
    await telemetry?.flush();

    await expect.poll(() => host.events().length).toBeGreaterThan(0);
    const event = host.events().find((e) => JSON.stringify(e).includes('upload exploded'));
    expect(event).toMatchObject({ release: 'studio-worker@1.2.3', environment: 'test', platform: 'node' });
    const crumbs = (event?.breadcrumbs ?? []) as { category?: string; message?: string; data?: unknown }[];
    expect(crumbs).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ category: 'session', message: 'connected to the studio' }),
        expect.objectContaining({ category: 'runner', message: 'job accepted', data: { jobId: 'job-1' } }),
      ]),
    );
  });

  it('reports error log records, and no token, secret or prompt appears anywhere in what is sent', async () => {
    const before = host.bodies.length;
    telemetry?.captureException(
      new Error(`job failed: {"prompt":"${PROMPT}","authToken":"${TOKEN}"} secret ${SECRET}`, {
        cause: new Error(`sd-cli --prompt "${PROMPT}" -H "Authorization: Bearer ${TOKEN}"`),
      }),
    );
    log
      .child({ category: 'runner' })
      .error({ err: new Error(`engine died on --prompt=${PROMPT.replace(/ /g, '_')}`) }, 'job failed');
    await telemetry?.flush();

    await expect.poll(() => host.bodies.length - before).toBeGreaterThanOrEqual(2);
    const events = host.events();
    expect(events.some((e) => JSON.stringify(e).includes('engine died on'))).toBe(true);
    expect(events.some((e) => JSON.stringify(e).includes('job failed: {'))).toBe(true);
    const everything = host.bodies.join('\n');
    expect(everything).not.toContain(TOKEN);
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain(PROMPT);
    expect(everything).not.toContain(PROMPT.replace(/ /g, '_'));
    expect(everything).toContain('[redacted]');
  });
});
