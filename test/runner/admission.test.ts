import { describe, expect, it } from 'vitest';
import type { WarmModel } from '../../src/engines/index.js';
import { ClaimSchema, type Claim } from '../../src/protocol/index.js';
import { admit } from '../../src/runner/index.js';

const GIB = 1024 ** 3;
const claim = (model: string, vramGbEstimate: number): Claim =>
  ClaimSchema.parse({
    jobId: 'j',
    gameId: 'g',
    assetName: 'a',
    model,
    vramGbEstimate,
    task: { kind: 'image', prompt: 'p' },
    modelSource: {
      engine: 'sd-cpp',
      files: [],
      cliDefaults: { cfgScale: 1, steps: 4, width: 512, height: 512 },
    },
  });
const warm = (model: string, gib: number, state: WarmModel['state'] = 'loaded'): WarmModel => ({
  engine: 'sd-cpp',
  model,
  state,
  since: '2026-12-05T00:00:00.000Z',
  bytes: gib * GIB,
});
const gpu = (freeGib: number, temperatureC?: number) => ({
  source: 'nvidia-smi',
  freeBytes: freeGib * GIB,
  ...(temperatureC !== undefined ? { temperatureC } : {}),
});
const input = (over: Partial<Parameters<typeof admit>[1]> = {}) => ({
  gpu: gpu(8),
  warm: [],
  kept: new Set<string>(),
  maxGpuTempC: 85,
  ...over,
});

describe('memory-aware admission', () => {
  it('accepts what fits in free memory with 1 GiB to spare, and nothing more', () => {
    expect(admit(claim('m', 7), input())).toEqual({ accept: true, reclaim: [] });
    expect(admit(claim('m', 7.01), input())).toEqual({
      accept: false,
      reason:
        'insufficient_memory: needs 7.01 GiB, 8.00 GiB free (1.00 GiB kept in reserve) on the GPU (nvidia-smi)',
    });
  });

  it('accepts what fits once this worker’s own warm models are unloaded, naming the fewest to unload', () => {
    const verdict = admit(claim('big', 10), input({ warm: [warm('a', 1), warm('b', 3), warm('c', 2)] }));
    expect(verdict).toEqual({ accept: true, reclaim: [warm('b', 3)] });
    const more = admit(claim('big', 12), input({ warm: [warm('a', 1), warm('b', 3), warm('c', 2)] }));
    expect(more).toEqual({ accept: true, reclaim: [warm('b', 3), warm('c', 2)] });
  });

  it('never unloads a kept model to make room, and says what unloading could have given', () => {
    const verdict = admit(
      claim('big', 10),
      input({ warm: [warm('kept', 4), warm('other', 1)], kept: new Set(['kept']) }),
    );
    expect(verdict).toEqual({
      accept: false,
      reason:
        "insufficient_memory: needs 10.00 GiB, 8.00 GiB free (1.00 GiB kept in reserve, 1.00 GiB more if this worker's warm models are unloaded) on the GPU (nvidia-smi)",
    });
  });

  it('counts the job’s own loaded model towards its estimate, and never unloads it for itself', () => {
    expect(admit(claim('z', 10), input({ warm: [warm('z', 4)] }))).toEqual({ accept: true, reclaim: [] });
    expect(admit(claim('z', 12), input({ warm: [warm('z', 4)] }))).toMatchObject({ accept: false });
    // A model still loading does not count as loaded, and a failed one holds no memory.
    expect(admit(claim('z', 10), input({ warm: [warm('z', 4, 'failed')] }))).toMatchObject({ accept: false });
  });

  it('rejects everything while the GPU is hotter than max_gpu_temp_c', () => {
    expect(admit(claim('m', 1), input({ gpu: gpu(80, 86) }))).toEqual({
      accept: false,
      reason: 'gpu_too_hot: the GPU is at 86 °C, above max_gpu_temp_c = 85 °C; taking no jobs until it cools',
    });
    expect(admit(claim('m', 1), input({ gpu: gpu(80, 85) }))).toMatchObject({ accept: true });
  });

  it('judges nothing on a machine whose GPU cannot be read (the studio’s threshold match still applies)', () => {
    expect(admit(claim('m', 100), input({ gpu: undefined }))).toEqual({ accept: true, reclaim: [] });
  });
});
