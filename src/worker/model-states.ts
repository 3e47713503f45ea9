import type { ResidencyStore } from '../config/index.js';
import type { WarmModel } from '../engines/index.js';
import type { WorkerStatus } from './status.js';

/** Each warm or kept model and where it is in its life, for the dashboard. */
export function modelStates(warm: readonly WarmModel[], residency: ResidencyStore): WorkerStatus['models'] {
  const rows: WorkerStatus['models'] = warm.map((w) => ({
    model: w.model,
    engine: w.engine,
    state: w.state,
    since: w.since,
    bytes: w.bytes,
    kept: residency.has(w.model),
    ...(w.error !== undefined ? { error: w.error } : {}),
  }));
  for (const model of residency.kept) {
    if (!warm.some((w) => w.model === model)) rows.push({ model, state: 'unloaded', kept: true });
  }
  return rows;
}
