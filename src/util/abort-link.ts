/**
 * A signal that aborts when any of `sources` does, and `unlink()` to take its listeners off them
 * once it is no longer needed. `AbortSignal.any` keeps the signal it makes (and whatever listens
 * to it) alive as long as a source lives (Node 20): with the worker's lifelong stop signal as a
 * source, every job's signal stayed in memory, with its watchdog and its result's bytes.
 */
export function linkSignals(...sources: AbortSignal[]): { signal: AbortSignal; unlink: () => void } {
  const controller = new AbortController();
  const aborted = sources.find((s) => s.aborted);
  if (aborted) {
    controller.abort(aborted.reason);
    return { signal: controller.signal, unlink: () => undefined };
  }
  const listeners = sources.map((source) => {
    const onAbort = (): void => {
      unlink();
      controller.abort(source.reason);
    };
    source.addEventListener('abort', onAbort, { once: true });
    return { source, onAbort };
  });
  const unlink = (): void => {
    for (const { source, onAbort } of listeners) source.removeEventListener('abort', onAbort);
  };
  return { signal: controller.signal, unlink };
}
