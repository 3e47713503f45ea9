import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import pino from 'pino';
import { request } from 'undici';
import { ModelCache } from '../src/models/index.js';
import { createInterface } from 'node:readline';
import { progress } from './progress.js';
import { MB, median } from './stats.js';

export interface DownloadFigures {
  fileMb: number;
  runs: number;
  /** ModelCache.provision of the file into a fresh cache (download + sha256 + rename + index). */
  downloadMBps: number;
  /** undici's body piped to a file: the same bytes from the same server, nothing else done. */
  plainCopyMBps: number;
  ratio: number;
  downloadSamplesMBps: number[];
  plainCopySamplesMBps: number[];
}

const log = pino({ level: 'silent' });

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: MB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Starts file-server-child.js for `path`; resolves with its URL and a way to stop it. */
async function startServerChild(path: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const script = join(import.meta.dirname, 'file-server-child.js');
  const child = spawn(process.execPath, [script, path], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout });
  const [url] = (await Promise.race([
    once(lines, 'line'),
    exited.then(() => {
      throw new Error('the file server child exited before it listened');
    }),
  ])) as [string];
  lines.close();
  return {
    url,
    stop: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

async function plainCopy(url: string, dest: string): Promise<void> {
  const res = await request(url);
  if (res.statusCode !== 200) throw new Error(`plain copy: HTTP ${res.statusCode}`);
  await pipeline(res.body, createWriteStream(dest));
}

async function provision(url: string, dir: string, bytes: number, sha256: string): Promise<void> {
  const cache = new ModelCache({ root: dir, log });
  try {
    const held = await cache.provision(
      [{ role: 'model', url, filename: 'big.gguf', approxBytes: bytes, sha256 }],
      new AbortController().signal,
    );
    held.release();
  } finally {
    await cache.close();
  }
}

/**
 * Download throughput of the model cache against a plain streaming copy, both from one local
 * node:http server (a child process, so it does not share this one's main thread) serving a
 * `fileMb` MiB file. The file is sparse (all zeros, no disk blocks), so
 * the server reads it from the page cache at memory speed; the sha256 is given, so the cache hashes
 * as it downloads. `runs` of each, interleaved, each into a fresh folder removed afterwards.
 */
export async function measureDownload(fileMb = 512, runs = 3): Promise<DownloadFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'sw-bench-download-'));
  let server: { url: string; stop: () => Promise<void> } | undefined;
  try {
    const source = join(dir, 'source.bin');
    const bytes = fileMb * MB;
    const fh = await open(source, 'w');
    await fh.truncate(bytes);
    await fh.close();
    const sha256 = await sha256Of(source);
    server = await startServerChild(source);
    const url = server.url;

    const plainCopySamplesMBps: number[] = [];
    const downloadSamplesMBps: number[] = [];
    for (let i = 0; i < runs; i++) {
      const target = join(dir, `run-${i}`);
      const order = i % 2 === 0 ? (['plain', 'cache'] as const) : (['cache', 'plain'] as const);
      for (const which of order) {
        const t0 = performance.now();
        if (which === 'plain') await plainCopy(url, `${target}-plain.bin`);
        else await provision(url, `${target}-cache`, bytes, sha256);
        const mbps = fileMb / ((performance.now() - t0) / 1000);
        (which === 'plain' ? plainCopySamplesMBps : downloadSamplesMBps).push(mbps);
        await rm(which === 'plain' ? `${target}-plain.bin` : `${target}-cache`, {
          recursive: true,
          force: true,
        });
      }
      progress(
        `download run ${i + 1}/${runs}: cache ${Math.round(downloadSamplesMBps[i] ?? 0)} MB/s, ` +
          `plain ${Math.round(plainCopySamplesMBps[i] ?? 0)} MB/s`,
      );
    }
    const downloadMBps = median(downloadSamplesMBps);
    const plainCopyMBps = median(plainCopySamplesMBps);
    return {
      fileMb,
      runs,
      downloadMBps,
      plainCopyMBps,
      ratio: downloadMBps / plainCopyMBps,
      downloadSamplesMBps,
      plainCopySamplesMBps,
    };
  } finally {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
