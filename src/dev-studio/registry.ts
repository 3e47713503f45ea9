import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RegisterRequest, RegisterStatus } from '../protocol/index.js';
import { conflict, DevStudioError, notFound } from './errors.js';
import type { Registration } from './types.js';

interface RegistrationRecord extends Registration {
  secretHash: string;
}

interface Credentials {
  authToken: string;
  deleted: boolean;
}

const randomId = (prefix: string): string => `${prefix}-${randomBytes(8).toString('hex')}`;

function sameSecret(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/**
 * Registration requests and the credentials of approved workers. A request is pending until the
 * operator approves (a worker id and token are minted) or rejects it; `forget` removes it so the
 * next poll answers 404.
 */
export class Registry {
  private readonly requests = new Map<string, RegistrationRecord>();
  private readonly workers = new Map<string, Credentials>();

  constructor(public autoApprove: boolean) {}

  /** `POST /workers/register-request`: the same installId re-posted while pending gets the same id. */
  request(body: RegisterRequest): { requestId: string; status: 'pending' } {
    for (const r of this.requests.values()) {
      if (r.installId === body.installId && r.status === 'pending') {
        r.secretHash = body.registrationSecretHash;
        r.capabilities = body.capabilities;
        return { requestId: r.requestId, status: 'pending' };
      }
    }
    const record: RegistrationRecord = {
      requestId: randomId('rr'),
      installId: body.installId,
      status: 'pending',
      capabilities: body.capabilities,
      createdAt: new Date().toISOString(),
      secretHash: body.registrationSecretHash,
    };
    this.requests.set(record.requestId, record);
    if (this.autoApprove) this.approve(record.requestId);
    return { requestId: record.requestId, status: 'pending' };
  }

  /** `GET /workers/register-requests/:id`: 404 when unknown, 401 unless `secret` hashes to the stored hash. */
  poll(requestId: string, secret: string | undefined): RegisterStatus {
    const r = this.requests.get(requestId);
    if (!r) throw notFound(`register request ${requestId}`);
    const hash = createHash('sha256')
      .update(secret ?? '')
      .digest('hex');
    if (secret === undefined || !sameSecret(hash, r.secretHash)) {
      throw new DevStudioError(401, 'the bearer is not the secret of this register request');
    }
    if (r.status === 'approved') {
      const workerId = r.workerId ?? '';
      return { status: 'approved', workerId, authToken: this.workers.get(workerId)?.authToken ?? '' };
    }
    if (r.status === 'rejected') return { status: 'rejected', reason: r.reason ?? '' };
    return { status: 'pending' };
  }

  list(): Registration[] {
    return [...this.requests.values()].map(({ secretHash: _secretHash, ...r }) => ({ ...r }));
  }

  approve(requestId: string): { workerId: string; authToken: string } {
    const r = this.requests.get(requestId);
    if (!r) throw notFound(`register request ${requestId}`);
    if (r.status === 'rejected') throw conflict(`register request ${requestId} was rejected`);
    if (r.status === 'approved' && r.workerId) {
      return { workerId: r.workerId, authToken: this.workers.get(r.workerId)?.authToken ?? '' };
    }
    const workerId = randomId('w');
    const authToken = randomBytes(32).toString('hex');
    this.workers.set(workerId, { authToken, deleted: false });
    r.status = 'approved';
    r.workerId = workerId;
    return { workerId, authToken };
  }

  reject(requestId: string, reason: string): void {
    const r = this.requests.get(requestId);
    if (!r) throw notFound(`register request ${requestId}`);
    if (r.status === 'approved') throw conflict(`register request ${requestId} was already approved`);
    r.status = 'rejected';
    r.reason = reason;
  }

  forget(requestId: string): void {
    if (!this.requests.delete(requestId)) throw notFound(`register request ${requestId}`);
  }

  /** True when `token` is the live token of `workerId` (a deleted worker has none). */
  authorize(workerId: string, token: string | undefined): boolean {
    const w = this.workers.get(workerId);
    return !!w && !w.deleted && token !== undefined && sameSecret(w.authToken, token);
  }

  isWorker(workerId: string): boolean {
    return this.workers.has(workerId);
  }

  isDeleted(workerId: string): boolean {
    return this.workers.get(workerId)?.deleted ?? false;
  }

  workerIds(): string[] {
    return [...this.workers.keys()];
  }

  delete(workerId: string): void {
    const w = this.workers.get(workerId);
    if (!w) throw notFound(`worker ${workerId}`);
    w.deleted = true;
  }
}
