import { ADMISSION_MARGIN_BYTES } from '../runner/admission.js';
import type { CatalogModel } from './catalog.js';
import { ApiError } from './errors.js';

const GIB = 1024 ** 3;

/** The GPU's free memory now, or undefined where this machine has no GPU reading. */
export type GpuFreeReading = () => { freeBytes: number } | undefined;

/** What a refused load needed and found (GiB), as the original's refusal carries them. */
export interface InsufficientMemoryDetails {
  neededGib: number;
  freeGib: number;
  marginGib: number;
}

/** A load that does not fit in the GPU's free memory: 409 `insufficient_memory`, with its figures. */
export class InsufficientMemoryError extends ApiError {
  constructor(readonly details: InsufficientMemoryDetails) {
    const { neededGib, freeGib, marginGib } = details;
    super(
      409,
      'insufficient_memory',
      `insufficient memory: needs ${neededGib.toFixed(2)} GiB, ${freeGib.toFixed(2)} GiB free ` +
        `(${marginGib.toFixed(2)} GiB kept in reserve)`,
    );
  }

  override extra(): Record<string, unknown> {
    return { ...this.details };
  }

  /** The error body with its figures: `{ error, message, neededGib, freeGib, marginGib }`. */
  body(): { error: string; message: string } & InsufficientMemoryDetails {
    return { error: this.code, message: this.message, ...this.details };
  }
}

/** A disabled catalogue model is never loaded: 400 `model_disabled`. */
export function refuseDisabled(model: CatalogModel): void {
  if (!model.enabled)
    throw new ApiError(400, 'model_disabled', `model '${model.id}' is disabled in the catalogue`);
}

/**
 * Admission of a load: the model's `vramGbEstimate` (GiB) must fit in the GPU's free memory now
 * minus the 1 GiB reserve the studio jobs' admission keeps too; else a 409 `insufficient_memory`.
 * `reclaimBytes` is what unloading the model's exclusive-group rivals gives back before it loads.
 * Without a GPU reading the load is admitted (a CPU load is bounded by the engine's RSS watchdog;
 * the original refuses there, see docs/protocol.md).
 */
export function admitLoad(model: CatalogModel, gpuFree: GpuFreeReading | undefined, reclaimBytes = 0): void {
  const reading = gpuFree?.();
  if (!reading) return;
  const neededBytes = model.vramGbEstimate * GIB;
  if (neededBytes <= reading.freeBytes + reclaimBytes - ADMISSION_MARGIN_BYTES) return;
  throw new InsufficientMemoryError({
    neededGib: model.vramGbEstimate,
    freeGib: Math.max(0, reading.freeBytes) / GIB,
    marginGib: ADMISSION_MARGIN_BYTES / GIB,
  });
}
