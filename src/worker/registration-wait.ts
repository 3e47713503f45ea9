import type { Logger } from 'pino';
import type { EnsureRegisteredOptions } from '../registration/index.js';
import {
  RegistrationRejectedError,
  ensureRegistered,
  registrationState,
  resetRegistration,
} from '../registration/index.js';
import { linkSignals, sleep } from '../util/index.js';

/** How often a rejected worker looks whether `register --reset` (another process) cleared the rejection. */
const RESET_POLL_MS = 2000;

/**
 * A rejected registration waits here, as the original's daemon does, until the operator resets it:
 * from the dashboard or the local API (`request()`), or with `studio-worker register --reset`
 * (the config file no longer holds the rejection).
 */
export class RegistrationReset {
  private wake: (() => void) | undefined;
  private requested = false;

  /** Asks a waiting worker to clear the rejection and register afresh. */
  request(): void {
    this.requested = true;
    this.wake?.();
  }

  /** Resolves once a reset is asked for; rejects with an AbortError when the signal aborts. */
  async wait(opts: Pick<EnsureRegisteredOptions, 'store' | 'signal'>, pollMs = RESET_POLL_MS): Promise<void> {
    const { store, signal } = opts;
    while (!this.requested) {
      const wakeUp = new AbortController();
      this.wake = () => wakeUp.abort();
      // Linked, not AbortSignal.any: a wait can last days, a poll every 2 s.
      const link = linkSignals(wakeUp.signal, ...(signal ? [signal] : []));
      try {
        await sleep(pollMs, link.signal);
      } catch (e) {
        signal?.throwIfAborted();
        if (!wakeUp.signal.aborted) throw e;
      } finally {
        link.unlink();
        this.wake = undefined;
      }
      if (!this.requested && registrationState(await store.load()).state !== 'rejected') return;
    }
    this.requested = false;
  }
}

/**
 * `ensureRegistered`, except that a rejection does not end the worker: it is said once with the
 * ways to reset it, the worker keeps serving locally, and a reset starts a fresh request.
 */
export async function registerUntilApproved(
  opts: EnsureRegisteredOptions & { reset: RegistrationReset; resetPollMs?: number },
): Promise<{ workerId: string; authToken: string }> {
  const log: Logger = opts.log.child({ category: 'registration' });
  for (;;) {
    try {
      return await ensureRegistered(opts);
    } catch (e) {
      if (!(e instanceof RegistrationRejectedError)) throw e;
      log.warn(
        `the studio rejected this worker's registration${e.reason ? `: ${e.reason}` : ''}; the worker keeps ` +
          'serving locally until the registration is reset (the dashboard, POST /daemon/registration/reset, ' +
          'or `studio-worker register --reset`)',
      );
      await opts.reset.wait(opts, opts.resetPollMs);
      await resetRegistration(opts.store);
      log.info('registration reset: asking the studio again');
    }
  }
}
