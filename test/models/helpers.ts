import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { ModelDownloadProgress } from '../../src/events/index.js';
import { createLogger } from '../../src/logs/index.js';
import type { WorkerLogger } from '../../src/logs/index.js';
import { ModelCache } from '../../src/models/index.js';
import type { ModelCacheOptions } from '../../src/models/index.js';
import type { FileRole, ModelFile } from '../../src/protocol/index.js';
import { FileServer } from './server.js';

/** 256 KiB: big enough for several chunks and a cut in the middle, small enough to stay fast. */
export const SIZE = 256 * 1024;

export interface Rig {
  server: FileServer;
  root: string;
  log: WorkerLogger;
  logText: () => string;
  progress: ModelDownloadProgress[];
  /** A cache on `root` with fast retries; several can share the root (as after a restart). */
  cache: (opts?: Partial<ModelCacheOptions>) => ModelCache;
  /** Serves fresh random bytes at `/<filename>` and describes them as a model file. */
  model: (
    filename: string,
    opts?: { role?: FileRole; withSha?: boolean; approxBytes?: number; contentLength?: boolean },
  ) => { file: ModelFile; body: Buffer; sha256: string };
  close: () => Promise<void>;
}

export async function startRig(): Promise<Rig> {
  const server = await new FileServer().start();
  const root = join(await mkdtemp(join(tmpdir(), 'sw-models-')), 'models');
  const lines: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
  const log = createLogger({ level: 'debug', pretty: false, destination: sink });
  const progress: ModelDownloadProgress[] = [];
  const caches: ModelCache[] = [];
  return {
    server,
    root,
    log,
    logText: () => lines.join(''),
    progress,
    cache: (opts = {}) => {
      const cache = new ModelCache({
        root,
        log,
        onProgress: (p) => progress.push(p),
        retryBackoff: { baseMs: 5, capMs: 20 },
        maxAttempts: 3,
        progressIntervalMs: 0,
        ...opts,
      });
      caches.push(cache);
      return cache;
    },
    model: (filename, opts = {}) => {
      const body = randomBytes(SIZE);
      const sha256 = server.serve(`/${filename}`, body, { contentLength: opts.contentLength ?? true });
      const file: ModelFile = {
        role: opts.role ?? 'model',
        url: `${server.url}/${filename}`,
        filename,
        approxBytes: opts.approxBytes ?? SIZE,
        ...(opts.withSha === false ? {} : { sha256 }),
      };
      return { file, body, sha256 };
    },
    close: async () => {
      await Promise.all(caches.map((c) => c.close()));
      await server.close();
      await rm(join(root, '..'), { recursive: true, force: true });
    },
  };
}

/** A signal that never aborts, for calls the test does not cancel. */
export const never = (): AbortSignal => new AbortController().signal;
