import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { ConfigStore } from '../../src/config/index.js';
import type { WorkerConfig } from '../../src/config/types.js';
import type { DevStudio } from '../../src/dev-studio/index.js';
import { startDevStudio } from '../../src/dev-studio/index.js';
import type { WorkerEvents } from '../../src/events/index.js';
import type { WorkerLogger } from '../../src/logs/index.js';
import { LogShipper, createLogger } from '../../src/logs/index.js';
import type { WorkerOptions } from '../../src/worker/index.js';
import { Worker } from '../../src/worker/index.js';

/** Fast timings so a test sees reconnects and retries in milliseconds, not seconds. */
export const FAST = {
  registrationPollMs: 50,
  retryBackoff: { baseMs: 20, capMs: 100 },
  reconnectBackoff: { baseMs: 20, capMs: 100 },
  uploadBackoff: { baseMs: 20, capMs: 100 },
  heartbeatMs: 100,
  logFlushMs: 50,
  graceMs: 5000,
  host: { machineName: 'test-box', username: 'tester', vramTotalGb: 24 },
} satisfies Partial<WorkerOptions>;

export interface Harness {
  studio: DevStudio;
  configDir: string;
  store: ConfigStore;
  /** Every log line the workers wrote, as JSON text. */
  logText: () => string;
  startWorker: (opts?: Partial<WorkerOptions>) => RunningWorker;
  /**
   * Registers the config with the studio (an in-process worker, welcomed once, then stopped
   * cleanly), for a worker process started on it next; answers the worker id.
   */
  register: () => Promise<string>;
  close: () => Promise<void>;
}

export interface RunningWorker {
  worker: Worker;
  log: WorkerLogger;
  /** Settles when `run()` does: undefined on a clean stop, the error otherwise. */
  done: Promise<Error | undefined>;
  /** The next `name` event (that satisfies `match`, when given). */
  next: <K extends keyof WorkerEvents>(
    name: K,
    match?: (payload: WorkerEvents[K]) => boolean,
    timeoutMs?: number,
  ) => Promise<WorkerEvents[K]>;
  stop: () => Promise<Error | undefined>;
}

export async function startHarness(
  opts: {
    autoApprove?: boolean;
    config?: Partial<WorkerConfig>;
  } = {},
): Promise<Harness> {
  const studio = await startDevStudio({ port: 0, autoApprove: opts.autoApprove ?? true });
  const configDir = await mkdtemp(join(tmpdir(), 'sw-test-'));
  const store = new ConfigStore(configDir);
  await store.update((c) => {
    Object.assign(c, { apiBaseUrl: studio.url, wsReconnectAttempts: 3 }, opts.config);
  });
  const logs: string[] = [];
  const workers: RunningWorker[] = [];

  const startWorker = (extra: Partial<WorkerOptions> = {}): RunningWorker => {
    const sink = new PassThrough();
    sink.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
    const shipper = new LogShipper();
    const log = createLogger({ level: 'debug', pretty: false, destination: sink, shipper });
    const worker = new Worker({ store, log, shipper, ...FAST, ...extra });
    const done = worker.run().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    const next = <K extends keyof WorkerEvents>(
      name: K,
      match: (payload: WorkerEvents[K]) => boolean = () => true,
      timeoutMs = 10_000,
    ) =>
      new Promise<WorkerEvents[K]>((resolve, reject) => {
        const timer = setTimeout(() => {
          off();
          reject(new Error(`no matching ${name} event within ${timeoutMs} ms`));
        }, timeoutMs);
        const off = worker.events.on(name, (payload) => {
          if (!match(payload)) return;
          off();
          clearTimeout(timer);
          resolve(payload);
        });
      });
    const running: RunningWorker = {
      worker,
      log,
      done,
      next,
      stop: async () => {
        await worker.stop();
        return done;
      },
    };
    workers.push(running);
    return running;
  };

  return {
    studio,
    configDir,
    store,
    logText: () => logs.join(''),
    startWorker,
    register: async () => {
      const registering = startWorker();
      const { workerId } = await registering.next('session:welcomed');
      const stopped = await registering.stop();
      if (stopped) throw new Error(`the registering worker did not stop cleanly: ${stopped.message}`);
      return workerId;
    },
    close: async () => {
      await Promise.all(workers.map((w) => w.stop()));
      await studio.close();
      await rm(configDir, { recursive: true, force: true });
    },
  };
}
