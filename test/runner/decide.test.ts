import { describe, expect, it } from 'vitest';
import type { Claim } from '../../src/protocol/index.js';
import { ClaimSchema } from '../../src/protocol/index.js';
import { rejectionReason } from '../../src/runner/index.js';

const claim: Claim = ClaimSchema.parse({
  jobId: 'j-1',
  gameId: 'g',
  assetName: 'a',
  model: 'synthetic-image',
  vramGbEstimate: 8,
  task: { kind: 'image', prompt: 'p' },
  modelSource: {
    engine: 'synthetic',
    files: [],
    cliDefaults: { cfgScale: 7, steps: 20, width: 512, height: 512 },
  },
});
const idle = {
  paused: false,
  draining: false,
  busyWith: undefined,
  vramThresholdGb: 12,
  engineRefusal: undefined,
};

describe('deciding on an offer', () => {
  it('accepts a job that fits', () => {
    expect(rejectionReason(claim, idle)).toBeUndefined();
  });
  it('accepts a job exactly at the threshold', () => {
    expect(rejectionReason(claim, { ...idle, vramThresholdGb: 8 })).toBeUndefined();
  });
  it('rejects above the threshold, naming both figures, without a code (the studio releases the claim)', () => {
    expect(rejectionReason(claim, { ...idle, vramThresholdGb: 6 })).toEqual({
      reason: "VRAM estimate 8 GB is above this worker's threshold of 6 GB",
    });
  });
  it('rejects while paused, busy or shutting down with the transient codes paused and busy', () => {
    expect(rejectionReason(claim, { ...idle, paused: true })).toEqual({
      reason: 'worker paused by operator',
      code: 'paused',
    });
    expect(rejectionReason(claim, { ...idle, busyWith: 'j-0' })).toEqual({
      reason: 'worker is busy with job j-0',
      code: 'busy',
    });
    expect(rejectionReason(claim, { ...idle, draining: true })).toEqual({
      reason: 'worker is shutting down',
      code: 'busy',
    });
  });
  it('turns disk and GPU conditions down as busy (they pass: requeued without an attempt), after the lasting refusals', () => {
    expect(rejectionReason(claim, { ...idle, diskProblem: 'disk full: 1 MB free' })).toEqual({
      reason: 'disk full: 1 MB free',
      code: 'busy',
    });
    expect(rejectionReason(claim, { ...idle, gpuProblem: 'gpu_too_hot: 91 °C' })).toEqual({
      reason: 'gpu_too_hot: 91 °C',
      code: 'busy',
    });
    // A job this worker can never run is said so, so the studio gives it to another worker.
    expect(
      rejectionReason(claim, { ...idle, diskProblem: 'disk full', engineRefusal: 'no engine "onnx" here' }),
    ).toEqual({ reason: 'no engine "onnx" here' });
    expect(rejectionReason(claim, { ...idle, gpuProblem: 'hot', vramThresholdGb: 4 })?.code).toBeUndefined();
  });
  it('passes on the engine’s reason, without a code', () => {
    expect(rejectionReason(claim, { ...idle, engineRefusal: 'engine "sd-cpp" is not installed' })).toEqual({
      reason: 'engine "sd-cpp" is not installed',
    });
  });
});
