import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { SyntheticEngine } from '../src/engines/index.js';
import { ClaimSchema } from '../src/protocol/index.js';
import { imageTask } from './jobs.js';
import { median } from './stats.js';

function claimFor(i: number) {
  return ClaimSchema.parse({
    jobId: `engine-${i}`,
    gameId: 'bench',
    assetName: `asset-${i}`,
    model: 'synthetic-image',
    vramGbEstimate: 1,
    task: imageTask(`engine bench image ${i}`),
    modelSource: {
      engine: 'synthetic',
      files: [],
      cliDefaults: { cfgScale: 7, steps: 20, width: 64, height: 64 },
    },
  });
}

/**
 * The engine's own time for the bench's job: SyntheticEngine.run on a 64×64 webp task, in this
 * process, `n` runs after `warmup` unmeasured ones. Returns every sample and the bytes of one result
 * (the baseline client uploads those, so both sides send images of the same kind and size).
 */
export async function measureEngine(
  n = 200,
  warmup = 20,
): Promise<{ samplesMs: number[]; medianMs: number; sample: Uint8Array }> {
  const engine = new SyntheticEngine();
  const workDir = await mkdtemp(join(tmpdir(), 'sw-bench-engine-'));
  const log = pino({ level: 'silent' });
  const samplesMs: number[] = [];
  let sample: Uint8Array | undefined;
  try {
    for (let i = 0; i < warmup + n; i++) {
      const claim = claimFor(i);
      const t0 = performance.now();
      const result = await engine.run(claim.task, claim.modelSource, {
        signal: new AbortController().signal,
        log,
        workDir,
        claim,
      });
      const ms = performance.now() - t0;
      if (i >= warmup) samplesMs.push(ms);
      if (result.type !== 'bytes') throw new Error(`synthetic image gave a ${result.type} result`);
      sample ??= result.data;
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  if (!sample) throw new Error('no engine sample');
  return { samplesMs, medianMs: median(samplesMs), sample };
}
