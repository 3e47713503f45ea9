import type { WarmModel } from '../engines/index.js';
import type { GpuReading } from '../platform/index.js';
import type { Claim } from '../protocol/index.js';
import { toError } from '../util/index.js';

/** Kept free on the GPU beyond a job's estimate (CUDA context, allocator slack), as the original keeps. */
export const ADMISSION_MARGIN_BYTES = 1024 ** 3;
const GIB = 1024 ** 3;

export interface AdmissionInput {
  /** The latest GPU reading; undefined when this machine has none to read (no admission then). */
  gpu: GpuReading | undefined;
  /** Models this worker holds loaded between jobs. */
  warm: readonly WarmModel[];
  /** Model ids the operator keeps loaded (`models keep`): never unloaded to make room. */
  kept: ReadonlySet<string>;
  maxGpuTempC: number;
}

export type AdmissionVerdict =
  | {
      accept: true;
      /** Warm models to unload before the job runs, to make room for it. */ reclaim: WarmModel[];
    }
  | { accept: false; reason: string };

const gib = (bytes: number) => (bytes / GIB).toFixed(2);

/**
 * Whether the GPU can take the claim now. Too hot (above `max_gpu_temp_c`): no. Otherwise its
 * `vramGbEstimate` (GiB, as the original reads it) must fit in free memory minus 1 GiB; memory that
 * this worker's own warm models hold counts as free when unloading them is allowed (not kept, not
 * the job's own model, which needs no second copy). Without a GPU reading there is nothing to judge
 * by and the claim is accepted (the studio's `vramThresholdGb` match still applies).
 */
export function admit(claim: Claim, input: AdmissionInput): AdmissionVerdict {
  const { gpu } = input;
  if (!gpu) return { accept: true, reclaim: [] };
  const hot = gpuTooHot(input);
  if (hot !== undefined) return { accept: false, reason: hot };
  // The job's own model already loaded: its weights are in memory, only the rest is needed.
  const own = input.warm.find((w) => w.model === claim.model && w.state === 'loaded');
  const needed = Math.max(0, claim.vramGbEstimate * GIB - (own?.bytes ?? 0));
  const available = gpu.freeBytes - ADMISSION_MARGIN_BYTES;
  if (needed <= available) return { accept: true, reclaim: [] };
  const reclaimable = input.warm.filter(
    (w) => w.state !== 'failed' && w.model !== claim.model && !input.kept.has(w.model),
  );
  const reclaimBytes = reclaimable.reduce((sum, w) => sum + w.bytes, 0);
  if (needed <= available + reclaimBytes) {
    // Unload the largest first, and only as many as the job needs.
    const reclaim: WarmModel[] = [];
    let room = available;
    for (const w of [...reclaimable].sort((a, b) => b.bytes - a.bytes)) {
      if (needed <= room) break;
      reclaim.push(w);
      room += w.bytes;
    }
    return { accept: true, reclaim };
  }
  const reclaimNote =
    reclaimBytes > 0 ? `, ${gib(reclaimBytes)} GiB more if this worker's warm models are unloaded` : '';
  return {
    accept: false,
    reason:
      `insufficient_memory: needs ${gib(needed)} GiB, ${gib(Math.max(0, gpu.freeBytes))} GiB free ` +
      `(${gib(ADMISSION_MARGIN_BYTES)} GiB kept in reserve${reclaimNote}) on the GPU (${gpu.source})`,
  };
}

/** Why the GPU takes no job at all now (hotter than `max_gpu_temp_c`), or undefined. */
export function gpuTooHot(input: AdmissionInput): string | undefined {
  const t = input.gpu?.temperatureC;
  if (t === undefined || t <= input.maxGpuTempC) return undefined;
  return `gpu_too_hot: the GPU is at ${t} °C, above max_gpu_temp_c = ${input.maxGpuTempC} °C; taking no jobs until it cools`;
}

/**
 * The largest job (GiB) any model could be admitted with now: free memory minus the reserve, plus
 * what this worker's unkept warm models would give back. A job of a model already loaded may fit
 * more (its weights are in memory), but one figure must hold for every model. Undefined without a
 * GPU reading.
 */
export function roomNow(
  input: AdmissionInput,
): { gib: number; freeBytes: number; reclaimBytes: number } | undefined {
  const { gpu } = input;
  if (!gpu) return undefined;
  const reclaimBytes = input.warm
    .filter((w) => w.state !== 'failed' && !input.kept.has(w.model))
    .reduce((sum, w) => sum + w.bytes, 0);
  const room = gpu.freeBytes - ADMISSION_MARGIN_BYTES + reclaimBytes;
  return { gib: Math.max(0, room / GIB), freeBytes: gpu.freeBytes, reclaimBytes };
}

/**
 * Unloads the warm models the admission chose to reclaim for `claim` before it runs; a failure is
 * logged and the job goes on (the engine reports it if the memory is still short).
 */
export async function unloadReclaimed(
  claim: Claim,
  reclaim: readonly WarmModel[],
  engines: { unloadWarm: (models: readonly WarmModel[], reason: string) => Promise<void> },
  log: { info: (msg: string) => void; warn: (msg: string) => void },
): Promise<void> {
  if (reclaim.length === 0) return;
  const names = reclaim.map((w) => w.model).join(', ');
  log.info(`unloading ${names} to make room on the GPU for job ${claim.jobId}`);
  await engines
    .unloadWarm(reclaim, `job ${claim.jobId} (${claim.model}) needs the GPU memory`)
    .catch((e: unknown) => log.warn(`could not unload ${names}: ${toError(e).message}`));
}
