import type { WorkerEventBus } from '../events/index.js';
import type { WorkerStatus } from '../worker/index.js';
import { REAL_IMAGE_MODEL } from './jobs.js';
import { SD_SERVER_PROGRESS } from '../engines/sd-cpp/index.js';

/** The sd-cpp engine's progress messages (src/engines/sd-cpp/engine.ts) the demo looks for. */
const PROVISIONING = 'provisioning model files';
const LOADING = SD_SERVER_PROGRESS.loading;
const ALREADY_LOADED = SD_SERVER_PROGRESS.warm;

interface Seen {
  label: string;
  firstAt?: number;
  loadingAt?: number;
  loading: boolean;
  warm: boolean;
  steps: number;
}

/**
 * Follows the real image jobs of `--real-image` through the worker's own events: prints what each
 * is doing (provisioning, the download, loading into sd-server, sd.cpp's steps) so a cold start is
 * not a silent minute, and checks afterwards that the first job loaded the model into sd-server and
 * the second found it loaded there.
 */
export class RealImageWatch {
  private readonly jobs = new Map<string, Seen>();
  private readonly offs: (() => void)[] = [];
  private current: Seen | undefined;
  private lastDownloadAt = 0;

  constructor(
    events: WorkerEventBus,
    private readonly say: (line: string) => void,
  ) {
    this.offs.push(
      events.on('job:progress', (p) => this.onProgress(p.jobId, p.message)),
      events.on('model:download', (p) => {
        const now = Date.now();
        if (!p.done && (p.receivedBytes === 0 || now - this.lastDownloadAt < 1000)) return;
        this.lastDownloadAt = now;
        const mb = (n: number) => `${Math.round(n / 1e6)} MB`;
        const of = p.totalBytes ? ` of ${mb(p.totalBytes)}` : '';
        const what = p.error
          ? `download of ${p.filename} failed: ${p.error}`
          : p.done
            ? `downloaded ${p.filename} (${mb(p.receivedBytes)})`
            : `downloading ${p.filename}: ${mb(p.receivedBytes)}${of}, ${mb(p.bytesPerSec)}/s`;
        this.say(`  ${this.current?.label ?? 'image'}: ${what}`);
      }),
    );
  }

  /** The studio's job `jobId` is the one shown as `label`. */
  expect(jobId: string, label: string): void {
    this.current = { label, loading: false, warm: false, steps: 0 };
    this.jobs.set(jobId, this.current);
  }

  private onProgress(jobId: string, message: string | undefined): void {
    const seen = this.jobs.get(jobId);
    if (!seen || message === undefined) return;
    seen.firstAt ??= Date.now();
    if (message === LOADING) {
      seen.loading = true;
      seen.loadingAt = Date.now();
    }
    if (message === ALREADY_LOADED) seen.warm = true;
    if (message.startsWith('step ')) seen.steps++;
    this.say(`  ${seen.label}: ${message === PROVISIONING ? 'provisioning the model' : message}`);
  }

  /**
   * Whether the job went the way its row says (cold: loaded into a sd-server that stayed warm;
   * warm: no second load), and what to add to its summary.
   */
  verdict(jobId: string, status: WorkerStatus): { ok: boolean; note: string } {
    const seen = this.jobs.get(jobId);
    if (!seen) return { ok: false, note: 'the worker reported no progress for it' };
    const warmNow = status.models.some(
      (m) => m.model === REAL_IMAGE_MODEL && m.engine === 'sd-cpp' && m.state === 'loaded',
    );
    const steps = seen.steps > 0 ? `, ${seen.steps} sd.cpp steps` : '';
    if (seen.label.includes('cold')) {
      const provisioned =
        seen.firstAt !== undefined && seen.loadingAt !== undefined
          ? `model provisioned over loopback in ${((seen.loadingAt - seen.firstAt) / 1000).toFixed(1)} s, `
          : '';
      if (!seen.loading) return { ok: false, note: 'it did not load the model into sd-server' };
      if (!warmNow) return { ok: false, note: 'sd-server did not stay loaded after it (see the log)' };
      return { ok: true, note: `${provisioned}loaded into sd-server${steps}` };
    }
    if (seen.loading || !seen.warm) return { ok: false, note: 'sd-server loaded the model again' };
    return { ok: true, note: `model already loaded in sd-server${steps}` };
  }

  stop(): void {
    for (const off of this.offs.splice(0)) off();
  }
}
