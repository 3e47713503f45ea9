import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DevStudio } from '../src/dev-studio/index.js';
import { imageTask } from './jobs.js';
import { RawClient } from './raw-client.js';
import { MB } from './stats.js';

export interface UploadMeasure {
  fileMb: number;
  beforeMb: number;
  /** max(RSS sampled every 50 ms, VmHWM after a reset) during the upload. */
  peakMb: number;
  growthMb: number;
  ms: number;
}

interface ChildReport {
  beforeMb: number;
  peakMb: number;
  hwmMb?: number;
  afterMb: number;
  ms: number;
}

/** Real (non-sparse) bytes: a 1 MiB random block written `sizeMb` times. */
async function writeBigFile(path: string, sizeMb: number): Promise<void> {
  const block = randomBytes(MB);
  const fh = await open(path, 'w');
  try {
    for (let i = 0; i < sizeMb; i++) await fh.write(block);
  } finally {
    await fh.close();
  }
}

/**
 * How much a worker's RSS grows while it uploads a large result: a raw client accepts an image job,
 * and a fresh child process (bench/upload-child) uploads a `sizeMb` file for it with the worker's
 * StudioHttp.uploadResult — the same call the outbox makes.
 */
export async function measureUpload(studio: DevStudio, sizeMb: number): Promise<UploadMeasure> {
  const dir = await mkdtemp(join(tmpdir(), 'sw-bench-upload-'));
  const file = join(dir, 'big.webp');
  const client = await RawClient.connect(studio);
  try {
    await writeBigFile(file, sizeMb);
    const accepted = new Promise<string>((resolve) => (client.onOffer = resolve));
    studio.admin.enqueueJob({ task: imageTask('upload bench'), workerId: client.workerId });
    const jobId = await accepted;
    await studio.admin.waitForJob(jobId, { until: (j) => j.status === 'accepted', timeoutMs: 10_000 });
    const report = await runChild([studio.url, client.workerId, client.authToken, jobId, file]);
    const done = await studio.admin.waitForJob(jobId, { timeoutMs: 10_000 });
    if (done.status !== 'completed' || done.result?.type !== 'file' || done.result.bytes !== sizeMb * MB) {
      throw new Error(`upload bench: job ended ${done.status} with ${JSON.stringify(done.result)}`);
    }
    const peakMb = Math.max(report.peakMb, report.hwmMb ?? 0);
    return {
      fileMb: sizeMb,
      beforeMb: report.beforeMb,
      peakMb,
      growthMb: peakMb - report.beforeMb,
      ms: report.ms,
    };
  } finally {
    await client.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function runChild(args: string[]): Promise<ChildReport> {
  const script = join(import.meta.dirname, 'upload-child.js');
  const child = spawn(process.execPath, ['--expose-gc', script, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`upload child exited with code ${code}`));
      else resolve(JSON.parse(out.trim()) as ChildReport);
    });
  });
}
