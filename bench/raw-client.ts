import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import pino from 'pino';
import { Agent, FormData, request } from 'undici';
import WebSocket from 'ws';
import type { DevStudio } from '../src/dev-studio/index.js';
import { SyntheticEngine } from '../src/engines/index.js';
import type { Capabilities, Claim } from '../src/protocol/index.js';
import {
  ClaimSchema,
  promptFor,
  COMPLETE_FIELDS,
  contentTypeForExt,
  routes,
  sessionUrl,
  studioUrl,
  SUBPROTOCOL,
} from '../src/protocol/index.js';

export const BENCH_CAPABILITIES: Capabilities = {
  machineName: 'bench',
  username: 'bench',
  agentVersion: 'bench',
  engine: 'multi',
  vramTotalGb: 24,
  vramThresholdGb: 24,
  autoEnabled: true,
  autoStart: true,
  supportedModels: ['synthetic-image'],
  taskKinds: ['image'],
  supportedModelsPerKind: { image: ['synthetic-image'] },
};

function rawText(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
}

interface OfferFrame {
  type: 'offer';
  claim: unknown;
}

/**
 * The baseline: the least a client can do to speak the contract while doing the same work as the
 * worker. It registers (approved through the admin API), says hello, and answers every offer with
 * `accept`, runs the same synthetic engine in this process on the offered task (the same image and
 * the same encode), then uploads those bytes with the contract's multipart `complete`, the task's
 * prompt included — no outbox, no logging, no checks beyond parsing the claim. The studio offers it
 * the next job after the upload, as it does the worker. `onOffer` replaces all that when a caller
 * wants the accepted job for itself.
 */
export class RawClient {
  readonly agent = new Agent({ keepAliveTimeout: 10_000 });
  private heartbeat: NodeJS.Timeout | undefined;
  private failure: Error | undefined;

  private constructor(
    private readonly studio: DevStudio,
    readonly workerId: string,
    readonly authToken: string,
    private readonly ws: WebSocket,
    public onOffer?: (jobId: string) => void,
  ) {
    ws.on('message', (data) => this.onMessage(rawText(data)));
    this.heartbeat = setInterval(
      () => this.send({ type: 'heartbeat', capabilities: BENCH_CAPABILITIES }),
      5000,
    );
  }

  private readonly engine = new SyntheticEngine();
  private readonly log = pino({ level: 'silent' });

  static async connect(studio: DevStudio): Promise<RawClient> {
    const secret = randomBytes(32).toString('hex');
    const res = await request(studioUrl(studio.url, routes.registerRequest()), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        installId: randomUUID(),
        registrationSecretHash: createHash('sha256').update(secret).digest('hex'),
        capabilities: BENCH_CAPABILITIES,
        userAgent: 'studio-worker/bench-raw',
      }),
    });
    const { requestId } = (await res.body.json()) as { requestId: string };
    const { workerId, authToken } = studio.admin.approve(requestId);
    const ws = new WebSocket(sessionUrl(studio.url, workerId), [SUBPROTOCOL], {
      headers: { authorization: `Bearer ${authToken}` },
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('error', reject);
      ws.once('open', () => {
        ws.send(JSON.stringify({ type: 'hello', authToken, capabilities: BENCH_CAPABILITIES }));
        ws.once('message', (data) => {
          const frame = JSON.parse(rawText(data)) as { type: string };
          if (frame.type === 'welcome') resolve();
          else reject(new Error(`raw client: expected welcome, got ${rawText(data)}`));
        });
      });
    });
    return new RawClient(studio, workerId, authToken, ws);
  }

  /** The first error an upload met, if any (the run then stalls and times out with this as cause). */
  get error(): Error | undefined {
    return this.failure;
  }

  async upload(jobId: string, data: Uint8Array, ext: string, prompt: string): Promise<void> {
    const form = new FormData();
    form.set(COMPLETE_FIELDS.prompt, prompt);
    form.set(COMPLETE_FIELDS.ext, ext);
    form.set(COMPLETE_FIELDS.file, new Blob([data], { type: contentTypeForExt(ext) }), `${jobId}.${ext}`);
    const res = await request(studioUrl(this.studio.url, routes.complete(this.workerId, jobId)), {
      method: 'POST',
      headers: { authorization: `Bearer ${this.authToken}` },
      body: form,
      dispatcher: this.agent,
    });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`raw upload of ${jobId}: HTTP ${res.statusCode} ${text}`);
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      const closed = new Promise((resolve) => this.ws.once('close', resolve));
      this.ws.close(1000);
      await closed;
    }
    await this.agent.close();
  }

  private send(frame: object): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  private onMessage(text: string): void {
    const frame = JSON.parse(text) as { type: string };
    if (frame.type !== 'offer') return;
    const claim = ClaimSchema.parse((frame as OfferFrame).claim);
    this.send({ type: 'accept', jobId: claim.jobId });
    if (this.onOffer) {
      this.onOffer(claim.jobId);
      return;
    }
    this.run(claim).catch((e: unknown) => {
      this.failure ??= e instanceof Error ? e : new Error(String(e));
    });
  }

  /** The same engine run as the worker's, then the upload with the task's own prompt, in full. */
  private async run(claim: Claim): Promise<void> {
    const result = await this.engine.run(claim.task, claim.modelSource, {
      signal: new AbortController().signal,
      log: this.log,
      workDir: tmpdir(),
      claim,
    });
    if (result.type !== 'bytes') throw new Error(`raw client: the engine gave a ${result.type} result`);
    await this.upload(claim.jobId, result.data, result.ext, promptFor(claim.task));
  }
}
