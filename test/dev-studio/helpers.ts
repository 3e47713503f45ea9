import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { FormData, fetch } from 'undici';
import { afterEach } from 'vitest';
import { WebSocket } from 'ws';
import { SUBPROTOCOL, sessionUrl, studioUrl } from '../../src/protocol/index.js';
import type { Capabilities, StudioFrame, WorkerFrame } from '../../src/protocol/index.js';
import { startDevStudio } from '../../src/dev-studio/index.js';
import type { DevStudio, DevStudioOptions } from '../../src/dev-studio/index.js';

export const capabilities: Capabilities = {
  machineName: 'box',
  username: 'op',
  agentVersion: '0.1.0',
  engine: 'multi',
  vramTotalGb: 0,
  vramThresholdGb: 12,
  autoEnabled: true,
  autoStart: true,
  supportedModels: ['synthetic-image', 'synthetic-llm'],
  taskKinds: ['image', 'llm'],
  supportedModelsPerKind: { image: ['synthetic-image'], llm: ['synthetic-llm'] },
};

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A dev studio on a free port, closed after the test. */
export async function studio(opts: DevStudioOptions = {}): Promise<DevStudio> {
  const s = await startDevStudio({ port: 0, ...opts });
  cleanups.push(() => s.close());
  return s;
}

export function api(s: DevStudio, route: string): string {
  return studioUrl(s.url, route).href;
}

export interface Registered {
  requestId: string;
  secret: string;
  installId: string;
}

export async function postRegisterRequest(
  s: DevStudio,
  installId: string = randomUUID(),
): Promise<Registered> {
  const secret = randomBytes(32).toString('hex');
  const res = await fetch(api(s, '/workers/register-request'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      installId,
      registrationSecretHash: createHash('sha256').update(secret).digest('hex'),
      capabilities,
      userAgent: 'studio-worker/0.1.0',
    }),
  });
  if (res.status !== 200) throw new Error(`register-request answered ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as { requestId: string };
  return { requestId: body.requestId, secret, installId };
}

/** A worker the operator approved: its id and token. */
export async function approvedWorker(s: DevStudio): Promise<{ workerId: string; authToken: string }> {
  const { requestId } = await postRegisterRequest(s);
  return s.admin.approve(requestId);
}

/** A raw WebSocket client that queues every frame and the close, so tests can await them in order. */
export class RawClient {
  readonly frames: StudioFrame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;
  private waiters: (() => void)[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames.push(JSON.parse((data as Buffer).toString('utf8')) as StudioFrame);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        for (const w of this.waiters.splice(0)) w();
      });
    });
    this.opened = new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    cleanups.push(() => {
      ws.terminate();
    });
  }

  send(frame: WorkerFrame | Record<string, unknown>): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** The next frame of `type`, skipping (and consuming) heartbeat acks and frames of other types. */
  async next<T extends StudioFrame['type']>(type: T): Promise<Extract<StudioFrame, { type: T }>> {
    for (;;) {
      const index = this.frames.findIndex((f) => f.type === type);
      if (index >= 0) return this.frames.splice(index, 1)[0] as Extract<StudioFrame, { type: T }>;
      if (this.ws.readyState === this.ws.CLOSED)
        throw new Error(`socket closed before a ${type} frame arrived`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }
}

export function connect(s: DevStudio, workerId: string, token: string): RawClient {
  return new RawClient(
    new WebSocket(sessionUrl(s.url, workerId), [SUBPROTOCOL], {
      headers: { authorization: `Bearer ${token}` },
    }),
  );
}

/** Connects, says hello and waits for welcome. */
export async function session(
  s: DevStudio,
  worker: { workerId: string; authToken: string },
): Promise<RawClient> {
  const client = connect(s, worker.workerId, worker.authToken);
  await client.opened;
  client.send({ type: 'hello', authToken: worker.authToken, capabilities });
  await client.next('welcome');
  return client;
}

/** The HTTP status a WebSocket upgrade was answered with. */
export function upgradeStatus(url: URL, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, [SUBPROTOCOL], { headers: { authorization: `Bearer ${token}` } });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      resolve(101);
      ws.terminate();
    });
    ws.on('error', (e) => reject(e));
  });
}

export interface UploadParts {
  prompt?: string;
  ext?: string;
  bytes?: Uint8Array;
  filename?: string;
  contentType?: string;
  field?: string;
}

/** Posts a multipart `complete` the way the contract shapes it, with any part overridden. */
export async function uploadResult(
  s: DevStudio,
  worker: { workerId: string; authToken: string },
  jobId: string,
  parts: UploadParts = {},
): Promise<{ status: number; body: string }> {
  const ext = parts.ext ?? 'png';
  const form = new FormData();
  if (parts.prompt !== undefined || !('prompt' in parts)) form.set('prompt', parts.prompt ?? 'a red fox');
  form.set('ext', ext);
  const bytes = parts.bytes ?? new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
  const blob = new Blob([bytes], { type: parts.contentType ?? 'image/png' });
  form.set(parts.field ?? 'image', blob, parts.filename ?? `${jobId}.${ext}`);
  const res = await fetch(api(s, `/workers/${worker.workerId}/jobs/${jobId}/complete`), {
    method: 'POST',
    headers: { authorization: `Bearer ${worker.authToken}` },
    body: form,
  });
  return { status: res.status, body: await res.text() };
}
