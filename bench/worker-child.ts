import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ConfigStore } from '../src/config/index.js';
import type { DevStudio, WorkerEvent } from '../src/dev-studio/index.js';
import { ensureRegistered } from '../src/registration/index.js';
import { StudioHttp } from '../src/studio/index.js';
import { BENCH_CAPABILITIES } from './raw-client.js';
import { WORKER_NODE_FLAGS } from '../src/platform/index.js';
import { freeLoopbackPort } from '../src/util/index.js';

/** The worker CLI the bench measures: the build output, as an operator runs it. */
export const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');

export interface WorkerChild {
  workerId: string;
  pid: number;
  stop: () => Promise<number | null>;
}

/**
 * Starts `studio-worker --config-dir <tmp> --log-level <level> run` as a child process, registered
 * (and approved) beforehand from this process so that the child goes straight to its session.
 * Resolves once the studio has welcomed it. `stderr` is where the child's log lines go.
 */
export async function startWorkerChild(
  studio: DevStudio,
  opts: { logLevel: string; stderr: 'inherit' | 'ignore'; extraNodeArgs?: string[]; fsyncResults?: boolean },
): Promise<WorkerChild> {
  const configDir = await mkdtemp(join(tmpdir(), 'sw-bench-worker-'));
  const store = new ConfigStore(configDir);
  // Each child serves its dashboard, as `run` does by default, on a port of its own.
  const dashboardPort = await freeLoopbackPort();
  await store.update((c) => {
    c.apiBaseUrl = studio.url;
    c.fsyncResults = opts.fsyncResults ?? false;
    c.dashboardPort = dashboardPort;
  });
  const log = pino({ level: 'silent' });
  const http = new StudioHttp({ apiBaseUrl: studio.url, userAgent: 'studio-worker/bench', log });
  let workerId: string;
  try {
    ({ workerId } = await ensureRegistered({
      store,
      http,
      capabilities: () => BENCH_CAPABILITIES,
      version: 'bench',
      log,
      pollIntervalMs: 20,
    }));
  } finally {
    await http.close();
  }

  const welcomed = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      studio.events.off('worker', onWorker);
      reject(new Error('the worker child was not welcomed within 30 s'));
    }, 30_000);
    const onWorker = (e: WorkerEvent): void => {
      if (e.workerId !== workerId || e.type !== 'welcomed') return;
      clearTimeout(timer);
      studio.events.off('worker', onWorker);
      resolve();
    };
    studio.events.on('worker', onWorker);
  });
  const child: ChildProcess = spawn(
    process.execPath,
    [
      // The worker runs as install-service starts it: with the service's V8 flags.
      ...WORKER_NODE_FLAGS,
      ...(opts.extraNodeArgs ?? []),
      CLI,
      '--config-dir',
      configDir,
      '--log-level',
      opts.logLevel,
      'run',
      '--grace',
      '5',
    ],
    // Its local API on any free port, so two children (and a worker already running here) coexist.
    { stdio: ['ignore', 'ignore', opts.stderr], env: { ...process.env, STUDIO_WORKER_LOCAL_API_PORT: '0' } },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const early = exited.then((code) => {
    throw new Error(`the worker child exited (code ${code}) before it was welcomed`);
  });
  early.catch(() => undefined);
  try {
    await Promise.race([welcomed, early]);
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    await rm(configDir, { recursive: true, force: true });
    throw e;
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error('the worker child has no pid');

  let stopping: Promise<number | null> | undefined;
  return {
    workerId,
    pid,
    stop: () =>
      (stopping ??= (async () => {
        child.kill('SIGTERM');
        const code = await exited;
        await rm(configDir, { recursive: true, force: true });
        return code;
      })()),
  };
}
