import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { durationHistogram } from '../../src/metrics/registry.js';
import { DURATION_BUCKETS, addObservation, type DurationSeries } from '../../src/metrics/tally.js';

describe('the job duration histogram kept without prom-client', () => {
  it('is exposed line for line as prom-client’s own Histogram with the same observations', async () => {
    const observations: [string, number][] = [
      ['image', 0.004],
      ['image', 0.01],
      ['image', 0.7],
      ['llm', 2.5],
      ['image', 4000],
      ['llm', 0.05],
    ];
    const theirs = new Registry();
    const histogram = new Histogram({
      name: 'studio_worker_job_duration_seconds',
      help: 'Time from accepting a job to its result being handed over, by task kind.',
      labelNames: ['kind'] as const,
      buckets: [...DURATION_BUCKETS],
      registers: [theirs],
    });
    const durations = new Map<string, DurationSeries>();
    for (const [kind, seconds] of observations) {
      histogram.observe({ kind }, seconds);
      addObservation(durations, kind, seconds);
    }
    const ours = new Registry();
    ours.registerMetric(durationHistogram({ durations }) as never);
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });
});
