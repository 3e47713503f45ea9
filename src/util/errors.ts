/** Turns anything thrown into an Error, so every `catch (e)` has a message and a stack to log. */
export function toError(e: unknown): Error {
  if (e instanceof Error) return e;
  if (typeof e === 'string') return new Error(e);
  try {
    return new Error(JSON.stringify(e));
  } catch {
    return new Error(String(e));
  }
}

/**
 * An error's message with its causes', joined with ": " (as the original prints anyhow's `{:#}`), for
 * errors that say little alone: fetch's "fetch failed" names no host, no DNS or TLS failure; its
 * cause does. A cause whose words the message already holds is not said twice.
 */
export function messageWithCause(e: unknown): string {
  const error = toError(e);
  let text = error.message;
  let cause = error.cause;
  for (let depth = 0; cause !== undefined && cause !== null && depth < 8; depth++) {
    const next = toError(cause);
    if (!text.includes(next.message)) text = `${text}: ${next.message}`;
    cause = next.cause;
  }
  return text;
}

/** Process exit codes of the CLI; documented in README and `--help`. */
export const ExitCode = {
  ok: 0,
  /** An unexpected internal error (a bug): reported, not the operator's fault. */
  internal: 1,
  /** Bad usage or bad input the operator can fix (a corrupt config, a wrong flag). */
  usage: 2,
  /** The studio refused this worker: registration rejected, credentials bad (401 / close 4001), 4003, 4004. */
  refused: 3,
  /** The session dropped and every reconnect attempt failed; a service manager should restart us. */
  disconnected: 4,
  /** A check failed (the demo saw a job fail or a result not decode). */
  checkFailed: 5,
  /** This machine refused: disk full, permission denied, a folder that does not exist. */
  system: 6,
  /** Another worker already runs on this config folder (`daemon.lock`). */
  locked: 7,
  /** Stopped at once by a second Ctrl+C / SIGTERM (128 + SIGINT). */
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * An error the operator caused or can fix: shown as its message (no stack) and mapped to an exit
 * code. Anything else reaching the top is an internal error.
 */
export class UserError extends Error {
  override readonly name: string = 'UserError';
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue = ExitCode.usage,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** True when `e` is the rejection of an aborted operation (our own `AbortSignal`s). */
export function isAbortError(e: unknown): boolean {
  return e instanceof Error && (e.name === 'AbortError' || (e as { code?: string }).code === 'ABORT_ERR');
}

const FS_PROBLEMS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or folder',
  ENOTDIR: 'a part of the path is not a folder',
  EISDIR: 'it is a folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  EEXIST: 'it already exists',
};

/**
 * A file-system error the operator can fix (a missing folder, a full disk, a permission), as one
 * plain line and exit code 6; undefined for anything else (which is a bug until shown otherwise).
 */
export function fsUserError(e: unknown): UserError | undefined {
  const err = e as NodeJS.ErrnoException | null;
  const problem = typeof err?.code === 'string' ? FS_PROBLEMS[err.code] : undefined;
  if (!problem) return undefined;
  const path = typeof err?.path === 'string' ? err.path : undefined;
  return new UserError(path ? `${path}: ${problem}` : `${problem} (${err?.message ?? ''})`, ExitCode.system, {
    cause: e,
  });
}
