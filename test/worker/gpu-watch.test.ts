import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { GpuReading } from '../../src/platform/index.js';
import { GpuWatch } from '../../src/worker/gpu-watch.js';

const log = pino({ level: 'silent' });
let watch: GpuWatch | undefined;
afterEach(() => watch?.stop());

describe('GpuWatch', () => {
  it('reads again soon after a failed first probe (a driver still starting), then keeps the normal pace', async () => {
    let calls = 0;
    const probe = (): Promise<GpuReading | { reason: string }> => {
      calls++;
      if (calls === 1) return Promise.reject(new Error('nvidia-smi timed out'));
      if (calls === 2) return Promise.resolve({ reason: 'NVIDIA-SMI has failed' });
      return Promise.resolve({ source: 'nvidia-smi', freeBytes: 8e9, temperatureC: 50 });
    };
    watch = new GpuWatch({ probe, log, intervalMs: 20 });
    await watch.start();
    expect(watch.reading).toBeUndefined();
    expect(watch.unavailableReason).toBe('nvidia-smi timed out');
    // Not a minute later: the misses are read again at 20 ms, then 40 ms.
    await expect.poll(() => watch?.reading?.freeBytes, { timeout: 2000 }).toBe(8e9);
    const after = calls;
    await expect.poll(() => calls, { timeout: 2000 }).toBeGreaterThan(after + 2);
  });

  it('asks a machine with no GPU less and less often, up to once a minute', async () => {
    let calls = 0;
    watch = new GpuWatch({
      probe: () => (calls++, Promise.resolve({ reason: 'no GPU' })),
      log,
      intervalMs: 20,
    });
    await watch.start();
    await new Promise((r) => setTimeout(r, 400));
    // 20 + 40 + 80 + 160 ms fit in 400 ms; a fixed 20 ms pace would have asked about 20 times.
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(calls).toBeLessThanOrEqual(6);
  });
});
