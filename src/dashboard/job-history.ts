import { readFileSync } from 'node:fs';
import type { JobSource, WorkerEvents } from '../events/index.js';
import type { Claim } from '../protocol/index.js';
import { promptFor } from '../protocol/index.js';
import type { Worker } from '../worker/index.js';
import type { CurrentJobView, FinishedJob, JobsResponse } from './api-types.js';
import { CoalescedFileWriter } from '../util/index.js';

export const HISTORY_SIZE = 500;
const RESULT_TEXT_CHARS = 1000;
/** Previews are kept for the newest jobs only, so memory stays bounded whatever the results weigh. */
const PREVIEW_BUDGET_BYTES = 16 * 1024 * 1024;
const PROMPT_PREVIEW_CHARS = 200;
/** The file is for the next start: at most one write a second, however many jobs a second finish. */
const SAVE_INTERVAL_MS = 1000;

const PREVIEW_TYPES: Record<string, { mediaType: 'image' | 'audio' | 'video'; contentType: string }> = {
  webp: { mediaType: 'image', contentType: 'image/webp' },
  png: { mediaType: 'image', contentType: 'image/png' },
  jpg: { mediaType: 'image', contentType: 'image/jpeg' },
  jpeg: { mediaType: 'image', contentType: 'image/jpeg' },
  gif: { mediaType: 'image', contentType: 'image/gif' },
  mp4: { mediaType: 'video', contentType: 'video/mp4' },
  webm: { mediaType: 'video', contentType: 'video/webm' },
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
 * The Jobs tab's memory: the last 500 finished jobs (newest first), kept in `file` across restarts
 * when one is given, and for the newest image, audio and video results their bytes (in memory
 * only). Fed only by the worker's events; `onChange` fires after each update.
 */
export class JobHistory {
  private readonly finished: FinishedJob[] = [];
  private readonly prompts = new Map<
    string,
    { prompt: string | undefined; model: string; source: JobSource }
  >();
  /** Oldest first (insertion order), so the budget drops the oldest. */
  private readonly previews = new Map<string, Preview>();
  private previewBytes = 0;
  private readonly pendingPreview = new Map<string, Preview>();
  private readonly pendingText = new Map<string, string>();
  private readonly offs: (() => void)[];
  private readonly writer: CoalescedFileWriter | undefined;

  constructor(
    private readonly worker: Worker,
    private readonly onChange: () => void = () => {},
    private readonly file?: string,
  ) {
    if (file) this.finished.push(...loadHistory(file));
    this.writer = file === undefined ? undefined : new CoalescedFileWriter(file, SAVE_INTERVAL_MS);
    const on = worker.events.on.bind(worker.events);
    this.offs = [
      on('job:offered', ({ claim, source }) => this.remember(claim, source ?? 'studio')),
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
          kind: e.kind,
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

  /** The running job with its prompt; `job` when the caller already has the worker's status. */
  current(job = this.worker.getStatus().currentJob): CurrentJobView | undefined {
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

  private remember(claim: Claim, source: JobSource): void {
    this.prompts.set(claim.jobId, { prompt: promptOf(claim), model: claim.model, source });
    // Offers that were never answered with a finish event must not pile up.
    while (this.prompts.size > HISTORY_SIZE * 2) {
      const oldest = this.prompts.keys().next().value;
      if (oldest === undefined) break;
      this.prompts.delete(oldest);
    }
  }

  private keepPreview(e: WorkerEvents['job:result']): void {
    if (e.text !== undefined) {
      this.pendingText.clear();
      this.pendingText.set(e.jobId, e.text.slice(0, RESULT_TEXT_CHARS));
    }
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
    const resultText = result.outcome === 'completed' ? this.pendingText.get(jobId) : undefined;
    this.pendingPreview.delete(jobId);
    this.pendingText.delete(jobId);
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
      ...(resultText !== undefined ? { resultText } : {}),
      ...(offered && offered.source !== 'studio' ? { source: offered.source } : {}),
    });
    if (result.outcome !== 'rejected') this.prompts.delete(jobId);
    for (const dropped of this.finished.splice(HISTORY_SIZE)) this.dropPreview(dropped.jobId);
    this.save();
    this.onChange();
  }

  /** Resolves once the history so far is on disk. */
  async flush(): Promise<void> {
    await this.writer?.flush();
  }

  /**
   * Written at most once a second (the writer's delay): the history changes with every job.
   * Previews stay in memory only (they are gone after a restart).
   */
  private save(): void {
    this.writer?.write(() => {
      const rows = this.finished.map((j) => ({ ...j, preview: undefined }));
      return `${JSON.stringify({ version: 1, jobs: rows })}\n`;
    });
  }

  private addPreview(jobId: string, preview: Preview): void {
    this.dropPreview(jobId);
    this.previews.set(jobId, preview);
    this.previewBytes += preview.data.byteLength;
    // The oldest previews go once the budget is spent.
    for (const id of this.previews.keys()) {
      if (this.previewBytes <= PREVIEW_BUDGET_BYTES) break;
      this.dropPreview(id);
      const row = this.finished.find((j) => j.jobId === id);
      if (row) row.preview = undefined;
    }
  }

  private dropPreview(jobId: string): void {
    const dropped = this.previews.get(jobId);
    if (!dropped) return;
    this.previews.delete(jobId);
    this.previewBytes -= dropped.data.byteLength;
  }
}

function mediaTypeOf(contentType: string): 'image' | 'audio' | 'video' {
  if (contentType.startsWith('audio/')) return 'audio';
  return contentType.startsWith('video/') ? 'video' : 'image';
}

/** The rows a previous run saved; an unreadable file starts an empty history (and is replaced). */
function loadHistory(file: string): FinishedJob[] {
  try {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown; jobs?: unknown };
    if (saved.version !== 1 || !Array.isArray(saved.jobs)) return [];
    return (saved.jobs as FinishedJob[])
      .filter((j) => typeof j?.jobId === 'string' && typeof j.finishedAt === 'number')
      .slice(0, HISTORY_SIZE)
      .map((j) => ({ ...j, preview: undefined }));
  } catch {
    return [];
  }
}

/** The prompt as the studio gets it (`promptFor`), shortened; an stt job shows its own prompt, if any. */
function promptOf(claim: Claim): string | undefined {
  const task = claim.task;
  const text =
    task.kind === 'audio_stt'
      ? task.prompt
      : task.kind === 'llm'
        ? task.messages.at(-1)?.content
        : promptFor(task);
  if (text === undefined) return undefined;
  return text.length > PROMPT_PREVIEW_CHARS ? `${text.slice(0, PROMPT_PREVIEW_CHARS - 1)}…` : text;
}
