/** Why an update was not installed; every one is logged, none stops the worker. */
export class UpdateError extends Error {
  override readonly name: string = 'UpdateError';
}

/** The downloaded package does not hash to the release's published SHA-256: never installed. */
export class ChecksumMismatchError extends UpdateError {
  override readonly name = 'ChecksumMismatchError';
  constructor(
    readonly asset: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${asset}: SHA-256 is ${actual}, the release says ${expected}; not installing it`);
  }
}

/** The install folder cannot be written (read-only prefix, permissions): the operator must update by hand. */
export class InstallNotWritableError extends UpdateError {
  override readonly name = 'InstallNotWritableError';
  constructor(
    readonly dir: string,
    readonly version: string,
    options?: { cause?: unknown },
  ) {
    super(
      `studio-worker ${version} is available, but ${dir} cannot be written; ` +
        `update by hand with: ${manualInstallCommand(version)}`,
      options,
    );
  }
}

/** What an operator runs to install `version` themselves. */
export function manualInstallCommand(version: string): string {
  return `npm install -g studio-worker@${version}`;
}
