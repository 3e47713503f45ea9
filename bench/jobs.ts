import { performance } from 'node:perf_hooks';
import type { DevStudio, Job } from '../src/dev-studio/index.js';

/** The synthetic job every run uses: a 64×64 webp image. */
export const IMAGE_SIDE = 64;

export function imageTask(prompt: string) {
  return { kind: 'image' as const, prompt, width: IMAGE_SIDE, height: IMAGE_SIDE, ext: 'webp' };
}

export interface JobRun {
  /** First enqueue to last completion, ms (performance.now() of the bench process). */
  elapsedMs: number;
  jobsPerSec: number;
  /** Per job: the studio marking it offered → the studio marking it completed, ms. */
  perJobMs: number[];
  /** Per job: offered → the studio seeing `accept`, ms (the rest of perJobMs is accepted → completed). */
  acceptMs: number[];
}

/**
 * Enqueues `count` image jobs for one worker and resolves when every one has completed. Times come
 * from the studio's `job` events read with performance.now() in this process (the ISO timestamps on
 * jobs only have millisecond resolution); any job that fails or is rejected aborts the run.
 */
export function runJobs(
  studio: DevStudio,
  opts: { workerId: string; count: number; label: string; timeoutMs?: number },
): Promise<JobRun> {
  const offeredAt = new Map<string, number>();
  const perJobMs: number[] = [];
  const acceptMs: number[] = [];
  const mine = new Set<string>();
  let started = 0;
  return new Promise<JobRun>((resolve, reject) => {
    const timer = setTimeout(
      () => finish(new Error(`${opts.label}: ${perJobMs.length}/${opts.count} jobs done in time`)),
      opts.timeoutMs ?? 600_000,
    );
    const onJob = (job: Job): void => {
      if (job.workerId !== opts.workerId) return;
      const t = performance.now();
      // enqueueJob may offer the job (and emit this) before it returns the job's id.
      if (job.status === 'offered') offeredAt.set(job.jobId, t);
      if (!mine.has(job.jobId)) return;
      if (job.status === 'accepted') acceptMs.push(t - (offeredAt.get(job.jobId) ?? t));
      else if (job.status === 'completed') {
        perJobMs.push(t - (offeredAt.get(job.jobId) ?? t));
        if (perJobMs.length === opts.count) {
          const elapsedMs = t - started;
          finish(undefined, { elapsedMs, jobsPerSec: (opts.count / elapsedMs) * 1000, perJobMs, acceptMs });
        }
      } else if (job.status === 'failed' || job.status === 'rejected') {
        finish(new Error(`${opts.label}: job ${job.jobId} ${job.status}: ${job.error ?? job.rejectReason}`));
      }
    };
    const finish = (err: Error | undefined, run?: JobRun): void => {
      clearTimeout(timer);
      studio.events.off('job', onJob);
      if (err) reject(err);
      else if (run) resolve(run);
    };
    studio.events.on('job', onJob);
    started = performance.now();
    try {
      for (let i = 0; i < opts.count; i++) {
        const job = studio.admin.enqueueJob({
          task: imageTask(`${opts.label} bench image ${i}`),
          workerId: opts.workerId,
        });
        mine.add(job.jobId);
      }
    } catch (e) {
      finish(e instanceof Error ? e : new Error(String(e)));
    }
  });
}
