/** The rejection of a cancelled job: an Error named `AbortError`, carrying the signal's reason as its cause. */
export function abortError(signal?: AbortSignal): Error {
  const error = new Error('the job was aborted', { cause: signal?.reason });
  error.name = 'AbortError';
  return error;
}

/** Throws an `AbortError` when `signal` has aborted; engines call it between steps. */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortError(signal);
}
