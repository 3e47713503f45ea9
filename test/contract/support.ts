import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, expect } from 'vitest';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { ConfigStore } from '../../src/config/index.js';
import type { WorkerConfig } from '../../src/config/types.js';
import { SyntheticEngine } from '../../src/engines/index.js';
import { LogShipper, createLogger } from '../../src/logs/index.js';
import type { LocalLogEntry } from '../../src/logs/records.js';
import type { IdleReading } from '../../src/platform/index.js';
import { SUBPROTOCOL } from '../../src/protocol/index.js';
import type { LogEntry } from '../../src/protocol/index.js';
import { Worker } from '../../src/worker/index.js';

// Shared by the contract tests that replay the Rust original's literal fixtures (fixtures/original/).

export type Frame = Record<string, unknown>;
export interface LoopStep {
  from: 'studio' | 'worker';
  frame: Frame;
  subset?: boolean;
}
export interface LoopFixture {
  source: string;
  steps: LoopStep[];
  note: string;
}

export const load = <T>(name: string): T =>
  JSON.parse(readFileSync(new URL(`./fixtures/original/${name}`, import.meta.url), 'utf8')) as T;
export const testName = (f: { source: string }): string => f.source.split('::').pop() ?? f.source;

const cleanups: (() => Promise<void> | void)[] = [];
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Resolves once `check` holds; fails with `what` after `ms`. */
export async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface ReplayOptions {
  /** Rewrites a studio frame before it is sent (e.g. an unreachable URL to a loopback one). */
  rewrite?: (frame: Frame) => unknown;
  /** Runs after step `i` is done (a worker frame matched, a studio frame sent): drives the worker. */
  after?: Record<number, (ws: WebSocket) => Promise<void> | void>;
  /** How long a worker step may take to arrive (default 10 s). */
  stepMs?: number;
}

/**
 * A fake studio that plays a full-loop fixture: it sends the studio's literal frames in order and
 * waits for each worker step, collecting frames by type as the original's fake studio does
 * (other frames in between, heartbeats and logBatch, are skipped). A worker step is matched by the
 * next frame of its type, as a subset where the fixture says `subset`; a heartbeat step skips
 * heartbeats that do not match yet, as the original's heartbeat tests loop until one does.
 */
export async function replayStudio(fixture: LoopFixture, opts: ReplayOptions = {}) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => SUBPROTOCOL });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const received: Frame[] = [];
  const texts: string[] = [];
  const paths: string[] = [];
  const protocols: string[] = [];
  let pongs = 0;
  const done = new Promise<WebSocket>((resolve, reject) => {
    wss.once('connection', (ws, request) => {
      paths.push(request.url ?? '');
      protocols.push(String(request.headers['sec-websocket-protocol']));
      ws.on('pong', () => pongs++);
      ws.on('message', (data) => {
        const text = (data as Buffer).toString('utf8');
        texts.push(text);
        received.push(JSON.parse(text) as Frame);
      });
      void (async () => {
        let seen = 0;
        for (const [i, step] of fixture.steps.entries()) {
          if (step.from === 'studio') {
            ws.send(JSON.stringify(opts.rewrite ? opts.rewrite(step.frame) : step.frame));
          } else {
            const want = step.frame;
            const matches = (f: Frame) => {
              try {
                if (step.subset) expect(f).toMatchObject(want);
                else expect(f).toEqual(want);
                return true;
              } catch {
                return false;
              }
            };
            let hit = -1;
            await until(
              `step ${i}: a ${String(want.type)} frame ${JSON.stringify(want)} from the worker`,
              () => {
                for (let j = seen; j < received.length; j++) {
                  const f = received[j]!;
                  if (f.type !== want.type) continue;
                  if (f.type !== 'heartbeat' || matches(f)) {
                    hit = j;
                    return true;
                  }
                }
                return false;
              },
              opts.stepMs,
            );
            // The next frame of the type must be the step's frame (a heartbeat has matched already).
            if (step.subset) expect(received[hit]).toMatchObject(want);
            else expect(received[hit]).toEqual(want);
            seen = hit + 1;
          }
          await opts.after?.[i]?.(ws);
        }
        resolve(ws);
      })().catch(reject);
    });
  });
  // Not awaited by every test: a failed replay surfaces through `done`, never as an unhandled rejection.
  done.catch(() => undefined);
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  );
  return {
    url: `http://127.0.0.1:${(wss.address() as AddressInfo).port}/graphics/api`,
    wss,
    received,
    texts,
    paths,
    protocols,
    pongs: () => pongs,
    /** The entries of every logBatch the worker shipped so far. */
    shipped: (): LogEntry[] =>
      received.filter((f) => f.type === 'logBatch').flatMap((f) => f.entries as LogEntry[]),
    done,
  };
}

export interface StartWorkerOptions {
  deadAfterMs?: number;
  workerId?: string;
  authToken?: string;
  config?: Partial<WorkerConfig>;
  idleProbe?: () => Promise<IdleReading | { reason: string }>;
}

/**
 * The real Worker with the original tests' config (worker_id `w-test`, auth_token `tok-test`,
 * ws_reconnect_attempts 1, fast heartbeats and log flushes), the synthetic engine, no GPU and
 * plenty of disk. `records` are its local log records (the original's `recent_logs`).
 */
export async function startWorker(apiBaseUrl: string, o: StartWorkerOptions = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'sw-contract-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  const store = new ConfigStore(dir);
  await store.update((c) => ({
    ...c,
    apiBaseUrl,
    workerId: o.workerId ?? 'w-test',
    authToken: o.authToken ?? 'tok-test',
    wsReconnectAttempts: 1,
    ...o.config,
  }));
  const records: LocalLogEntry[] = [];
  const shipper = new LogShipper();
  const log = createLogger({
    level: 'info',
    pretty: false,
    destination: new PassThrough(),
    shipper,
    listeners: [(e) => records.push(e)],
  });
  const worker = new Worker({
    store,
    log,
    shipper,
    engines: [new SyntheticEngine()],
    host: { machineName: 'box', username: 'op', vramTotalGb: 0 },
    heartbeatMs: 50,
    logFlushMs: 20,
    reconnectBackoff: { baseMs: 20, capMs: 20 },
    gpuProbe: () => Promise.resolve({ reason: 'no GPU in the contract tests' }),
    freeBytes: () => Promise.resolve(100e9),
    ...(o.deadAfterMs !== undefined ? { deadAfterMs: o.deadAfterMs } : {}),
    // No presence unless a test plays a person: the original leaves `userPresence` out while unknown.
    idleProbe: o.idleProbe ?? (() => Promise.resolve({ reason: 'no display in the contract tests' })),
  });
  const running = worker.run().then(
    () => undefined,
    (e: unknown) => e,
  );
  onCleanup(async () => {
    await worker.stop();
    await running;
  });
  return { worker, running, store, records };
}
