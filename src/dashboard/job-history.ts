import type { WorkerEvents } from '../events/index.js';
import type { Claim } from '../protocol/index.js';
import type { Worker } from '../worker/index.js';
import type { CurrentJobView, FinishedJob, JobsResponse } from './api-types.js';

export const HISTORY_SIZE = 50;
/** Previews are kept for the newest jobs only, so memory stays bounded whatever the results weigh. */
const PREVIEW_BUDGET_BYTES = 16 * 1024 * 1024;
const PROMPT_PREVIEW_CHARS = 200;

const PREVIEW_TYPES: Record<string, { mediaType: 'image' | 'audio'; contentType: string }> = {
  webp: { mediaType: 'image', contentType: 'image/webp' },
  png: { mediaType: 'image', contentType: 'image/png' },
  jpg: { mediaType: 'image', contentType: 'image/jpeg' },
  jpeg: { mediaType: 'image', contentType: 'image/jpeg' },
  gif: { mediaType: 'image', contentType: 'image/gif' },
  wav: { mediaType: 'audio', contentType: 'audio/wav' },
  mp3: { mediaType: 'audio', contentType: 'audio/mpeg' },
  ogg: { mediaType: 'audio', contentType: 'audio/ogg' },
  flac: { mediaType: 'audio', contentType: 'audio/flac' },
};

interface Preview {
  contentType: string;
  data: Uint8Array;
}

/**
 * The Jobs tab's memory: the last 50 finished jobs (newest first) and, for the newest image and
 * audio results, their bytes. Fed only by the worker's events; `onChange` fires after each update.
 */
export class JobHistory {
  private readonly finished: FinishedJob[] = [];
  private readonly prompts = new Map<string, { prompt: string | undefined; model: string }>();
  private readonly previews = new Map<string, Preview>();
  private readonly pendingPreview = new Map<string, Preview>();
  private readonly offs: (() => void)[];

  constructor(
    private readonly worker: Worker,
    private readonly onChange: () => void = () => {},
  ) {
    const on = worker.events.on.bind(worker.events);
    this.offs = [
      on('job:offered', ({ claim }) => this.remember(claim)),
      on('job:accepted', () => this.onChange()),
      on('job:progress', () => this.onChange()),
      on('job:result', (e) => this.keepPreview(e)),
      on('job:completed', (e) =>
        this.finish(e.jobId, {
          outcome: 'completed',
          kind: e.kind,
          durationMs: e.ms,
          bytes: e.bytes,
          error: undefined,
        }),
      ),
      on('job:failed', (e) =>
        this.finish(e.jobId, {
          outcome: 'failed',
          kind: e.kind,
          durationMs: undefined,
          bytes: undefined,
          error: e.error,
        }),
      ),
      on('job:rejected', (e) =>
        this.finish(e.jobId, {
          outcome: 'rejected',
          kind: undefined,
          durationMs: undefined,
          bytes: undefined,
          error: e.reason,
        }),
      ),
    ];
  }

  snapshot(): JobsResponse {
    return { current: this.current(), finished: this.finished.map((j) => ({ ...j })) };
  }

  current(): CurrentJobView | undefined {
    const job = this.worker.getStatus().currentJob;
    if (!job) return undefined;
    const prompt = this.prompts.get(job.jobId)?.prompt;
    return { ...job, ...(prompt !== undefined ? { prompt } : {}) };
  }

  preview(jobId: string): Preview | undefined {
    return this.previews.get(jobId);
  }

  stop(): void {
    for (const off of this.offs.splice(0)) off();
  }

  private remember(claim: Claim): void {
    this.prompts.set(claim.jobId, { prompt: promptOf(claim), model: claim.model });
    // Offers that were never answered with a finish event must not pile up.
    while (this.prompts.size > HISTORY_SIZE * 2) {
      const oldest = this.prompts.keys().next().value;
      if (oldest === undefined) break;
      this.prompts.delete(oldest);
    }
  }

  private keepPreview(e: WorkerEvents['job:result']): void {
    const type = PREVIEW_TYPES[e.ext.toLowerCase()];
    if (!type || !e.data) return;
    this.pendingPreview.clear();
    this.pendingPreview.set(e.jobId, { contentType: type.contentType, data: e.data });
  }

  private finish(
    jobId: string,
    result: Omit<FinishedJob, 'jobId' | 'model' | 'prompt' | 'finishedAt' | 'preview'>,
  ): void {
    const offered = this.prompts.get(jobId);
    // The studio re-offers a job we turned down; one row per job keeps the table readable.
    const again = this.finished.findIndex((j) => j.jobId === jobId && j.outcome === 'rejected');
    if (again >= 0) this.finished.splice(again, 1);
    const preview = result.outcome === 'completed' ? this.pendingPreview.get(jobId) : undefined;
    this.pendingPreview.delete(jobId);
    if (preview) this.addPreview(jobId, preview);
    this.finished.unshift({
      jobId,
      model: offered?.model,
      prompt: offered?.prompt,
      finishedAt: Date.now(),
      ...result,
      preview: preview
        ? { mediaType: mediaTypeOf(preview.contentType), contentType: preview.contentType }
        : undefined,
    });
    if (result.outcome !== 'rejected') this.prompts.delete(jobId);
    for (const dropped of this.finished.splice(HISTORY_SIZE)) this.previews.delete(dropped.jobId);
    this.onChange();
  }

  private addPreview(jobId: string, preview: Preview): void {
    this.previews.set(jobId, preview);
    let total = 0;
    // Newest first: the oldest previews go once the budget is spent.
    for (const [id, p] of [...this.previews].reverse()) {
      total += p.data.byteLength;
      if (total > PREVIEW_BUDGET_BYTES) {
        this.previews.delete(id);
        const row = this.finished.find((j) => j.jobId === id);
        if (row) row.preview = undefined;
      }
    }
  }
}

function mediaTypeOf(contentType: string): 'image' | 'audio' {
  return contentType.startsWith('audio/') ? 'audio' : 'image';
}

function promptOf(claim: Claim): string | undefined {
  const task = claim.task;
  const text =
    task.kind === 'llm'
      ? task.messages.at(-1)?.content
      : task.kind === 'audio_tts'
        ? task.text
        : task.kind === 'audio_stt'
          ? task.prompt
          : task.prompt;
  if (text === undefined) return undefined;
  return text.length > PROMPT_PREVIEW_CHARS ? `${text.slice(0, PROMPT_PREVIEW_CHARS - 1)}…` : text;
}
