import { ExitCode, UserError } from '../util/index.js';

/** The studio refused this worker's credentials or identity: reconnecting cannot help. */
export class SessionRefusedError extends UserError {
  override readonly name = 'SessionRefusedError';
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message, ExitCode.refused);
  }
}

/** Every reconnect attempt in a row failed: exit non-zero so the service manager restarts us. */
export class SessionExhaustedError extends UserError {
  override readonly name = 'SessionExhaustedError';
  constructor(
    readonly attempts: number,
    readonly lastReason: string,
  ) {
    super(
      `lost the studio session and ${attempts} reconnect attempts in a row failed (last: ${lastReason}); exiting so the service manager can restart the worker`,
      ExitCode.disconnected,
    );
  }
}
