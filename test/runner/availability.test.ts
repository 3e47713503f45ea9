import { describe, expect, it } from 'vitest';
import type { WarmModel } from '../../src/engines/index.js';
import { availability, type AvailabilityInput } from '../../src/runner/index.js';

const GIB = 1024 ** 3;
const warm = (model: string, gib: number, state: WarmModel['state'] = 'loaded'): WarmModel => ({
  engine: 'llama-cpp',
  model,
  state,
  since: '2026-12-05T00:00:00.000Z',
  bytes: gib * GIB,
});
const input = (
  over: Partial<AvailabilityInput> = {},
  gpu: Partial<NonNullable<AvailabilityInput['gpu']>> = {},
) => ({
  paused: false,
  draining: false,
  studioJob: false,
  gateHeld: false,
  presenceProblem: undefined,
  diskProblem: undefined,
  vramThresholdGb: 12,
  gpu: {
    gpu: { source: 'nvidia-smi', freeBytes: 20 * GIB, temperatureC: 60 },
    warm: [],
    kept: new Set<string>(),
    maxGpuTempC: 85,
    ...gpu,
  },
  ...over,
});

describe('what heartbeats tell the studio (autoEnabled, vramThresholdGb)', () => {
  it('says available, with the operator’s threshold, when nothing holds the worker back', () => {
    expect(availability(input())).toEqual({ available: true, reasons: [], vramThresholdGb: 12 });
    expect(availability(input({ gpu: undefined }))).toEqual({
      available: true,
      reasons: [],
      vramThresholdGb: 12,
    });
  });

  it('says unavailable, with every reason, while a lasting condition turns every offer down', () => {
    const a = availability(
      input(
        {
          paused: true,
          diskProblem: 'disk full: 10 MB free',
          presenceProblem: 'only_when_idle: someone is here',
        },
        { gpu: { source: 'nvidia-smi', freeBytes: 20 * GIB, temperatureC: 91 } },
      ),
    );
    expect(a.available).toBe(false);
    expect(a.reasons).toEqual([
      'paused by the operator',
      'only_when_idle: someone is here',
      'disk full: 10 MB free',
      'gpu_too_hot: the GPU is at 91 °C, above max_gpu_temp_c = 85 °C; taking no jobs until it cools',
    ]);
    expect(availability(input({ draining: true })).reasons).toEqual(['shutting down']);
  });

  it('says unavailable while an engine loads a model outside a studio job, not while the job’s own model loads', () => {
    const loading = { warm: [warm('qwen3-8b', 5, 'loading')] };
    expect(availability(input({}, loading))).toMatchObject({
      available: false,
      reasons: ['engine_loading: llama-cpp is loading qwen3-8b; taking no jobs until it is loaded'],
    });
    expect(availability(input({ studioJob: true, gateHeld: true }, loading)).available).toBe(true);
  });

  it('lowers vramThresholdGb to what fits in free memory now (1 GiB reserve, idle unkept models counted), never above the operator’s', () => {
    const short = availability(input({}, { gpu: { source: 'nvidia-smi', freeBytes: 4.5 * GIB } }));
    expect(short).toMatchObject({ available: true, vramThresholdGb: 3.5 });
    expect(short.vramLowered).toBe(
      'insufficient_memory: 4.50 GiB free on the GPU (nvidia-smi), 1.00 GiB kept in reserve; advertising 3.5 GB of the 12 GB threshold',
    );
    const withIdle = availability(
      input(
        {},
        {
          gpu: { source: 'nvidia-smi', freeBytes: 4.5 * GIB },
          warm: [warm('a', 3), warm('kept', 4)],
          kept: new Set(['kept']),
        },
      ),
    );
    expect(withIdle.vramThresholdGb).toBe(6.5);
    expect(withIdle.vramLowered).toContain('3.00 GiB more from idle models');
    expect(
      availability(input({}, { gpu: { source: 'nvidia-smi', freeBytes: 0.5 * GIB } })).vramThresholdGb,
    ).toBe(0);
  });

  it('while a job holds the GPU, keeps the figure read before it (the job’s own memory comes back when it ends)', () => {
    const reading = { gpu: { source: 'nvidia-smi', freeBytes: 2 * GIB } };
    const busy = availability(input({ gateHeld: true }, reading));
    expect(busy).toEqual({ available: true, reasons: [], vramThresholdGb: 12 });
    const before = availability(input({}, { gpu: { source: 'nvidia-smi', freeBytes: 4 * GIB } }));
    expect(availability(input({ gateHeld: true, lastFree: before }, reading))).toEqual({
      available: true,
      reasons: [],
      vramThresholdGb: 3,
      vramLowered: before.vramLowered,
    });
    // The operator's threshold, lowered meanwhile, still caps it.
    expect(
      availability(input({ gateHeld: true, lastFree: before, vramThresholdGb: 2 }, reading)),
    ).toMatchObject({ vramThresholdGb: 2 });
  });
});
