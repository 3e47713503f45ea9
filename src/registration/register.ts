import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { WorkerConfig } from '../config/types.js';
import type { Capabilities } from '../protocol/index.js';
import type { StudioHttp } from '../studio/index.js';
import { isRetryableError } from '../studio/index.js';
import { backoffDelay, isAbortError, sleep, toError } from '../util/index.js';
import type { BackoffOptions } from '../util/index.js';
import { RegistrationRejectedError, registrationState } from './state.js';
import type { RegistrationState, RegistrationStore } from './state.js';

export interface EnsureRegisteredOptions {
  store: RegistrationStore;
  http: Pick<StudioHttp, 'postRegisterRequest' | 'getRegisterStatus'>;
  capabilities: () => Capabilities;
  version: string;
  log: Logger;
  signal?: AbortSignal | undefined;
  /** Between status polls of a pending request (contract: 30 s). */
  pollIntervalMs?: number;
  /** Between retries of a request that failed on the network or with a 5xx. */
  retryBackoff?: BackoffOptions;
  onState?: (s: RegistrationState) => void;
}

/** lowercase hex SHA-256 of the secret's hex string: the only form of the secret that leaves the machine. */
export function registrationSecretHash(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/**
 * Brings this worker to Approved and returns its credentials (contract §2).
 *
 * Pristine: make `installId` and `registrationSecret` (persisted before anything is sent), post the
 * request, persist its id → Pending. Pending: poll its status (at once on start, then every
 * `pollIntervalMs`); approved → persist the credentials, forget the request and secret → Approved;
 * rejected → persist the reason, forget the request and secret → Rejected (throws); gone (404) →
 * forget the request → Pristine, post again. Approved at start returns at once; Rejected at start
 * throws at once. Network errors and 5xx are retried with backoff, never fatal; other errors throw.
 */
export async function ensureRegistered(
  opts: EnsureRegisteredOptions,
): Promise<{ workerId: string; authToken: string }> {
  const { store, http, log, signal } = opts;
  const pollIntervalMs = opts.pollIntervalMs ?? 30_000;
  const retry = withRetry(opts.retryBackoff ?? { baseMs: 1000, capMs: 60_000, jitter: 0.2 }, log, signal);
  let config = await store.load();
  let state = registrationState(config);
  opts.onState?.(state);
  let pollAfterMs = 0;

  const enter = (next: RegistrationState, message: string): void => {
    state = next;
    log.info({ registration: next.state }, message);
    opts.onState?.(next);
  };
  if (state.state === 'pending')
    log.info(`registration pending (request ${state.requestId}), checking its status`);

  for (;;) {
    signal?.throwIfAborted();
    switch (state.state) {
      case 'approved': {
        const { workerId, authToken } = config;
        if (workerId && authToken) return { workerId, authToken };
        throw new Error('registration state says approved but the credentials are missing');
      }
      case 'rejected':
        throw new RegistrationRejectedError(state.reason);
      case 'pristine': {
        config = await ensureIdentity(store, config);
        const { installId, registrationSecret } = config;
        if (!installId || !registrationSecret)
          throw new Error('install id or registration secret was not saved');
        const answer = await retry('post register request', () =>
          http.postRegisterRequest(
            {
              installId,
              registrationSecretHash: registrationSecretHash(registrationSecret),
              capabilities: opts.capabilities(),
              userAgent: `studio-worker/${opts.version}`,
            },
            signal,
          ),
        );
        const since = new Date().toISOString();
        config = await store.update((c) => ({
          ...c,
          registrationRequestId: answer.requestId,
          registrationRequestedAt: since,
        }));
        enter(
          { state: 'pending', requestId: answer.requestId, since },
          `registration pending (request ${answer.requestId}): waiting for the operator to approve this worker`,
        );
        pollAfterMs = pollIntervalMs;
        break;
      }
      case 'pending': {
        const { requestId } = state;
        const secret = config.registrationSecret;
        if (!secret) {
          // Without the secret the request can never be polled: start over with a new one.
          config = await store.update((c) => ({ ...c, ...FORGET_REQUEST }));
          enter({ state: 'pristine' }, `registration request ${requestId} has no secret saved; asking again`);
          break;
        }
        if (pollAfterMs > 0) await sleep(pollAfterMs, signal);
        pollAfterMs = pollIntervalMs;
        const answer = await retry(`poll register request ${requestId}`, () =>
          http.getRegisterStatus(requestId, secret, signal),
        );
        if (answer.status === 'pending') {
          log.debug(`registration request ${requestId} still pending`);
        } else if (answer.status === 'unknown') {
          log.warn(
            `registration request ${requestId}: the studio answered a status this version does not know (${answer.answer}); asking again in ${Math.round(pollIntervalMs / 1000)} s`,
          );
        } else if (answer.status === 'approved') {
          config = await store.update((c) => ({
            ...c,
            ...FORGET_REQUEST,
            registrationSecret: undefined,
            registrationRejectedReason: undefined,
            workerId: answer.workerId,
            authToken: answer.authToken,
          }));
          enter(
            { state: 'approved', workerId: answer.workerId },
            `registration approved: worker ${answer.workerId}`,
          );
        } else if (answer.status === 'rejected') {
          config = await store.update((c) => ({
            ...c,
            ...FORGET_REQUEST,
            registrationSecret: undefined,
            registrationRejectedReason: answer.reason,
          }));
          enter({ state: 'rejected', reason: answer.reason }, `registration rejected: ${answer.reason}`);
        } else {
          config = await store.update((c) => ({ ...c, ...FORGET_REQUEST }));
          enter({ state: 'pristine' }, `registration request ${requestId} is gone; asking again`);
        }
        break;
      }
    }
  }
}

const FORGET_REQUEST = { registrationRequestId: undefined, registrationRequestedAt: undefined } as const;

/** Makes the install id (kept for ever) and the secret if missing, and saves them before they are used. */
async function ensureIdentity(store: RegistrationStore, config: WorkerConfig): Promise<WorkerConfig> {
  if (config.installId && config.registrationSecret) return config;
  return store.update((c) => ({
    ...c,
    installId: c.installId || randomUUID(),
    registrationSecret: c.registrationSecret || randomBytes(32).toString('hex'),
  }));
}

/** Runs a studio call until it answers, sleeping a capped backoff after each retryable failure. */
function withRetry(backoff: BackoffOptions, log: Logger, signal: AbortSignal | undefined) {
  return async <T>(operation: string, call: () => Promise<T>): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (e) {
        const err = toError(e);
        if (signal?.aborted || isAbortError(err) || !isRetryableError(err)) throw err;
        const delayMs = backoffDelay(attempt, backoff);
        log.warn(
          { attempt: attempt + 1, delayMs, err: err.message },
          `${operation} failed (attempt ${attempt + 1}), retrying in ${delayMs} ms: ${err.message}`,
        );
        await sleep(delayMs, signal);
      }
    }
  };
}
