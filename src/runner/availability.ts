import type { AdmissionInput } from './admission.js';
import { gpuTooHot, roomNow } from './admission.js';

export interface AvailabilityInput {
  paused: boolean;
  draining: boolean;
  /** A studio job is this worker's now (running, uploading or delivering). */
  studioJob: boolean;
  /** Some job holds the one-job gate (studio or local): its own use of the GPU will be given back. */
  gateHeld: boolean;
  presenceProblem: string | undefined;
  diskProblem: string | undefined;
  /** The GPU's latest reading and this worker's warm models; undefined where nothing is read. */
  gpu: AdmissionInput | undefined;
  /** The operator's `vram_threshold_gb`. */
  vramThresholdGb: number;
  /**
   * What was advertised the last time no job held the GPU: kept while one does, since the studio
   * picks this worker for the next job by it the moment the running one ends.
   */
  lastFree?: Pick<Availability, 'vramThresholdGb' | 'vramLowered'> | undefined;
}

export interface Availability {
  /** What heartbeats and hello say as `autoEnabled`: false while no offer could be taken. */
  available: boolean;
  /** Why not, one line per condition; empty while available. */
  reasons: string[];
  /** What they say as `vramThresholdGb`: the operator's, lowered to what fits in GPU memory now. */
  vramThresholdGb: number;
  /** Why `vramThresholdGb` is below the operator's, when it is. */
  vramLowered?: string;
}

const GIB = 1024 ** 3;
const gib = (bytes: number) => (bytes / GIB).toFixed(2);

/**
 * What this worker tells the studio it can take, so that the studio stops offering while a
 * lasting condition holds instead of offering, being turned down and offering again (flows.md §6:
 * a reject without a code costs the job an attempt, and the idle-heartbeat self-heal offers it
 * straight back). The conditions are those that turn every offer down: paused, shutting down,
 * `only_when_idle` with someone at the keyboard, the disk under its floor, the GPU too hot, an
 * engine loading a model outside a studio job. Free GPU memory does not turn every job down, only
 * the large ones, so it lowers `vramThresholdGb` instead, never above the operator's setting. While
 * a job holds the GPU its own use muddles the reading, so the figure read before it stands.
 */
export function availability(input: AvailabilityInput): Availability {
  const reasons: string[] = [];
  if (input.paused) reasons.push('paused by the operator');
  if (input.draining) reasons.push('shutting down');
  if (input.presenceProblem !== undefined) reasons.push(input.presenceProblem);
  if (input.diskProblem !== undefined) reasons.push(input.diskProblem);
  const hot = input.gpu && gpuTooHot(input.gpu);
  if (hot !== undefined) reasons.push(hot);
  // A model loading while no studio job runs (the local API's load route, an engine process
  // started again after a crash): GPU memory changes under admission's feet until it is loaded.
  const loading = input.studioJob ? [] : (input.gpu?.warm ?? []).filter((w) => w.state === 'loading');
  for (const w of loading) {
    reasons.push(`engine_loading: ${w.engine} is loading ${w.model}; taking no jobs until it is loaded`);
  }
  const result: Availability = {
    available: reasons.length === 0,
    reasons,
    vramThresholdGb: input.vramThresholdGb,
  };
  if (input.gateHeld) {
    const last = input.lastFree;
    if (last?.vramLowered !== undefined && last.vramThresholdGb < input.vramThresholdGb) {
      result.vramThresholdGb = last.vramThresholdGb;
      result.vramLowered = last.vramLowered;
    }
    return result;
  }
  const room = input.gpu && roomNow(input.gpu);
  if (room && room.gib < input.vramThresholdGb) {
    // Rounded down: a studio that offers up to this figure must find it fits.
    result.vramThresholdGb = Math.floor(room.gib * 10) / 10;
    const reclaim = room.reclaimBytes > 0 ? `, ${gib(room.reclaimBytes)} GiB more from idle models` : '';
    result.vramLowered =
      `insufficient_memory: ${gib(room.freeBytes)} GiB free on the GPU (${input.gpu?.gpu?.source ?? 'GPU'}), ` +
      `1.00 GiB kept in reserve${reclaim}; advertising ${result.vramThresholdGb} GB of the ${input.vramThresholdGb} GB threshold`;
  }
  return result;
}
